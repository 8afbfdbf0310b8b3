import { createNode } from '../src/assemble.ts';
import type { MyDhtNode, NodeServiceName } from '../src/node/node.ts';
import type { NodeProtocols } from '../src/node/protocols.ts';
import { ACCEPTED } from '../src/runtime/mailbox.ts';
import { serviceModule } from '../src/runtime/service.ts';
import type { SpawnerKind } from '../src/runtime/spawner.ts';
import { openRawTcp } from './baselines/raw-tcp.ts';
import type { Figure, Suite } from './figure.ts';
import { interleavedRoundTrips, percentile, rate, timed } from './measure.ts';

const TOUCH = serviceModule(import.meta.url, '../test/fixtures/touch-service.ts');
/** Handshakes per round: each is a TCP connect, ping-pong-pong, and the duplicate session closed. */
const HANDSHAKES = 300;
const ROUNDS = 3;
const ONE_WAY = 20_000;

/** Where read and write run: on the main loop with the sockets, or in worker threads. */
const PLACEMENTS: { name: string; spawners: Partial<Record<NodeServiceName, SpawnerKind>> }[] = [
  { name: 'rw-same-loop', spawners: {} },
  { name: 'rw-worker-thread', spawners: { read: 'worker-thread', write: 'worker-thread' } },
];

async function pair(spawners: Partial<Record<NodeServiceName, SpawnerKind>>): Promise<[MyDhtNode, MyDhtNode]> {
  const make = async (name: string) => {
    // The path's capacity, not a peer's allowance: the per-peer rate limit is off here.
    const node = await createNode({ global: TOUCH, globalConfig: { name }, listen: ['/ip4/127.0.0.1/tcp/0'], spawners, peerRateLimit: { perSecond: Infinity, burst: Infinity } });
    await node.start();
    return node;
  };
  const a = await make('a');
  const b = await make('b');
  await a.dial(b.addresses[0]!);
  return [a, b];
}

const node: Suite = {
  name: 'node',
  async *run() {
    const raw = await openRawTcp();
    try {
      for (const placement of PLACEMENTS) {
        const [a, b] = await pair(placement.spawners);
        try {
          yield* figures(placement.name, a, b, raw);
        } finally {
          await Promise.all([a.stop(), b.stop()]);
        }
      }
    } finally {
      await raw.close();
    }
  },
};
export default node;

async function* figures(
  placement: string,
  a: MyDhtNode,
  b: MyDhtNode,
  raw: Awaited<ReturnType<typeof openRawTcp>>,
): AsyncGenerator<Figure> {
  // Handshakes per second: dial, authenticate both ways, open the session. Best of ROUNDS.
  const handshake: number[] = [];
  const connect: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    connect.push(await timed(async () => {
      for (let i = 0; i < HANDSHAKES; i++) await raw.connectExchangeClose();
    }));
    handshake.push(await timed(async () => {
      for (let i = 0; i < HANDSHAKES; i++) await a.dial(b.addresses[0]!);
    }));
  }
  yield {
    name: `${placement}.handshakes`,
    value: rate(HANDSHAKES, Math.min(...handshake)),
    unit: 'msgs/s',
    baseline: 'raw TCP: connect, one small frame each way, close',
    baselineValue: rate(HANDSHAKES, Math.min(...connect)),
    better: 'higher',
  };

  // A request over the session and its reply: a query to B's global service, expecting 1 reply.
  const request = { peers: [b.id], command: { type: 'touch' }, expect: 1, timeoutMs: 5_000 };
  const trips = await interleavedRoundTrips(
    () => raw.roundTrip(),
    () => a.query(request),
    { warmup: 500, blocks: 40, perBlock: 50 },
  );
  for (const p of [50, 99]) {
    yield {
      name: `${placement}.request-round-trip-p${p}`,
      value: percentile(trips.subject, p),
      unit: 'us',
      baseline: 'raw TCP: one 100-byte frame there and back',
      baselineValue: percentile(trips.baseline, p),
      better: 'lower',
    };
  }

  // One-way session messages (global commands without a reply); the closing query is answered
  // only after B's global service handled every one before it (one session, FIFO all the way).
  const write = a.system.get<NodeProtocols['write']>('write');
  const message = { type: 'global', command: { type: 'touch' } } as const;
  const sendAll = async (): Promise<void> => {
    for (let i = 0; i < ONE_WAY; i++) {
      const sent = write.send({ type: 'send', peer: b.id, message });
      if (sent !== ACCEPTED) await sent;
    }
    const { complete } = await a.query({ ...request, timeoutMs: 60_000 });
    if (!complete) throw new Error('the closing query was not answered');
  };
  const oneWay: number[] = [];
  const rawOneWay: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rawOneWay.push(await timed(() => raw.oneWay(ONE_WAY)));
    oneWay.push(await timed(sendAll));
  }
  yield {
    name: `${placement}.session-one-way`,
    value: rate(ONE_WAY, Math.min(...oneWay)),
    unit: 'msgs/s',
    baseline: 'raw TCP: 150-byte frames, 256 per corked burst',
    baselineValue: rate(ONE_WAY, Math.min(...rawOneWay)),
    better: 'higher',
  };
}
