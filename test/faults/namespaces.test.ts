import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { reportBar } from '../helpers/report.ts';
import { until } from '../helpers/until.ts';

/**
 * Several hosts on one machine: each node runs in a network namespace of its own, with its own
 * address, and the namespaces meet on a bridge in a namespace of the test's too. Nothing is
 * added to the machine's own network: every interface lives, and dies, in a namespace the test
 * made (checked). Needs root and iproute2; without them the test says so and skips.
 */
const PREFIX = `mydht${process.pid % 10_000}`;
const BRIDGE = `${PREFIX}-br`;
const HOSTS = [1, 2, 3].map((i) => ({ ns: `${PREFIX}-h${i}`, address: `10.231.${process.pid % 200}.${i}`, veth: `veth${i}` }));
const NODE = fileURLToPath(new URL('../fixtures/line-node.ts', import.meta.url));
const LIVENESS = { livenessIntervalMs: 200, livenessTimeoutMs: 1_000 };

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why namespaces cannot be made here, or undefined when they can. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    ip('netns', 'add', `${PREFIX}-probe`);
    ip('netns', 'del', `${PREFIX}-probe`);
    return undefined;
  } catch (err) {
    return `ip netns cannot be used: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`;
  }
}

function build(): void {
  ip('netns', 'add', BRIDGE);
  ip('-n', BRIDGE, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', BRIDGE, 'link', 'set', 'br0', 'up');
  for (const host of HOSTS) {
    ip('netns', 'add', host.ns);
    // Both ends are made inside the bridge's namespace, then one moves to the host's: the
    // machine's own namespace never holds either.
    ip('-n', BRIDGE, 'link', 'add', host.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.ns);
    ip('-n', BRIDGE, 'link', 'set', host.veth, 'master', 'br0');
    ip('-n', BRIDGE, 'link', 'set', host.veth, 'up');
    ip('-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
    ip('-n', host.ns, 'link', 'set', 'eth0', 'up');
    ip('-n', host.ns, 'link', 'set', 'lo', 'up');
  }
}

function teardown(): void {
  for (const ns of [...HOSTS.map((host) => host.ns), BRIDGE]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not made, or gone already
    }
  }
}

/** A node in a namespace, driven by JSON lines. */
class HostNode {
  readonly child: ChildProcess;
  readonly ready: Promise<{ id: string; addresses: string[] }>;
  #next = 1;
  readonly #waiting = new Map<number, (answer: Record<string, unknown>) => void>();

  constructor(ns: string, config: object) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, NODE, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
    let readyLine!: (value: { id: string; addresses: string[] }) => void;
    this.ready = new Promise((resolve) => (readyLine = resolve));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as Record<string, unknown>;
      if (message.ready === true) return readyLine(message as unknown as { id: string; addresses: string[] });
      this.#waiting.get(message.n as number)?.(message);
    });
  }

  ask(command: object): Promise<Record<string, unknown>> {
    const n = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(n, resolve);
      this.child.stdin!.write(`${JSON.stringify({ n, ...command })}\n`);
    });
  }

  async peers(): Promise<string[]> {
    return ((await this.ask({ op: 'peers' })).peers as { id: string }[]).map((peer) => peer.id);
  }
}

describe('three hosts in network namespaces, one cut off and brought back', function () {
  this.timeout(120_000);
  const nodes: HostNode[] = [];
  let linksBefore = '';

  before(function () {
    const why = unavailable();
    if (why !== undefined) {
      console.log(`      skipped: network namespaces are needed and ${why}`);
      this.skip();
    }
    linksBefore = ip('-o', 'link', 'show');
    teardown();
    build();
  });

  after(() => {
    for (const node of nodes) node.child.kill('SIGKILL');
    teardown();
  });

  it('they join over their own addresses; the one cut off misses what is written meanwhile, and converges once back', async () => {
    const first = new HostNode(HOSTS[0]!.ns, { listen: [`/ip4/${HOSTS[0]!.address}/tcp/4001`], ...LIVENESS });
    nodes.push(first);
    const { addresses } = await first.ready;
    // One after another: each looks itself up through the first, and so meets the ones before it.
    for (const host of HOSTS.slice(1)) {
      const node = new HostNode(host.ns, { listen: [`/ip4/${host.address}/tcp/4001`], bootstrap: addresses, ...LIVENESS });
      nodes.push(node);
      await node.ready;
    }
    const ids = await Promise.all(nodes.map(async (node) => (await node.ready).id));
    // Each reaches both others, and sees them at their namespace's address.
    await until(async () => (await Promise.all(nodes.map((node) => node.peers()))).every((peers) => peers.length === 2), 20_000).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: peers ${JSON.stringify(await Promise.all(nodes.map((node) => node.peers())))}`);
    });
    for (const node of nodes) {
      for (const peer of (await node.ask({ op: 'peers' })).peers as { address: string }[]) assert.match(peer.address, /^\/ip4\/10\.231\./);
    }

    // Cut host 3 off: its port on the bridge goes down.
    ip('-n', BRIDGE, 'link', 'set', HOSTS[2]!.veth, 'down');
    const cutAt = performance.now();
    await until(async () => !(await nodes[0]!.peers()).includes(ids[2]!) && (await nodes[2]!.peers()).length === 0, 20_000);
    const detectedMs = performance.now() - cutAt;
    const written = (await nodes[0]!.ask({ op: 'put', value: 'written while host 3 was away' })) as { key: string; stored: number };
    assert.equal(written.stored, 2, 'stored on the two hosts that can be reached');
    assert.equal((await nodes[1]!.ask({ op: 'get', key: written.key })).value, 'written while host 3 was away');
    assert.equal((await nodes[2]!.ask({ op: 'get', key: written.key })).value, null, 'the cut-off host cannot read it');

    // Back: host 3 dials its known peers again (the pool) and reads what it missed.
    ip('-n', BRIDGE, 'link', 'set', HOSTS[2]!.veth, 'up');
    const backAt = performance.now();
    await until(async () => (await nodes[2]!.peers()).length === 2, 60_000);
    const convergedMs = performance.now() - backAt;
    assert.equal((await nodes[2]!.ask({ op: 'get', key: written.key })).value, 'written while host 3 was away');
    console.log(`      cut detected in ${Math.round(detectedMs)} ms; back in touch with both ${Math.round(convergedMs)} ms after the link came up`);
    reportBar('namespaces: a cut-off host rejoins both others after the link is back, ms', Math.round(convergedMs), 60_000, 'lower');

    // Nothing of this lives in the machine's own namespace.
    const linksNow = ip('-o', 'link', 'show');
    assert.equal(linksNow.split('\n').length, linksBefore.split('\n').length, 'no interface was added to the machine');
  });
});
