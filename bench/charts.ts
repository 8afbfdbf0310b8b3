/**
 * The charts suite: `npm run bench -- charts` measures what the charts of docs/benchmarks.md draw,
 * prints each figure beside its baseline like every suite, and writes the SVGs to docs/charts/:
 *
 * - dht-latency-by-size.svg: get latency p50 and p99 of mydht, and kad-dht's p50, against the
 *   network's size, one get at a time (c=1, so latency is the lookup's and not queueing), each
 *   side and size in a process of its own (bench/mydht-dht.ts, bench/kad-dht.ts, as the dht
 *   suite runs them);
 * - runtime-throughput-by-spawner.svg: one-way messages/s through a service on each spawner
 *   beside its raw path (the runtime suite's own measurement);
 * - transports-round-trip.svg: request round trip p50 of each transport beside raw loopback TCP
 *   or UDP (the transports suite, whose throughput figures this chart leaves out).
 *
 * CHARTS=dht,runtime,transports (the default: all) picks which to redraw.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { SPAWNER_KINDS } from '../src/runtime/spawner.ts';
import { runSide } from './dht.ts';
import type { DhtRunFigures } from './dht-figures.ts';
import type { Figure, Suite } from './figure.ts';
import { spawnerFigures } from './runtime.ts';
import { barChart, lineChart } from './svg-chart.ts';
import transports from './transports.ts';

const OUT = new URL('../docs/charts/', import.meta.url);

/** Sizes are doublings, drawn on a log x axis so each step is as wide as the next. */
const DHT_SIZES = [5, 10, 20, 40, 80];
/**
 * kad-dht runs up to 40 nodes: at 80, the 79 dials to node 0 at once (bench/kad-dht.ts's
 * bootstrap) time out in Noise's handshake on this 2-core machine and the run dies. Its get is
 * ~150-250 ms one at a time, so 30 records give a median in seconds; mydht's 300 give a p99 too.
 */
const KAD_MAX_NODES = 40;
const RECORDS = { mydht: 300, kad: 30 };

/** What a chart says of where and when it was measured. */
function machine(): string {
  return `Node ${process.versions.node}, ${cpus().length} cores, ${new Date().toISOString().slice(0, 10)}`;
}

async function save(name: string, svg: string): Promise<void> {
  await mkdir(OUT, { recursive: true });
  await writeFile(new URL(name, OUT), svg);
  console.error(`wrote docs/charts/${name}`);
}

async function* dhtLatency(): AsyncGenerator<Figure> {
  const mine: DhtRunFigures[] = [];
  const kad: DhtRunFigures[] = [];
  for (const nodes of DHT_SIZES) {
    const common = ['--nodes', String(nodes), '--concurrency', '1'];
    if (nodes <= KAD_MAX_NODES) kad.push(await runSide('./kad-dht.ts', [...common, '--records', String(RECORDS.kad)]));
    const run = await runSide('./mydht-dht.ts', [...common, '--records', String(RECORDS.mydht)]);
    mine.push(run);
    // Past kad-dht's last size, the baseline is its largest run, and says so.
    const other = kad.at(-1)!;
    const baseline = `kad-dht, ${other.nodes} nodes, c=1${other.nodes === nodes ? '' : ' (its largest run)'}`;
    for (const p of ['p50', 'p99'] as const) {
      const key = `${p}Ms` as const;
      yield { name: `get.${p}-n${nodes}`, value: run.get[key], unit: 'ms', baseline, baselineValue: other.get[key], better: 'lower' };
    }
  }
  const points = (runs: DhtRunFigures[], key: 'p50Ms' | 'p99Ms') => runs.map((r) => ({ x: r.nodes, y: r.get[key] }));
  await save(
    'dht-latency-by-size.svg',
    lineChart({
      title: 'DHT get latency by network size',
      note: `loopback TCP, one get at a time; kad-dht up to ${KAD_MAX_NODES} nodes; ${machine()}`,
      xLabel: 'nodes in the network',
      yLabel: 'get latency, ms',
      logX: true,
      logY: true,
      series: [
        { name: 'mydht p50', points: points(mine, 'p50Ms') },
        { name: 'mydht p99', points: points(mine, 'p99Ms') },
        { name: 'kad-dht p50', points: points(kad, 'p50Ms') },
      ],
    }),
  );
}

async function* runtimeThroughput(): AsyncGenerator<Figure> {
  const figures: Figure[] = [];
  for (const kind of SPAWNER_KINDS) {
    for await (const figure of spawnerFigures(kind)) {
      figures.push(figure);
      yield figure;
    }
  }
  await save(
    'runtime-throughput-by-spawner.svg',
    barChart({
      title: 'One-way throughput through a service, per spawner',
      note: `standard put message, best of 5 rounds; ${machine()}`,
      yLabel: 'messages per second',
      logY: true,
      categories: SPAWNER_KINDS,
      series: [
        { name: 'mydht runtime', values: figures.map((f) => f.value) },
        { name: 'raw path', values: figures.map((f) => f.baselineValue) },
      ],
    }),
  );
}

async function* transportRoundTrips(): AsyncGenerator<Figure> {
  const figures: Figure[] = [];
  for await (const figure of transports.run()) {
    if (!figure.name.endsWith('.round-trip-p50')) continue;
    figures.push(figure);
    yield figure;
  }
  await save(
    'transports-round-trip.svg',
    barChart({
      title: 'Request round trip p50 per transport',
      note: `100-byte request echoed, both ends in one process; ${machine()}`,
      yLabel: 'round trip p50, us',
      categories: figures.map((f) => f.name.replace('.round-trip-p50', '')),
      series: [
        { name: 'transport', values: figures.map((f) => f.value) },
        // raw UDP for the udp rows, raw TCP for the others (bench/transports.ts).
        { name: 'raw TCP or UDP', values: figures.map((f) => f.baselineValue) },
      ],
    }),
  );
}

const CHARTS: Record<string, () => AsyncGenerator<Figure>> = { dht: dhtLatency, runtime: runtimeThroughput, transports: transportRoundTrips };

const charts: Suite = {
  name: 'charts',
  async *run() {
    const picked = process.env.CHARTS?.split(',') ?? Object.keys(CHARTS);
    const unknown = picked.filter((name) => !Object.hasOwn(CHARTS, name));
    if (unknown.length > 0) throw new Error(`CHARTS: unknown ${unknown.join(', ')}; known: ${Object.keys(CHARTS).join(', ')}`);
    for (const name of picked) yield* CHARTS[name]!();
  },
};
export default charts;
