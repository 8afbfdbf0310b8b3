/**
 * mydht's side of the DHT benchmark, the same workload as bench/kad-dht.ts: N nodes in this one
 * process over TCP on loopback, each on its own LMDB store (the embedded default), records of
 * 100 random bytes put from random nodes and got from other ones, at a given concurrency.
 *
 * As a script, so memory is measured in a process of its own (with --expose-gc):
 *   node --expose-gc bench/mydht-dht.ts --nodes 20 --records 1000 --concurrency 32 [--query iterative] --json
 * prints one JSON line of DhtRunFigures. Memory per node is taken as kad-dht's is: (RSS, and
 * heapUsed, once all nodes are bootstrapped and the records put) minus (the same before any node
 * exists), divided by N, each after a full gc. It includes the records stored and LMDB's mapped
 * pages that were touched.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { immutableRecord } from '../src/dht/records.ts';
import { createTestnet } from '../src/testnet.ts';
import { memoryMb, perNode, phaseFigures, runPhase, type DhtRunFigures, type Outcome } from './dht-figures.ts';
import { now } from './measure.ts';

export interface MyDhtRunOptions {
  nodes: number;
  records: number;
  concurrency: number;
  valueBytes?: number;
  /** iterative (the default), proxy, async, mixed or mixed:N. */
  query?: string;
}

/** A put or get still running after this counts as failed, as on the kad-dht side. */
const OP_TIMEOUT_MS = 30_000;

export async function measureMyDht(options: MyDhtRunOptions): Promise<DhtRunFigures> {
  const { nodes: count, records, concurrency, valueBytes = 100, query = 'iterative' } = options;
  const before = memoryMb();
  const start = now();
  const testnet = await createTestnet({ nodes: count, transport: 'tcp', store: (process.env.MYDHT_BENCH_STORE as 'lmdb' | 'memory' | undefined) ?? 'lmdb', node: { queryMode: query } });
  try {
    const bootstrapMs = now() - start;
    const idle = perNode(before, memoryMb(), count);
    const { nodes } = testnet;
    const data = Array.from({ length: records }, () => immutableRecord(new Uint8Array(randomBytes(valueBytes))));
    const putters = Array.from({ length: records }, () => randomInt(count));
    const signal = (): AbortSignal => AbortSignal.timeout(OP_TIMEOUT_MS);

    const put = await runPhase(records, concurrency, async (i): Promise<Outcome> => {
      try {
        const { stored } = await nodes[putters[i]!]!.put(data[i]!, { signal: signal() });
        return stored > 0 ? 'ok' : 'failed';
      } catch {
        return 'failed';
      }
    });
    const after = memoryMb();

    const get = await runPhase(records, concurrency, async (i): Promise<Outcome> => {
      try {
        const pick = randomInt(count - 1);
        const getter = nodes[pick >= putters[i]! ? pick + 1 : pick]!;
        const got = await getter.get(data[i]!.key, { signal: signal() });
        return got !== null && Buffer.compare(got.value, data[i]!.value) === 0 ? 'ok' : 'notFound';
      } catch {
        return 'failed';
      }
    });

    return {
      system: query === 'iterative' ? 'mydht' : `mydht (${query})`,
      nodes: count,
      records,
      concurrency,
      bootstrapMs: Math.round(bootstrapMs),
      put: phaseFigures(put),
      get: { ...phaseFigures(get), notFound: get.notFound },
      rssMbPerNode: perNode(before, after, count).rss,
      heapMbPerNode: perNode(before, after, count).heap,
      idleRssMbPerNode: idle.rss,
      idleHeapMbPerNode: idle.heap,
    };
  } finally {
    await testnet.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '20' },
      records: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '32' },
      'value-bytes': { type: 'string', default: '100' },
      query: { type: 'string', default: 'iterative' },
      json: { type: 'boolean', default: false },
    },
  });
  const figures = await measureMyDht({
    nodes: Number(values.nodes),
    records: Number(values.records),
    concurrency: Number(values.concurrency),
    valueBytes: Number(values['value-bytes']),
    query: values.query,
  });
  console.log(values.json ? JSON.stringify(figures) : JSON.stringify(figures, null, 2));
}

if (import.meta.main) await main();
