/**
 * The simulator's command: `npm run sim -- [--scenario NAME|all] [--seed S] [--nodes N] [--keys K] [--replication K] [--loss R] [--json]`.
 *
 * Installs the virtual clock before anything of mydht loads, runs the scenarios (real nodes,
 * in-memory network, virtual time), and prints each bar with its figure, the event log's hash
 * and the seed. A failed bar exits 1 and prints the command that replays it.
 */
import { parseArgs } from 'node:util';
import { VirtualClock } from './virtual-clock.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    seed: { type: 'string', default: '1' },
    nodes: { type: 'string' },
    keys: { type: 'string' },
    replication: { type: 'string' },
    loss: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const clock = new VirtualClock();
clock.install();
const { SCENARIOS } = await import('./scenarios.ts');

const seed = Number(values.seed);
const names = values.scenario === 'all' ? ['join', 'sudden-loss', 'partition', 'churn'] : values.scenario.split(',');
let failed = false;
for (const name of names) {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) {
    process.stderr.write(`unknown scenario ${name}; one of ${Object.keys(SCENARIOS).join(', ')}\n`);
    process.exit(2);
  }
  const result = await scenario(clock, {
    seed,
    ...(values.nodes === undefined ? {} : { nodes: Number(values.nodes) }),
    ...(values.keys === undefined ? {} : { keys: Number(values.keys) }),
    ...(values.replication === undefined ? {} : { replication: Number(values.replication) }),
    ...(values.loss === undefined ? {} : { loss: Number(values.loss) }),
  });
  const rss = process.memoryUsage().rss;
  const summary = {
    ...result,
    eventsPerSecond: Math.round(result.events / (result.realMs / 1000)),
    rssMbPerNode: Math.round((rss / 2 ** 20 / result.nodes) * 100) / 100,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  } else {
    process.stdout.write(
      `${name}: ${result.nodes} nodes, seed ${seed}, ${(result.virtualMs / 60_000).toFixed(1)} simulated min in ${(result.realMs / 1000).toFixed(1)} s, ` +
        `${result.events} events (${summary.eventsPerSecond}/s), ${summary.rssMbPerNode} MB RSS per node, log hash ${result.hash.slice(0, 16)}\n`,
    );
    const notes = Object.entries(result.notes);
    if (notes.length > 0) process.stdout.write(`  ${notes.map(([key, value]) => `${key} ${value}`).join(', ')}\n`);
    for (const item of result.bars) {
      process.stdout.write(`  ${item.pass ? 'pass' : 'FAIL'}  ${item.name}: ${item.value} (bar ${item.better === 'higher' ? '>=' : '<='} ${item.bar})\n`);
    }
  }
  if (result.bars.some((item) => !item.pass)) {
    failed = true;
    process.stderr.write(`seed ${seed} failed ${name}: replay with npm run sim -- --scenario ${name} --seed ${seed}${values.nodes === undefined ? '' : ` --nodes ${values.nodes}`}\n`);
  }
}
process.exit(failed ? 1 : 0);
