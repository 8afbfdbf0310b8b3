import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { createNode } from '../../src/assemble.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { until } from '../helpers/until.ts';
import { reportBar } from '../helpers/report.ts';

/** Frames thrown at a live node; `npm run fuzz` raises it to 10^6. */
const FRAMES = Number(process.env.FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
/** One frame per connection: a bad frame ends its connection, so a second on it would never be read. */
const PER_CONNECTION = 1;

/** Length-prefixed frames with garbage bodies, lying prefixes, and bare garbage, as a hostile peer sends them. */
const frames = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 300 }).map((body) => {
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length);
    frame.set(body, 4);
    return frame;
  }),
  fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 64 })).map(([length, body]) => {
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, length);
    frame.set(body, 4);
    return frame;
  }),
  fc.uint8Array({ minLength: 1, maxLength: 200 }),
);

function port(node: MyDhtNode): number {
  return Number(/\/tcp\/(\d+)/.exec(node.addresses[0]!)![1]);
}

// security.md: fuzzed frames against a live node; it keeps answering honest peers.
describe(`${FRAMES.toLocaleString('en')} fuzzed frames against a live node (fast-check seed ${SEED})`, function () {
  this.timeout(FRAMES * 5 + 60_000);

  it('every bad connection is dropped and counted; the node keeps answering an honest peer', async () => {
    const victim = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
    const honest = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
    await victim.start();
    await honest.start();
    try {
      await honest.dial(victim.addresses[0]!);
      const samples = fc.sample(frames, { numRuns: FRAMES, seed: SEED });
      let closed = 0;
      let opened = 0;
      for (let at = 0; at < samples.length; at += PER_CONNECTION) {
        const socket: Socket = connect({ host: '127.0.0.1', port: port(victim) });
        opened++;
        socket.on('error', () => {});
        socket.on('close', () => closed++);
        socket.end(Buffer.concat(samples.slice(at, at + PER_CONNECTION)));
        // A few connections at a time: the flood is the next test's business.
        if (opened - closed >= 32) await until(() => opened - closed < 32, 30_000);
        if (opened % 500 === 0) {
          const { results } = await honest.query({ peers: [victim.id], command: { type: 'stats' }, expect: 1, timeoutMs: 5_000 });
          assert.equal(results[0]?.ok, true, 'the honest peer is answered throughout');
        }
      }
      await until(() => closed === opened, 30_000);
      const status = await victim.connectionStatus();
      console.log(`      ${opened} connections, ${FRAMES} frames; dropped by code: ${JSON.stringify(status.dropped)}; sessions ${status.sessions}`);
      reportBar(`fuzzed frames against a live node: sessions other than the honest one after ${FRAMES} frames`, status.sessions - 1, 0, 'lower');
      assert.equal(status.sessions, 1, 'only the honest session');
      assert.equal(status.unauthenticated, 0);
      const { results } = await honest.query({ peers: [victim.id], command: { type: 'stats' }, expect: 1, timeoutMs: 5_000 });
      assert.equal(results[0]?.ok, true);
    } finally {
      await Promise.all([victim.stop(), honest.stop()]);
    }
  });
});
