import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// The built executable, as `npx mydht` runs it after `npm install` (npm test builds first).
const BIN = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url));

function mydht(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000, env: { ...process.env, MYDHT_API_URL: '' } }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

interface Running {
  child: ChildProcess;
  dataDir: string;
  ready: { event: string; id: string; addresses: string[]; api: string };
}

/** `mydht start --json` on loopback with ephemeral ports; resolves on its ready line. */
async function start(dataDir: string, ...args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [BIN, 'start', '--json', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'warn', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(([code]) => Promise.reject(new Error(`mydht start exited with ${code}`)))])) as [string];
  return { child, dataDir, ready: JSON.parse(line) as Running['ready'] };
}

async function stop(node: Running): Promise<number | null> {
  if (node.child.exitCode !== null) return node.child.exitCode;
  const exited = once(node.child, 'exit');
  node.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

describe('mydht start, and the commands against a running node', function () {
  this.timeout(120_000);
  const running: Running[] = [];
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mydht-cli-'));
    running.push(await start(join(root, 'a'), '--api', '127.0.0.1:0'));
    const bootstrap = running[0]!.ready.addresses[0]!;
    for (const name of ['b', 'c']) running.push(await start(join(root, name), '--api', '127.0.0.1:0', '--bootstrap', bootstrap));
  });

  after(async () => {
    for (const node of running) await stop(node);
    await rm(root, { recursive: true, force: true });
  });

  it('prints one ready line: id, addresses and the API', () => {
    for (const { ready } of running) {
      assert.equal(ready.event, 'ready');
      assert.match(ready.id, /^[0-9a-f]{64}$/);
      assert.match(ready.addresses[0]!, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/);
      assert.match(ready.api, /^http:\/\/127\.0\.0\.1:\d+$/);
    }
  });

  it('put through one node, get through another; a missing name exits 1', async () => {
    const [a, , c] = running as [Running, Running, Running];
    const put = await mydht('put', 'greeting', 'hello, dht', '--api', a.ready.api, '--json');
    assert.equal(put.code, 0, put.stderr);
    assert.equal((JSON.parse(put.stdout) as { stored: number }).stored, 3);
    const got = await mydht('get', 'greeting', '--api', c.ready.api);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, 'hello, dht');
    const asJson = await mydht('get', 'greeting', '--api', c.ready.api, '--json');
    assert.deepEqual(JSON.parse(asJson.stdout), { name: 'greeting', found: true, value: 'hello, dht' });
    // Bytes that are not UTF-8 (put through the API) come back whole, in base64.
    const binary = Uint8Array.from([0xff, 0x00, 0x80, 0x0a]);
    assert.equal((await fetch(`${a.ready.api}/v1/records/binary`, { method: 'PUT', body: binary })).status, 200);
    const gotBinary = await mydht('get', 'binary', '--api', c.ready.api, '--json');
    assert.deepEqual(JSON.parse(gotBinary.stdout), { name: 'binary', found: true, valueBase64: Buffer.from(binary).toString('base64') });
    const missing = await mydht('get', 'nobody-put-this', '--api', c.ready.api);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/);
  });

  it('listen prints each new value as it arrives, through another node than the writer', async () => {
    const [a, b] = running as [Running, Running];
    const listener = spawn(process.execPath, [BIN, 'listen', 'news', '--api', b.ready.api, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      // Registered once it says so on stderr: every value put after that reaches it.
      await once(createInterface({ input: listener.stderr! }), 'line');
      const lines = createInterface({ input: listener.stdout! });
      const received: string[] = [];
      const three = new Promise<void>((resolve) => lines.on('line', (line) => received.push(line) === 3 && resolve()));
      assert.equal((await mydht('put', 'news', 'first', '--api', a.ready.api)).code, 0);
      assert.equal((await mydht('put', 'news', 'second', '--api', a.ready.api)).code, 0);
      assert.equal((await fetch(`${a.ready.api}/v1/records/news`, { method: 'PUT', body: Uint8Array.from([0xc3, 0x28]) })).status, 200);
      await three;
      const events = received.map((line) => JSON.parse(line) as { event: string; name: string; value: string });
      assert.equal(events[0]!.event, 'record');
      assert.deepEqual(events[0], { event: 'record', name: 'news', value: 'first' });
      assert.deepEqual(events[1], { event: 'record', name: 'news', value: 'second' });
      assert.deepEqual(events[2], { event: 'record', name: 'news', valueBase64: 'wyg=' }, 'not UTF-8: whole, in base64');
    } finally {
      listener.kill('SIGINT');
    }
  });

  it('put --file stores every line', async () => {
    const [a, b] = running as [Running, Running];
    const file = join(root, 'records.tsv');
    await writeFile(file, Array.from({ length: 20 }, (_, i) => `name-${i}\tvalue ${i}`).join('\n'));
    const put = await mydht('put', '--file', file, '--api', a.ready.api, '--json');
    assert.equal(put.code, 0, put.stderr);
    assert.deepEqual(JSON.parse(put.stdout), { records: 20, stored: 20, failed: 0 });
    assert.equal((await mydht('get', 'name-13', '--api', b.ready.api)).stdout, 'value 13');
  });

  it('names no URL path can carry are refused with exit 2; put --file numbers lines as the file does and drops CRLF', async () => {
    const [a, b] = running as [Running, Running];
    for (const args of [['put', '', 'v'], ['put', '..', 'v'], ['get', '.'], ['listen', '..']]) {
      const result = await mydht(...args, '--api', a.ready.api);
      assert.equal(result.code, 2, args.join(' '));
      assert.match(result.stderr, /ERR_BAD_REQUEST/);
    }
    const crlf = join(root, 'crlf.tsv');
    await writeFile(crlf, 'crlf-1\tone\r\n\r\ncrlf-2\ttwo\r\n');
    assert.equal((await mydht('put', '--file', crlf, '--api', a.ready.api)).code, 0);
    assert.equal((await mydht('get', 'crlf-1', '--api', b.ready.api)).stdout, 'one');
    const gappy = join(root, 'gappy.tsv');
    await writeFile(gappy, 'fine\tvalue\n\n\nno tab here\n');
    const bad = await mydht('put', '--file', gappy, '--api', a.ready.api);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /line 4: has no tab/);
  });

  it('status and peers --json describe the node', async () => {
    const [, b] = running as [Running, Running];
    const status = JSON.parse((await mydht('status', '--api', b.ready.api, '--json')).stdout) as {
      id: string;
      addresses: string[];
      uptimeMs: number;
      routingTable: number;
      services: { name: string; spawner: string; queued: number; restarts: number }[];
      store: { records: number };
    };
    assert.equal(status.id, b.ready.id);
    assert.deepEqual(status.addresses, b.ready.addresses);
    assert.ok(status.uptimeMs > 0);
    assert.equal(status.routingTable, 2);
    assert.deepEqual(status.services.map((service) => service.name).sort(), ['api', 'events', 'global', 'listen', 'main-loop', 'peer-store', 'read', 'write']);
    assert.ok(status.store.records >= 1);
    const peers = JSON.parse((await mydht('peers', '--api', b.ready.api, '--json')).stdout) as { connected: { id: string }[] };
    assert.deepEqual(peers.connected.map((peer) => peer.id).sort(), [running[0]!.ready.id, running[2]!.ready.id].sort());
  });

  it('/metrics serves the mydht_ series in the Prometheus text format', async () => {
    const [a] = running as [Running];
    const response = await fetch(`${a.ready.api}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
    const text = await response.text();
    const value = (series: string): number => {
      const line = text.split('\n').find((candidate) => candidate.startsWith(series));
      assert.ok(line !== undefined, `${series} is present`);
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    assert.ok(value('mydht_messages_total{direction="in",type="seek"}') > 0);
    assert.ok(value('mydht_messages_total{direction="out",type="reply"}') > 0);
    assert.equal(value('mydht_handshakes_total{result="ok",reason=""}'), 2);
    assert.ok(value('mydht_lookups_total{mode="iterative",want="nodes",result="ok"}') >= 1, 'the puts looked up their keys');
    assert.ok(value('mydht_lookup_duration_seconds_count{mode="iterative"}') >= 1);
    assert.ok(value('mydht_lookup_hops_count') >= 1);
    assert.equal(value('mydht_routing_table_size'), 2);
    assert.equal(value('mydht_service_queue_depth{service="global",spawner="same-loop"}'), 0);
    assert.equal(value('mydht_service_restarts_total{service="global"}'), 0);
    assert.ok(value('mydht_store_bytes') > 0);
    assert.ok(value('mydht_store_records') >= 21);
    assert.ok(value('process_cpu_user_seconds_total') > 0, 'the process defaults');
  });

  it('SIGTERM stops a node with exit 0, and on restart its store still holds what it had', async () => {
    const b = running[1]!;
    const before = JSON.parse((await mydht('status', '--api', b.ready.api, '--json')).stdout) as { store: { records: number } };
    assert.ok(before.store.records >= 21, 'the greeting, the file, the news');
    assert.equal(await stop(b), 0);
    const again = await start(b.dataDir, '--api', '127.0.0.1:0', '--bootstrap', running[0]!.ready.addresses[0]!);
    running[1] = again;
    assert.equal(again.ready.id, b.ready.id, 'the same key, from the data dir');
    const status = JSON.parse((await mydht('status', '--api', again.ready.api, '--json')).stdout) as { store: { records: number } };
    assert.equal(status.store.records, before.store.records, 'every record it held');
  });

  it('an unreachable API exits 3', async () => {
    const result = await mydht('status', '--api', 'http://127.0.0.1:9');
    assert.equal(result.code, 3);
    assert.match(result.stderr, /^cannot reach the node's API at http:\/\/127\.0\.0\.1:9: .+ \(ERR_API_UNREACHABLE\)$/m);
  });
});

describe('mydht start: configuration errors and the API token', function () {
  this.timeout(60_000);
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mydht-cli-config-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('a bad config file or flag exits 2, naming the field, the value and what was expected', async () => {
    const file = join(root, 'bad.json');
    await writeFile(file, JSON.stringify({ listen: 'not a list', replication: 0, surprise: true }));
    const bad = await mydht('start', '--config', file, '--data-dir', join(root, 'x'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /listen: .*expected array.*got "not a list"/);
    assert.match(bad.stderr, /replication: .*>=1, got 0/);
    assert.match(bad.stderr, /Unrecognized key: "surprise"/);
    assert.doesNotMatch(bad.stderr, /\n\s+at /, 'no stack trace');
    const notJson = join(root, 'not.json');
    await writeFile(notJson, '{ nope');
    assert.equal((await mydht('start', '--config', notJson)).code, 2);
    const flag = await mydht('start', '--data-dir', join(root, 'y'), '--api', 'no-port');
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /api: expected host:port, or \[ipv6\]:port, got "no-port"/);
    for (const api of ['::1:5001', '[::1:5001', '[no]:5001']) {
      const v6 = await mydht('start', '--data-dir', join(root, 'y'), '--api', api);
      assert.equal(v6.code, 2, api);
      assert.match(v6.stderr, /api: expected host:port, or \[ipv6\]:port/, api);
    }
    const bootstrap = await mydht('start', '--data-dir', join(root, 'y'), '--api', '127.0.0.1:0', '--bootstrap', 'garbage', '/ip4/127.0.0.1/tcp/99999');
    assert.equal(bootstrap.code, 2);
    assert.match(bootstrap.stderr, /bootstrap\.0: not a multiaddr.*got "garbage"/);
    assert.match(bootstrap.stderr, /bootstrap\.1: not a multiaddr \(.*65535\)/);
    assert.match(bootstrap.stderr, /\(ERR_CONFIG\)$/m, 'the stable code ends the message');
    // Well formed, but no transport of the node takes it: an option to fix, not a peer down.
    const unhandled = await mydht('start', '--data-dir', join(root, 'y'), '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--bootstrap', '/dns4/example.invalid/tcp/4001');
    assert.equal(unhandled.code, 2);
    assert.match(unhandled.stderr, /bootstrap: no transport of this node handles "\/dns4\/example.invalid\/tcp\/4001" \(transports: tcp\)/);
    await assert.rejects(readFile(join(root, 'y', 'lock')), { code: 'ENOENT' }, 'no lock left behind');
    const loss = await mydht('testnet', '--nodes', '3', '--records', '1', '--loss', '0.1');
    assert.equal(loss.code, 2);
    assert.match(loss.stderr, /^mydht: --loss drops datagrams of the udp transport.* \(ERR_USAGE\)$/m);
  });

  it('a node that cannot start says why in one line with exit 4; a bad listen address exits 2', async () => {
    const node = await start(join(root, 'held'), '--api', '127.0.0.1:0');
    try {
      const twice = await mydht('start', '--data-dir', join(root, 'held'), '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0');
      assert.equal(twice.code, 4);
      assert.match(twice.stderr, new RegExp(`in use by process ${node.child.pid}.*ERR_DATA_DIR_LOCKED`));
      const portTaken = await mydht('start', '--data-dir', join(root, 'other'), '--listen', node.ready.addresses[0]!, '--api', '127.0.0.1:0');
      assert.equal(portTaken.code, 4);
      assert.match(portTaken.stderr, /cannot start: .*EADDRINUSE/);
      for (const result of [twice, portTaken]) assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      await stop(node);
    }
    const badAddress = await mydht('start', '--data-dir', join(root, 'other'), '--listen', '/ip4/127.0.0.1/tcp/99999', '--api', '127.0.0.1:0');
    assert.equal(badAddress.code, 2);
    assert.match(badAddress.stderr, /listen\.0: not a multiaddr \(.*65535\), got "\/ip4\/127.0.0.1\/tcp\/99999"/);
    const file = join(root, 'a-file');
    await writeFile(file, '');
    const notADir = await mydht('start', '--data-dir', file, '--api', '127.0.0.1:0');
    assert.equal(notADir.code, 4);
    assert.match(notADir.stderr, /cannot start: .*EEXIST/);
    await writeFile(join(root, 'other', 'node.key'), 'garbage');
    const badKey = await mydht('start', '--data-dir', join(root, 'other'), '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0');
    assert.equal(badKey.code, 4);
    assert.match(badKey.stderr, /ERR_KEY_INVALID/);
  });

  it('listen says so and exits 3 when its node stops', async () => {
    const node = await start(join(root, 'listened'), '--api', '127.0.0.1:0');
    const listener = spawn(process.execPath, [BIN, 'listen', 'news', '--api', node.ready.api], { stdio: ['ignore', 'ignore', 'pipe'] });
    const lines = createInterface({ input: listener.stderr! });
    const said: string[] = [];
    lines.on('line', (line) => said.push(line));
    await once(lines, 'line');
    const exited = once(listener, 'exit');
    assert.equal(await stop(node), 0);
    const [code] = (await exited) as [number];
    assert.equal(code, 3);
    assert.match(said.join('\n'), /listen news: the (node ended the stream|connection to the node broke)/);
    assert.doesNotMatch(said.join('\n'), /\n\s+at /, 'no stack trace');
  });

  it('the data dir lock goes with a graceful stop, and one left by a killed node is taken over', async () => {
    const dataDir = join(root, 'relock');
    const first = await start(dataDir, '--api', '127.0.0.1:0');
    assert.equal(await stop(first), 0);
    await assert.rejects(readFile(join(dataDir, 'lock')), { code: 'ENOENT' });
    const killed = await start(dataDir, '--api', '127.0.0.1:0');
    const exited = once(killed.child, 'exit');
    killed.child.kill('SIGKILL');
    await exited;
    assert.equal((await readFile(join(dataDir, 'lock'), 'utf8')).trim(), String(killed.child.pid), 'left behind');
    const again = await start(dataDir, '--api', '127.0.0.1:0');
    assert.equal(again.ready.id, first.ready.id);
    assert.equal(await stop(again), 0);
  });

  it('a damaged record store is refused with exit 4 and ERR_STORE_CORRUPT, left as it was', async () => {
    const dataDir = join(root, 'damaged');
    const node = await start(dataDir, '--api', '127.0.0.1:0');
    assert.equal((await mydht('put', 'kept', 'value', '--api', node.ready.api)).code, 0);
    assert.equal(await stop(node), 0);
    // Cut short, as a full disk or an interrupted copy leaves it: LMDB alone would crash on it.
    const file = join(dataDir, 'records', 'data.mdb');
    const damaged = (await readFile(file)).subarray(0, 4096);
    await writeFile(file, damaged);
    const refused = await mydht('start', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0');
    assert.equal(refused.code, 4, refused.stderr);
    assert.match(refused.stderr, /cannot start: .*records.* is damaged.*ERR_STORE_CORRUPT/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await readFile(file), damaged, 'left as it was');
    await assert.rejects(readFile(join(dataDir, 'lock')), { code: 'ENOENT' }, 'the lock goes with the failed start');
  });

  it('an API on IPv6 loopback, given in brackets, serves without a token', async () => {
    const node = await start(join(root, 'v6'), '--api', '[::1]:0');
    try {
      assert.match(node.ready.api, /^http:\/\/\[::1\]:\d+$/);
      const status = await mydht('status', '--api', node.ready.api, '--json');
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { id: string }).id, node.ready.id);
    } finally {
      await stop(node);
    }
  });

  it('an API bound beyond loopback answers 401 without its bearer token, and serves with it', async () => {
    const node = await start(join(root, 'public'), '--api', '0.0.0.0:0');
    try {
      const api = node.ready.api.replace('0.0.0.0', '127.0.0.1');
      const refused = await fetch(`${api}/v1/status`);
      assert.equal(refused.status, 401);
      const cli = await mydht('status', '--api', api);
      assert.equal(cli.code, 2);
      assert.match(cli.stderr, /bearer token/);
      const token = (await readFile(join(root, 'public', 'api-token'), 'utf8')).trim();
      assert.equal((await mydht('status', '--api', api, '--token', token, '--json')).code, 0);
    } finally {
      await stop(node);
    }
  });
});
