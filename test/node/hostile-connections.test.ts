import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createNode } from '../../src/assemble.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { until } from '../helpers/until.ts';
import { reportBar } from '../helpers/report.ts';

/** The timings of the bar in security.md, scaled down: 10 s timeout and a byte every 5 s become 1.5 s and 0.5 s. */
const TIMEOUT_MS = 1_500;
const BYTE_EVERY_MS = 500;
const CAP = 200;
const SLOW = 300;

function port(node: MyDhtNode): number {
  return Number(/\/tcp\/(\d+)/.exec(node.addresses[0]!)![1]);
}

// security.md: connections sending a byte every 5 s are all closed by the handshake timeout + 1 s,
// and pending connections never pass the cap.
describe(`slow handshakes: ${SLOW} connections sending a byte every ${BYTE_EVERY_MS} ms, cap ${CAP}`, function () {
  this.timeout(30_000);
  let node: MyDhtNode;

  before(async () => {
    node = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], handshakeTimeoutMs: TIMEOUT_MS, maxPendingConnections: CAP });
    await node.start();
  });

  after(async () => {
    await node?.stop();
  });

  it('past the cap they are refused at once; the rest are closed by the timeout + 1 s; an honest peer then connects', async () => {
    const sockets: { socket: Socket; opened: number; closedAfter?: number }[] = [];
    let highest = 0;
    for (let i = 0; i < SLOW; i++) {
      const socket = connect({ host: '127.0.0.1', port: port(node) });
      const entry: { socket: Socket; opened: number; closedAfter?: number } = { socket, opened: performance.now() };
      socket.on('error', () => {});
      socket.on('close', () => (entry.closedAfter = performance.now() - entry.opened));
      sockets.push(entry);
    }
    // The slow talkers: one byte each, every interval, until the node hangs up. The interval is the
    // attack itself, not a wait for a result.
    const drip = setInterval(() => {
      for (const { socket } of sockets) if (!socket.destroyed) socket.write(Buffer.from([0]));
      void node.connectionStatus().then((status) => (highest = Math.max(highest, status.unauthenticated)));
    }, BYTE_EVERY_MS);
    try {
      await until(() => sockets.every((entry) => entry.closedAfter !== undefined), 10_000);
    } finally {
      clearInterval(drip);
    }
    const status = await node.connectionStatus();
    const refused = status.dropped.ERR_TOO_MANY_PENDING ?? 0;
    const timedOut = sockets.filter((entry) => entry.closedAfter! >= TIMEOUT_MS - 50).length;
    const latest = Math.max(...sockets.map((entry) => entry.closedAfter!));
    console.log(`      ${refused} refused at the cap, ${timedOut} closed by the timeout, the last after ${Math.round(latest)} ms; at most ${highest} pending`);
    reportBar('slow handshakes: connections pending at most (cap)', highest, CAP, 'lower');
    reportBar('slow handshakes: last slow connection closed after, ms (timeout + 1 s)', Math.round(latest), TIMEOUT_MS + 1_000, 'lower');
    assert.equal(refused, SLOW - CAP);
    assert.ok(highest <= CAP, `pending stayed within the cap (${highest})`);
    assert.ok(latest <= TIMEOUT_MS + 1_000, 'every one closed by the timeout + 1 s');
    assert.equal(status.unauthenticated, 0);

    const honest = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
    await honest.start();
    try {
      assert.equal(await honest.dial(node.addresses[0]!), node.id);
    } finally {
      await honest.stop();
    }
  });
});

// security.md: 1,000 connections from one address: excess refused, RSS grows < 64 MiB, honest
// peers' queries >= 99% successful meanwhile.
describe('a connection flood: 1,000 connections from one address', function () {
  this.timeout(30_000);

  it('past 8 from the address the excess is refused; memory stays flat; the honest peer goes on', async () => {
    // Loopback is not exempt here, so that 127.0.0.1 counts as one address.
    const victim = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], exemptPrivateAddresses: false, handshakeTimeoutMs: 2_000 });
    const honest = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
    await victim.start();
    await honest.start();
    const sockets: Socket[] = [];
    try {
      await honest.dial(victim.addresses[0]!);
      globalThis.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let closed = 0;
      for (let i = 0; i < 1_000; i++) {
        const socket = connect({ host: '127.0.0.1', port: port(victim) });
        socket.on('error', () => {});
        socket.on('close', () => closed++);
        sockets.push(socket);
      }
      const queries = await Promise.all(
        Array.from({ length: 100 }, () => honest.query({ peers: [victim.id], command: { type: 'stats' }, expect: 1, timeoutMs: 5_000 })),
      );
      const answered = queries.filter((query) => query.results[0]?.ok === true).length;
      await until(async () => ((await victim.connectionStatus()).dropped.ERR_TOO_MANY_FROM_ADDRESS ?? 0) + 7 >= 1_000, 10_000);
      await until(() => closed >= 993, 10_000);
      const grew = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
      const refused = (await victim.connectionStatus()).dropped.ERR_TOO_MANY_FROM_ADDRESS ?? 0;
      console.log(`      ${refused} of 1,000 refused (8 from the address, the honest peer's among them); RSS grew ${grew.toFixed(1)} MiB; honest queries ${answered}/100`);
      reportBar('connection flood (1,000 from one address): excess refused', refused, 993);
      reportBar('connection flood: RSS growth, MiB', Math.round(grew * 10) / 10, 64, 'lower');
      reportBar('connection flood: honest queries successful, %', answered, 99);
      assert.equal(refused, 993);
      assert.ok(grew < 64, `RSS grew ${grew.toFixed(1)} MiB`);
      assert.ok(answered >= 99);
    } finally {
      for (const socket of sockets) socket.destroy();
      await Promise.all([victim.stop(), honest.stop()]);
    }
  });
});
