import { immutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import type { NodeConfig } from '../../src/assemble.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { createHash } from 'node:crypto';
import { serviceModule } from '../../src/runtime/service.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import { attack, grind } from './attacker.ts';
import type { NodeIdentity } from '../../src/node/identity.ts';
import { memoryAddress, Simulation, type SimulationOptions } from './simulation.ts';
import type { VirtualClock } from './virtual-clock.ts';

/** One measured figure and the bar it must clear (`higher`: at least the bar; `lower`: at most). */
export interface Bar {
  name: string;
  value: number;
  bar: number;
  better: 'higher' | 'lower';
  pass: boolean;
}

export interface ScenarioResult {
  scenario: string;
  seed: number;
  nodes: number;
  /** The event log's hash: the same seed must give the same one. */
  hash: string;
  virtualMs: number;
  realMs: number;
  events: number;
  bars: Bar[];
  /** Figures printed beside the bars, for the record. */
  notes: Record<string, number>;
}

export interface ScenarioOptions {
  seed: number;
  /** Network size; each scenario has its default. */
  nodes?: number;
  /** Keys put; each scenario has its default. */
  keys?: number;
  /** Kademlia's k for every node (default 20). */
  replication?: number;
  /** Share of writes that reset their connection, from the seed (default 0). */
  loss?: number;
}

const MINUTE = 60_000;

/**
 * Node options for simulated hours. Intervals are the same order as a real node's, stretched
 * where a real node's would only cost CPU time here: liveness pings every 30 s (5 s by default)
 * find a dead peer in 90 s, and sessions idle for 2 minutes close (5 by default); buckets,
 * republishing and holders' refresh run every 10 minutes (Kademlia's hour, shortened so that a
 * simulated two hours hold twelve rounds of each).
 */
const SIM_NODE = {
  livenessIntervalMs: 30_000,
  livenessTimeoutMs: 90_000,
  idleTimeoutMs: 2 * 60_000,
  refreshIntervalMs: 10 * MINUTE,
  republishIntervalMs: 10 * MINUTE,
  recordRefreshIntervalMs: 10 * MINUTE,
};

/** A line on stderr while a long scenario runs (stdout is the result's). */
function progress(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

export function bar(name: string, value: number, threshold: number, better: 'higher' | 'lower' = 'higher'): Bar {
  return { name, value, bar: threshold, better, pass: better === 'higher' ? value >= threshold : value <= threshold };
}

/** Put `count` records, each from a random live node. */
async function putKeys(sim: Simulation, count: number, from: () => MyDhtNode = () => sim.pick()): Promise<DhtRecord[]> {
  const records: DhtRecord[] = [];
  for (let i = 0; i < count; i++) {
    const record = immutableRecord(new TextEncoder().encode(`sim ${i} ${sim.random.next()}`));
    records.push(record);
    await sim.clock.settle(from().put(record));
  }
  return records;
}

/** The share of `records` a random live node gets back intact, each from its own random node. */
async function retrievable(sim: Simulation, records: readonly DhtRecord[], from?: () => MyDhtNode): Promise<number> {
  let found = 0;
  for (const record of records) {
    const node = from?.() ?? sim.pick();
    const got = await sim.clock.settle(node.get(record.key).catch(() => null));
    if (got !== null && Buffer.from(got.value).equals(Buffer.from(record.value))) found++;
  }
  return records.length === 0 ? 1 : found / records.length;
}

async function run(
  clock: VirtualClock,
  scenario: string,
  options: ScenarioOptions,
  nodes: number,
  body: (sim: Simulation) => Promise<{ bars: Bar[]; notes?: Record<string, number> }>,
  node: Partial<SimulationOptions['node']> = {},
  simulation: Pick<SimulationOptions, 'configure'> = {},
): Promise<ScenarioResult> {
  const realStart = process.hrtime.bigint();
  const virtualStart = clock.now;
  const replication = options.replication === undefined ? {} : { replication: options.replication };
  const sim = new Simulation(clock, {
    ...simulation,
    seed: options.seed,
    latencyMs: { min: 5, max: 50 },
    ...(options.loss === undefined ? {} : { resetRate: options.loss }),
    node: { ...SIM_NODE, ...replication, ...node },
  });
  const { bars, notes } = await body(sim);
  const events = sim.events;
  await sim.stop();
  return {
    scenario,
    seed: options.seed,
    nodes,
    hash: sim.hash(),
    virtualMs: Math.round(clock.now - virtualStart),
    realMs: Math.round(Number(process.hrtime.bigint() - realStart) / 1e6),
    events,
    bars,
    notes: notes ?? {},
  };
}

/** Disjoint paths the defended lookups take in the eclipse scenario. */
const ECLIPSE_PATHS = 2;
/** The attacker's subnets: every Sybil is in one of these /24s. */
const ATTACKER_SUBNETS = ['45.33.1', '45.33.2', '45.33.3', '45.33.4'];

/** A public IPv4 address for honest node `index`: spread over the whole space, as the internet's nodes are. */
function honestAddress(seed: number, index: number): string {
  const bytes = createHash('sha256').update(`mydht sim address ${seed} ${index}`).digest();
  // 11-99 in the first byte: public unicast, away from 10/8, 127/8 and the attacker's 45/8.
  return `/ip4/${11 + (bytes[0]! % 89)}.${bytes[1]}.${bytes[2]}.${1 + (bytes[3]! % 250)}/tcp/4001`;
}

/**
 * How the network meets the attack:
 * - `open`: no IP diversity limits (neither in routing tables nor in lookups), Sybils in 4 /24s;
 * - `diversity`: the default limits, Sybils in 4 /24s (one operator renting a few blocks);
 * - `botnet`: the default limits, every Sybil in a /24 of its own (addresses cost the attacker
 *   nothing), so the limits cannot tell the Sybils apart.
 */
type EclipseSetting = 'open' | 'diversity' | 'botnet';

/**
 * One eclipse network of `nodes`: 80% honest nodes join, and put the targets (one record per k
 * Sybils); the attacker grinds k ids per target, 2 bits closer than the closest honest node is
 * likely to be, and its Sybils, 20% of the network, join as honest nodes would. Then the attack
 * turns on, and `keys` rounds run from random honest nodes, each a get of a target and a node
 * lookup of it (found when the honest node closest to the target is among the results), with 1
 * lookup path and with ECLIPSE_PATHS.
 */
async function eclipseNetwork(clock: VirtualClock, options: ScenarioOptions, nodes: number, setting: EclipseSetting): Promise<ScenarioResult> {
  const honestCount = Math.ceil(nodes * 0.8);
  // k Sybils per target: as many as a lookup wants, all closer than the honest holders.
  const perTarget = options.replication ?? 20;
  const targetCount = Math.max(1, Math.floor((nodes - honestCount) / perTarget));
  const bits = Math.ceil(Math.log2(honestCount)) + 2;
  let sybils: NodeIdentity[] = [];
  const attackerModule = (name: string) => serviceModule(import.meta.url, './attacker.ts', name);
  const configure = (index: number): Partial<NodeConfig> => {
    const common = setting === 'open' ? { ipDiversity: { perBucket: 1_000, perTable: 1_000_000 } } : {};
    if (index < honestCount) return { ...common, announce: [honestAddress(options.seed, index)] };
    const subnet = ATTACKER_SUBNETS[index % ATTACKER_SUBNETS.length]!;
    return {
      ...common,
      identity: sybils[index - honestCount]!,
      announce: [setting === 'botnet' ? honestAddress(options.seed ^ 0xbad, index) : `/ip4/${subnet}.${1 + (index % 250)}/tcp/4001`],
      modules: { 'peer-store': attackerModule('peerStore') },
      global: attackerModule('kv'),
      globalConfig: { store: 'memory' },
    };
  };
  const name = `eclipse-${setting}`;
  return run(
    clock,
    name,
    options,
    nodes,
    async (sim) => {
      const began = process.hrtime.bigint();
      const say = (what: string): void => progress(`${name}: ${what} (${Math.round(Number(process.hrtime.bigint() - began) / 1e6)} ms real)`);
      await sim.grow(honestCount, 8);
      say(`${honestCount} honest nodes joined`);
      const honest = sim.live();
      const pickHonest = (): MyDhtNode => honest[sim.random.int(0, honest.length - 1)]!;
      const targets = await putKeys(sim, targetCount, pickHonest);
      sybils = grind(options.seed, targets.map((record) => record.key), perTarget, bits).flat();
      say(`${sybils.length} Sybils ground at ${bits} bits`);
      await sim.grow(sybils.length, 8);
      say('Sybils joined');
      const attackers = sim.live().filter((node) => !honest.includes(node));
      attack.accomplices = attackers.map((node) => node.record);
      attack.active = true;
      try {
        const bars: Bar[] = [];
        const notes: Record<string, number> = { sybils: attackers.length, targets: targetCount, sybilBits: bits };
        const rounds = Math.max(targetCount, options.keys ?? 100);
        // The honest node closest to each target: what an uneclipsed node lookup must return.
        const nearest = targets.map((record) => honest.reduce((best, node) => (compareDistance(record.key, node.identity.id, best.identity.id) < 0 ? node : best)));
        for (const paths of [1, ECLIPSE_PATHS]) {
          const label = `${setting}, ${paths} path${paths === 1 ? '' : 's'}`;
          let got = 0;
          let found = 0;
          let hops = 0;
          for (let i = 0; i < rounds; i++) {
            const record = targets[i % targets.length]!;
            const observe = (lookup: { hops: number }) => void (hops += lookup.hops);
            const getter = pickHonest();
            getter.on('lookup', observe);
            const value = await clock.settle(getter.get(record.key, { paths }).catch(() => null));
            getter.off('lookup', observe);
            if (value !== null && Buffer.from(value.value).equals(Buffer.from(record.value))) got++;
            const reply = await clock.settle(pickHonest().lookup(record.key, { paths }).catch(() => null));
            if (reply?.closest.some((peer) => peer.idHex === nearest[i % targets.length]!.id) === true) found++;
          }
          say(`${rounds} gets and node lookups with ${paths} path(s)`);
          const figures = [
            [`eclipse (20% Sybils): gets successful, ${label}`, got / rounds],
            [`eclipse (20% Sybils): node lookups return the closest honest node, ${label}`, found / rounds],
          ] as const;
          figures.forEach(([name, value], i) => {
            // Ground Sybils from many subnets are the k closest nodes to the target, truly: no
            // lookup can return honest nodes past them (only the cost of an id could stop them).
            const barred = paths === ECLIPSE_PATHS && (setting === 'diversity' || (setting === 'botnet' && i === 0));
            if (barred) bars.push(bar(name, value, 0.95));
            else notes[name] = value;
          });
          notes[`hops per get, ${label}`] = Math.round((hops / rounds) * 10) / 10;
        }
        return { bars, notes };
      } finally {
        attack.active = false;
        attack.accomplices = [];
      }
    },
    {},
    { configure },
  );
}

export const SCENARIOS: Record<string, (clock: VirtualClock, options: ScenarioOptions) => Promise<ScenarioResult>> = {
  /** A network joins, stores and reads: the base every other scenario stands on, and the determinism check's run. */
  join: (clock, options) => {
    const nodes = options.nodes ?? 50;
    return run(clock, 'join', options, nodes, async (sim) => {
      await sim.grow(nodes);
      const records = await putKeys(sim, options.keys ?? 100);
      const share = await retrievable(sim, records);
      return { bars: [bar('join: keys retrievable', share, 1)] };
    });
  },

  /**
   * Scale: a network of `nodes` (10,000 by default) joining 16 at a time, then keys put and got.
   * Liveness pings stretch with the size as `createTestnet` stretches them (100 ms per node),
   * so the whole network pings about as often as 300 nodes at the simulator's interval. Bucket
   * refreshes stretch too (360 ms per node, Kademlia's hour at 10,000): every node joins within
   * the first few simulated minutes, so their refreshes would otherwise all fall due at once, a
   * storm of ~100,000 lookups that a network joining over days never sees.
   */
  scale: (clock, options) => {
    const nodes = options.nodes ?? 10_000;
    const interval = Math.max(SIM_NODE.livenessIntervalMs, nodes * 100);
    return run(
      clock,
      'scale',
      options,
      nodes,
      async (sim) => {
        const joinStart = process.hrtime.bigint();
        await sim.grow(nodes, 16, (joined) => {
          if (joined % 500 === 0) progress(`scale: ${joined}/${nodes} joined, ${(clock.now / 60_000).toFixed(1)} simulated min, ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB RSS`);
        });
        const joinRealMs = Number(process.hrtime.bigint() - joinStart) / 1e6;
        const records = await putKeys(sim, options.keys ?? 1000);
        const share = await retrievable(sim, records);
        const usage = process.memoryUsage();
        return {
          bars: [bar(`scale: keys retrievable at ${nodes} nodes`, share, 0.99)],
          notes: { joinRealMs: Math.round(joinRealMs), heapMbPerNode: Math.round((usage.heapUsed / 2 ** 20 / nodes) * 100) / 100 },
        };
      },
      { livenessIntervalMs: interval, livenessTimeoutMs: 3 * interval, refreshIntervalMs: Math.max(SIM_NODE.refreshIntervalMs, nodes * 360) },
    );
  },

  /**
   * Churn: half the nodes replaced, one every few minutes, over two simulated hours, with
   * republishing and holders' refresh on. Gets run throughout; at the end every key is read.
   */
  churn: (clock, options) => {
    const nodes = options.nodes ?? 200;
    return run(clock, 'churn', options, nodes, async (sim) => {
      await sim.grow(nodes);
      const records = await putKeys(sim, options.keys ?? 1000);
      const replacements = Math.floor(nodes / 2);
      const spanMs = 2 * 60 * MINUTE;
      const stepMs = spanMs / replacements;
      let asked = 0;
      let answered = 0;
      for (let i = 0; i < replacements; i++) {
        await sim.kill(sim.pick());
        await sim.grow(1);
        // A few gets from random nodes between replacements: lookups under churn.
        for (let j = 0; j < 3; j++) {
          const record = records[sim.random.int(0, records.length - 1)]!;
          asked++;
          const got = await clock.settle(sim.pick().get(record.key).catch(() => null));
          if (got !== null) answered++;
        }
        await clock.advance(stepMs);
        if ((i + 1) % 10 === 0) progress(`churn: ${i + 1}/${replacements} replaced, ${answered}/${asked} gets answered`);
      }
      const share = await retrievable(sim, records);
      return {
        bars: [bar('churn: keys retrievable after 50% replaced', share, 0.999), bar('churn: lookups successful during churn', answered / asked, 0.99)],
        notes: { replaced: replacements, lookups: asked },
      };
    });
  },

  /**
   * Eclipse attempt: 20% of the nodes are Sybils ground close to the targets, which answer every
   * lookup with each other (fake closer peers) and hold nothing. The same network three times
   * (see EclipseSetting), each read with one lookup path and with disjoint paths (S/Kademlia).
   * The bars are on the defended lookups; the undefended figures are printed beside them.
   */
  eclipse: async (clock, options) => {
    const nodes = options.nodes ?? 1000;
    const runs: ScenarioResult[] = [];
    for (const setting of ['open', 'diversity', 'botnet'] as const) runs.push(await eclipseNetwork(clock, options, nodes, setting));
    const hash = createHash('sha256');
    for (const result of runs) hash.update(result.hash);
    return {
      ...runs[0]!,
      scenario: 'eclipse',
      hash: hash.digest('hex'),
      virtualMs: runs.reduce((sum, result) => sum + result.virtualMs, 0),
      realMs: runs.reduce((sum, result) => sum + result.realMs, 0),
      events: runs.reduce((sum, result) => sum + result.events, 0),
      bars: runs.flatMap((result) => result.bars),
      notes: Object.assign({}, ...runs.map((result) => result.notes)) as Record<string, number>,
    };
  },

  /** Sudden loss: half the nodes killed at once; one refresh interval later, keys are read back. */
  'sudden-loss': (clock, options) => {
    const nodes = options.nodes ?? 200;
    return run(clock, 'sudden-loss', options, nodes, async (sim) => {
      await sim.grow(nodes);
      const records = await putKeys(sim, options.keys ?? 1000);
      const victims = [...sim.live()].filter(() => sim.random.next() < 0.5).slice(0, Math.floor(nodes / 2));
      while (victims.length < Math.floor(nodes / 2)) {
        const extra = sim.pick();
        if (!victims.includes(extra)) victims.push(extra);
      }
      await sim.clock.settle(Promise.all(victims.map((node) => sim.kill(node))));
      await clock.advance(SIM_NODE.refreshIntervalMs);
      const share = await retrievable(sim, records);
      return { bars: [bar('sudden loss: keys retrievable one refresh after 50% killed', share, 0.95)], notes: { killed: victims.length } };
    });
  },

  /**
   * Partition and heal: the network splits in two; each side writes records while apart; once
   * healed and one republish interval later, every record is read from both sides.
   */
  partition: (clock, options) => {
    const nodes = options.nodes ?? 100;
    return run(clock, 'partition', options, nodes, async (sim) => {
      await sim.grow(nodes);
      const names = (side: MyDhtNode[]): string[] => side.map((node) => memoryAddress(node).slice('/memory/'.length));
      const live = sim.live();
      const left = live.filter((_, i) => i % 2 === 0);
      const right = live.filter((_, i) => i % 2 === 1);
      sim.network.partition(names(left), names(right));
      // Long enough for liveness to find the other side gone.
      await clock.advance(SIM_NODE.livenessTimeoutMs * 2);
      const pick = (side: MyDhtNode[]) => () => side[sim.random.int(0, side.length - 1)]!;
      const written: DhtRecord[] = [];
      let apartOk = 0;
      for (const side of [left, right]) {
        for (let i = 0; i < (options.keys ?? 100) / 2; i++) {
          const record = immutableRecord(new TextEncoder().encode(`partition ${written.length} ${sim.random.next()}`));
          written.push(record);
          const result = await clock.settle(pick(side)().put(record).catch(() => ({ stored: 0 })));
          if (result.stored > 0) apartOk++;
        }
      }
      sim.network.heal();
      await clock.advance(SIM_NODE.republishIntervalMs + MINUTE);
      const fromLeft = await retrievable(sim, written, pick(left));
      const fromRight = await retrievable(sim, written, pick(right));
      return {
        bars: [
          bar('partition: writes on both sides while apart', apartOk / written.length, 1),
          bar('partition: records readable from the left after heal', fromLeft, 1),
          bar('partition: records readable from the right after heal', fromRight, 1),
        ],
      };
    });
  },
};
