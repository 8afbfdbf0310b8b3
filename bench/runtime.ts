import { createServiceSystem } from '../src/assemble.ts';
import { ACCEPTED } from '../src/runtime/mailbox.ts';
import { serviceModule } from '../src/runtime/service.ts';
import { SPAWNER_KINDS, type ServiceHandle, type SpawnerKind } from '../src/runtime/spawner.ts';
import type { ServiceSystem } from '../src/runtime/system.ts';
import { DEFAULT_QUEUE_CAPACITY } from '../src/runtime/system.ts';
import { bareBoundedFanOutFanIn, bareDaisyChain, bareFanOutFanIn } from './baselines/actor-scheduler.ts';
import type { Figure, Suite } from './figure.ts';
import type { CounterProtocol } from './fixtures/counter.ts';
import type { RelayConfig, RelayProtocol } from '../test/fixtures/relay-service.ts';
import { alternate, rate, timed } from './measure.ts';
import { COUNTER, RAW_PATHS } from './paths.ts';
import { pinnedRoundTripFigures } from './round-trips.ts';
import { POOL_MASK, standardMessages, type PutMessage } from './standard-message.ts';

const RELAY = serviceModule(import.meta.url, '../test/fixtures/relay-service.ts');

/**
 * Measured rounds of the throughput and duration figures, each a baseline run then a runtime run;
 * they report the best round of each (the one least disturbed by whatever else shares this 2-core
 * machine). Latency percentiles are taken over all samples of many small interleaved blocks.
 */
const ROUNDS = 5;

/**
 * Messages per one-way round, so that a round spans many batches and some garbage collections:
 * about 50-500 ms of runtime each on the 2-core build machine. A tenth of it warms up first.
 */
const ONE_WAY_MESSAGES: Record<SpawnerKind, number> = {
  'same-loop': 4_000_000,
  'worker-thread': 200_000,
  'child-process': 200_000,
};


/**
 * Rounds of the topology figures. A daisy-chain round is 6-13 ms, short enough that one
 * scavenge, or a deoptimisation (the bare scheduler's call site changes target when its last
 * actor first runs), moves it by a quarter: with 5 rounds the best baseline round varied from
 * 5.7 to 11.7 ms between processes. Fifteen rounds cost ~5 s and steady both sides' best.
 */
const TOPOLOGY_ROUNDS = 15;

/** The daisy-chain and fan-out sizes of limits.md: 4000 services x 200 messages. */
const TOPOLOGY = { services: 4000, messages: 200 };

/** Targets, as ratios to the baseline (the brief of this suite). */
const ONE_WAY_TARGET: Partial<Record<SpawnerKind, number>> = { 'worker-thread': 0.5, 'child-process': 0.5 };
const TOPOLOGY_TARGET = 2;

const runtime: Suite = {
  name: 'runtime',
  // The topologies run last, once the mailbox code has also served the counter's sends and calls,
  // as it serves many kinds of service in a node: measured alone they come out ~20% faster.
  async *run() {
    for (const kind of SPAWNER_KINDS) {
      yield* spawnerFigures(kind);
      yield* pinnedRoundTripFigures(kind);
    }
    yield* topologyFigures();
  },
};
export default runtime;

/** One-way throughput through one spawned counter service, beside the bare path (bench/charts.ts draws it too). */
export async function* spawnerFigures(kind: SpawnerKind): AsyncGenerator<Figure> {
  const messages = standardMessages();
  const raw = await RAW_PATHS[kind]();
  const system = createServiceSystem();
  try {
    const counter = system.spawn<CounterProtocol>({ name: `counter-${kind}`, module: COUNTER, spawner: kind });
    await counter.ready;

    const count = ONE_WAY_MESSAGES[kind];
    const warmup = Math.floor(count / 10);
    await raw.oneWay(messages, warmup);
    await sendOneWay(system, counter, messages, warmup);
    const oneWay = await alternate(
      ROUNDS,
      () => timed(() => raw.oneWay(messages, count)),
      () => timed(() => sendOneWay(system, counter, messages, count)),
    );
    const expected = warmup + ROUNDS * count;
    const counted = await counter.call({ type: 'count' });
    if (counted !== expected) throw new Error(`${kind} counter saw ${counted} puts, expected ${expected}`);
    yield {
      name: `${kind}.one-way`,
      value: rate(count, Math.min(...oneWay.subject)),
      unit: 'msgs/s',
      baseline: raw.oneWayName,
      baselineValue: rate(count, Math.min(...oneWay.baseline)),
      better: 'higher',
      ...(ONE_WAY_TARGET[kind] === undefined ? {} : { target: ONE_WAY_TARGET[kind] }),
    };

  } finally {
    await system.stop();
    await raw.close();
  }
}

/** The handle's fast idiom: only a send that had to wait is awaited. Then wait until all are handled. */
async function sendOneWay(
  system: ServiceSystem,
  handle: ServiceHandle<CounterProtocol>,
  messages: readonly PutMessage[],
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const sent = handle.send(messages[i & POOL_MASK]!);
    if (sent !== ACCEPTED) await sent;
  }
  await system.settled();
}

/** Daisy chain and fan-out / fan-in over 4000 same-loop services; spawning is not timed. */
async function* topologyFigures(): AsyncGenerator<Figure> {
  const { services, messages } = TOPOLOGY;
  const chain = await spawnRelays(services, (i) => (i + 1 < services ? { next: `relay-${i + 1}` } : {}));
  try {
    const head = chain.get<RelayProtocol>('relay-0');
    const rounds = await alternate(
      TOPOLOGY_ROUNDS,
      () => bareDaisyChain(services, messages),
      () => timed(() => sendTokens(chain, head, 'hop', messages)),
    );
    const tail = await chain.get<RelayProtocol>(`relay-${services - 1}`).call({ type: 'received' });
    if (tail !== TOPOLOGY_ROUNDS * messages) throw new Error(`daisy chain tail received ${tail}, expected ${TOPOLOGY_ROUNDS * messages}`);
    yield topologyFigure('same-loop.daisy-chain', 'bare actor scheduler, same chain', rounds);
  } finally {
    await chain.stop();
  }

  // Every queue keeps its default bound, the sink's too: 4000 senders parked on its full queue are
  // what this figure measures. Seed 000 ran this fan-out to exercise "the parking of machines
  // which became blocked on a full send queue", so its baseline is a bare scheduler that bounds
  // its mailboxes the same way and parks senders on a full one. The unbounded bare scheduler
  // parks nothing; the same rounds against it are printed beside, without a target.
  const fan = await spawnRelays(services, () => ({ next: 'sink' }));
  try {
    const sink = fan.spawn<RelayProtocol>({ name: 'sink', module: RELAY, spawner: 'same-loop' });
    const targets = Array.from({ length: services }, (_, i) => `relay-${i}`);
    const source = fan.spawn<RelayProtocol>({ name: 'source', module: RELAY, spawner: 'same-loop', config: { targets } });
    await Promise.all([source.ready, sink.ready]);
    // Each round runs the bounded bare scheduler, the unbounded one, then the runtime.
    const unbounded: number[] = [];
    const rounds = await alternate(
      TOPOLOGY_ROUNDS,
      async () => {
        const bounded = await bareBoundedFanOutFanIn(services, messages, DEFAULT_QUEUE_CAPACITY);
        unbounded.push(await bareFanOutFanIn(services, messages));
        return bounded;
      },
      () => timed(() => sendTokens(fan, source, 'broadcast', messages)),
    );
    const sunk = await sink.call({ type: 'received' });
    if (sunk !== TOPOLOGY_ROUNDS * services * messages) throw new Error(`sink received ${sunk}, expected ${TOPOLOGY_ROUNDS * services * messages}`);
    yield topologyFigure(
      'same-loop.fan-out-fan-in',
      `bare actor scheduler with mailboxes bounded at ${DEFAULT_QUEUE_CAPACITY} and parking, same fan-out`,
      rounds,
    );
    yield topologyFigure(
      'same-loop.fan-out-fan-in.unbounded-baseline',
      'bare actor scheduler without bounds (parks nothing), same fan-out',
      { baseline: unbounded, subject: rounds.subject },
      null,
    );
  } finally {
    await fan.stop();
  }

  // The same fan-out with the sink's queue as unbounded as the bare scheduler's: the difference
  // to the figure above is what parking ~600k sends on a full queue costs; this one is dispatch.
  const open = await spawnRelays(services, () => ({ next: 'sink' }));
  try {
    const sink = open.spawn<RelayProtocol>({ name: 'sink', module: RELAY, spawner: 'same-loop', queueCapacity: services * messages });
    const targets = Array.from({ length: services }, (_, i) => `relay-${i}`);
    const source = open.spawn<RelayProtocol>({ name: 'source', module: RELAY, spawner: 'same-loop', config: { targets } });
    await Promise.all([source.ready, sink.ready]);
    const rounds = await alternate(
      TOPOLOGY_ROUNDS,
      () => bareFanOutFanIn(services, messages),
      () => timed(() => sendTokens(open, source, 'broadcast', messages)),
    );
    yield topologyFigure('same-loop.fan-out-fan-in.unbounded-sink', 'bare actor scheduler, same fan-out', rounds, null);
  } finally {
    await open.stop();
  }
}

/** A system of `count` same-loop relays named relay-0.., all running. */
async function spawnRelays(count: number, config: (i: number) => RelayConfig): Promise<ServiceSystem> {
  const system = createServiceSystem();
  const relays = [];
  for (let i = 0; i < count; i++) {
    relays.push(system.spawn<RelayProtocol>({ name: `relay-${i}`, module: RELAY, spawner: 'same-loop', config: config(i) }));
  }
  await Promise.all(relays.map((relay) => relay.ready));
  return system;
}

async function sendTokens(
  system: ServiceSystem,
  into: ServiceHandle<RelayProtocol>,
  type: 'hop' | 'broadcast',
  messages: number,
): Promise<void> {
  for (let token = 0; token < messages; token++) {
    const sent = into.send({ type, token });
    if (sent !== ACCEPTED) await sent;
  }
  await system.settled();
}

function topologyFigure(
  name: string,
  baseline: string,
  rounds: { baseline: number[]; subject: number[] },
  target: number | null = TOPOLOGY_TARGET,
): Figure {
  return {
    name,
    value: Math.min(...rounds.subject),
    unit: 'ms',
    baseline,
    baselineValue: Math.min(...rounds.baseline),
    better: 'lower',
    ...(target === null ? {} : { target }),
  };
}
