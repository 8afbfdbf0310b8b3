/**
 * The DHT suite: mydht against js-libp2p's @libp2p/kad-dht on the same workload (N = 20 nodes in
 * one process over TCP on loopback, records of 100 random bytes put from random nodes and got
 * from other ones), at concurrency 1 and 32. Each side runs in a process of its own, so memory
 * per node is its own; kad-dht gets fewer records, being slower, and rates do not depend on the
 * count. The baseline of every figure is kad-dht's, measured in the same run.
 *
 * Figures: get and put throughput, get median latency, memory per node (RSS and heap: after the
 * puts, idle before them, and marginal: what each node past the first adds, see DhtRunFigures),
 * and the share of gets that found their record. Every op has a 30 s deadline on both sides.
 *
 * Memory after the puts depends on how many were put (the records held, and how far V8 grew its
 * young generation for the work), so at c=32 mydht also runs once with kad-dht's count: the
 * `-same-records` figures compare the two sides after the same puts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DhtRunFigures } from './dht-figures.ts';
import type { Figure, Suite } from './figure.ts';

const NODES = Number(process.env.DHT_BENCH_NODES ?? 20);
/** Records per run: mydht's take seconds; kad-dht's about a minute at its ~5-7 ops/s. */
const RECORDS = { mydht: Number(process.env.DHT_BENCH_RECORDS ?? 1000), kad: Number(process.env.DHT_BENCH_KAD_RECORDS ?? 100) };
const CONCURRENCIES = [1, 32] as const;

/** Run one side's script (./kad-dht.ts or ./mydht-dht.ts) in its own process (with --expose-gc) and read its one JSON line. */
export function runSide(script: string, args: string[]): Promise<DhtRunFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(new URL(script, import.meta.url)), ...args, '--json'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0) reject(new Error(`${script} exited with ${code}`));
      else resolve(JSON.parse(line) as DhtRunFigures);
    });
  });
}

const successRate = (figures: DhtRunFigures): number => (100 * figures.get.ok) / figures.records;

const dht: Suite = {
  name: 'dht',
  async *run() {
    for (const concurrency of CONCURRENCIES) {
      const common = ['--nodes', String(NODES), '--concurrency', String(concurrency)];
      // One at a time, kad-dht takes ~150 ms a get: half the records keep its run under a minute.
      const kadRecords = concurrency === 1 ? Math.ceil(RECORDS.kad / 2) : RECORDS.kad;
      const kad = await runSide('./kad-dht.ts', [...common, '--records', String(kadRecords)]);
      const mine = await runSide('./mydht-dht.ts', [...common, '--records', String(RECORDS.mydht)]);
      const mineAtKadCount = concurrency === 32 ? await runSide('./mydht-dht.ts', [...common, '--records', String(kadRecords)]) : undefined;
      const baseline = `kad-dht, ${NODES} nodes, c=${concurrency}`;
      const at = `c${concurrency}`;
      const big = concurrency === 32;
      yield { name: `get.ops-${at}`, value: mine.get.opsPerSec, unit: 'ops/s', baseline, baselineValue: kad.get.opsPerSec, better: 'higher', ...(big ? { target: 100 } : {}) } satisfies Figure;
      yield { name: `get.p50-${at}`, value: mine.get.p50Ms, unit: 'ms', baseline, baselineValue: kad.get.p50Ms, better: 'lower', ...(big ? { target: 0.1 } : {}) } satisfies Figure;
      yield { name: `get.p99-${at}`, value: mine.get.p99Ms, unit: 'ms', baseline, baselineValue: kad.get.p99Ms, better: 'lower' } satisfies Figure;
      yield { name: `get.found-${at}`, value: successRate(mine), unit: '%', baseline, baselineValue: successRate(kad), better: 'higher', target: 1 } satisfies Figure;
      yield { name: `put.ops-${at}`, value: mine.put.opsPerSec, unit: 'ops/s', baseline, baselineValue: kad.put.opsPerSec, better: 'higher' } satisfies Figure;
      yield { name: `put.p50-${at}`, value: mine.put.p50Ms, unit: 'ms', baseline, baselineValue: kad.put.p50Ms, better: 'lower' } satisfies Figure;
      yield { name: `rss-per-node-${at}`, value: mine.rssMbPerNode, unit: 'MB', baseline, baselineValue: kad.rssMbPerNode, better: 'lower', ...(big ? { target: 0.1 } : {}) } satisfies Figure;
      yield { name: `heap-per-node-${at}`, value: mine.heapMbPerNode, unit: 'MB', baseline, baselineValue: kad.heapMbPerNode, better: 'lower' } satisfies Figure;
      if (mineAtKadCount !== undefined) {
        const same = `${baseline}, both after ${kadRecords} puts`;
        yield { name: `rss-per-node-same-records-${at}`, value: mineAtKadCount.rssMbPerNode, unit: 'MB', baseline: same, baselineValue: kad.rssMbPerNode, better: 'lower', target: 0.1 } satisfies Figure;
        yield { name: `heap-per-node-same-records-${at}`, value: mineAtKadCount.heapMbPerNode, unit: 'MB', baseline: same, baselineValue: kad.heapMbPerNode, better: 'lower', target: 0.1 } satisfies Figure;
      }
      yield { name: `idle-rss-per-node-${at}`, value: mine.idleRssMbPerNode, unit: 'MB', baseline, baselineValue: kad.idleRssMbPerNode, better: 'lower' } satisfies Figure;
      yield { name: `idle-heap-per-node-${at}`, value: mine.idleHeapMbPerNode, unit: 'MB', baseline, baselineValue: kad.idleHeapMbPerNode, better: 'lower' } satisfies Figure;
      yield { name: `marginal-rss-per-node-${at}`, value: mine.marginalRssMbPerNode, unit: 'MB', baseline, baselineValue: kad.marginalRssMbPerNode, better: 'lower', ...(big ? { target: 0.1 } : {}) } satisfies Figure;
      yield { name: `marginal-heap-per-node-${at}`, value: mine.marginalHeapMbPerNode, unit: 'MB', baseline, baselineValue: kad.marginalHeapMbPerNode, better: 'lower', ...(big ? { target: 0.1 } : {}) } satisfies Figure;
    }
  },
};

export default dht;
