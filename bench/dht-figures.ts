/**
 * The figures of one DHT benchmark run, in a shape shared by mydht's side and the kad-dht
 * baseline (bench/kad-dht.ts), plus the few helpers both use so that they count and time alike.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { now, percentile } from './measure.ts';

/** What a run of either side is given. */
export interface DhtRunOptions {
  nodes: number;
  records: number;
  concurrency: number;
  /** Bytes of each random value; 100 by default. */
  valueBytes?: number;
}

/** One phase (all puts, or all gets) of a run. */
export interface PhaseFigures {
  /** Operations that completed as intended. */
  ok: number;
  /** Operations that threw or hit their timeout. */
  failed: number;
  /** ok / the phase's wall time, in operations per second. */
  opsPerSec: number;
  /** Latencies of the ok operations, nearest rank; 0 when none was ok. */
  p50Ms: number;
  p99Ms: number;
}

export interface DhtRunFigures {
  /** Which DHT: 'mydht', 'kad-dht', ... */
  system: string;
  nodes: number;
  records: number;
  concurrency: number;
  /** From creating the first node to routing tables being populated. */
  bootstrapMs: number;
  put: PhaseFigures;
  /** notFound: gets that completed without an error but did not yield the value put. */
  get: PhaseFigures & { notFound: number };
  /**
   * (process RSS, resp. heapUsed after a gc when exposed, once all nodes are started and
   * bootstrapped and the records put) minus (the same taken before creating any node), / nodes.
   */
  rssMbPerNode: number;
  heapMbPerNode: number;
  /**
   * The same, taken once all nodes are bootstrapped and before any record is put: what a running
   * node costs, whatever the number of records the workload stores (the two sides put different
   * numbers of records).
   */
  idleRssMbPerNode: number;
  idleHeapMbPerNode: number;
  /**
   * What one more node costs: (the idle reading above) minus (the same reading taken with node 0
   * alone, started and settled), / (nodes - 1). The figures above divide by N the fixed cost of
   * the process (compiled code, module sources, the buffers some modules allocate on import,
   * V8's young generation) and of the first node (code run once, caches filled once), which
   * dominate them when N nodes share one process; a second node in the same process does not
   * pay them again, and N nodes spread over N processes would each pay them. Taken before any
   * put, like the idle figures.
   */
  marginalRssMbPerNode: number;
  marginalHeapMbPerNode: number;
}

/** Memory per node between two readings, MB, 2 decimals. */
export function perNode(before: { rss: number; heap: number }, after: { rss: number; heap: number }, nodes: number): { rss: number; heap: number } {
  const round2 = (value: number): number => Math.round(value * 100) / 100;
  return { rss: round2((after.rss - before.rss) / nodes), heap: round2((after.heap - before.heap) / nodes) };
}

/** What an operation of a phase came to; its latency is recorded only for 'ok'. */
export type Outcome = 'ok' | 'notFound' | 'failed';

/** Counts and latencies of one phase as its workers record them. */
export interface PhaseTally {
  ok: number;
  notFound: number;
  failed: number;
  latenciesMs: number[];
  wallMs: number;
}

/**
 * Run op(0..count-1) on `concurrency` workers, each taking the next index when its last op is
 * done (a closed loop: at most `concurrency` ops in flight). op must not throw: it says how it
 * ended. Returns the tally with the phase's wall time.
 */
export async function runPhase(
  count: number,
  concurrency: number,
  op: (index: number) => Promise<Outcome>,
): Promise<PhaseTally> {
  const tally: PhaseTally = { ok: 0, notFound: 0, failed: 0, latenciesMs: [], wallMs: 0 };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const start = now();
      const outcome = await op(index);
      if (outcome === 'ok') tally.latenciesMs.push(now() - start);
      tally[outcome]++;
    }
  };
  const start = now();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  tally.wallMs = now() - start;
  return tally;
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

/** The reported figures of a phase: throughput counts ok operations only. */
export function phaseFigures(tally: PhaseTally): PhaseFigures {
  const some = tally.latenciesMs.length > 0;
  return {
    ok: tally.ok,
    failed: tally.failed,
    opsPerSec: tally.wallMs > 0 ? round1((tally.ok / tally.wallMs) * 1000) : 0,
    p50Ms: some ? round1(percentile(tally.latenciesMs, 50)) : 0,
    p99Ms: some ? round1(percentile(tally.latenciesMs, 99)) : 0,
  };
}

/**
 * Process RSS and heapUsed in MB, after a full gc when the process runs with --expose-gc. With
 * MYDHT_BENCH_GC=reduce the gc is V8's memory-reducing one (what it runs under memory pressure:
 * it also shrinks the young generation and releases emptied pages), on both sides alike: the
 * readings are then what the nodes hold, without what V8 keeps for the allocation rate.
 */
export function memoryMb(first = false): { rss: number; heap: number } {
  // The first reading, before any node, always follows the memory-reducing gc: loading .ts
  // modules leaves a few MB of large objects behind (type stripping's) that only that gc frees,
  // and an ordinary gc at a later reading sometimes does, so per-node heap swung by 0.2 MB.
  if (first || process.env.MYDHT_BENCH_GC === 'reduce') globalThis.gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  else globalThis.gc?.();
  const usage = process.memoryUsage();
  if (process.env.MYDHT_BENCH_MEMORY === 'detail') console.error(JSON.stringify(memoryDetail(usage)));
  return { rss: usage.rss / 2 ** 20, heap: usage.heapUsed / 2 ** 20 };
}

/**
 * Where the RSS of a reading is, in MB (printed to stderr with MYDHT_BENCH_MEMORY=detail): the
 * physical size of each of V8's spaces (`new` is the young generation), the memory Node counts
 * outside the heap, and the kernel's split of the process's pages (Linux only: file-backed
 * pages such as LMDB's mapped stores are `Private_Clean` and `Shared_Clean`, and malloc's heap is
 * the part of `Anonymous` that V8's spaces do not explain).
 */
function memoryDetail(usage: NodeJS.MemoryUsage): Record<string, number> {
  const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
  const detail: Record<string, number> = { rss: mb(usage.rss), external: mb(usage.external), arrayBuffers: mb(usage.arrayBuffers) };
  for (const space of getHeapSpaceStatistics()) if (space.physical_space_size > 0) detail[space.space_name] = mb(space.physical_space_size);
  try {
    for (const line of readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n')) {
      const match = /^(Anonymous|Private_Clean|Private_Dirty|Shared_Clean):\s+(\d+) kB/.exec(line);
      if (match !== null) detail[match[1]!] = mb(Number(match[2]) * 1024);
    }
  } catch {
    // Not Linux: V8's and Node's figures only.
  }
  return detail;
}

/** Memory readings of a run: before any node, with node 0 alone, idle once all joined, after the puts. */
export interface MemoryReadings {
  before: { rss: number; heap: number };
  one: { rss: number; heap: number };
  idle: { rss: number; heap: number };
  after: { rss: number; heap: number };
}

/** The figures of a run from its phases and readings, the same way on both sides. */
export function runFigures(run: {
  system: string;
  nodes: number;
  records: number;
  concurrency: number;
  bootstrapMs: number;
  put: PhaseTally;
  get: PhaseTally;
  memory: MemoryReadings;
}): DhtRunFigures {
  const { before, one, idle, after } = run.memory;
  const used = perNode(before, after, run.nodes);
  const idlePerNode = perNode(before, idle, run.nodes);
  const marginal = perNode(one, idle, run.nodes - 1);
  return {
    system: run.system,
    nodes: run.nodes,
    records: run.records,
    concurrency: run.concurrency,
    bootstrapMs: Math.round(run.bootstrapMs),
    put: phaseFigures(run.put),
    get: { ...phaseFigures(run.get), notFound: run.get.notFound },
    rssMbPerNode: used.rss,
    heapMbPerNode: used.heap,
    idleRssMbPerNode: idlePerNode.rss,
    idleHeapMbPerNode: idlePerNode.heap,
    marginalRssMbPerNode: marginal.rss,
    marginalHeapMbPerNode: marginal.heap,
  };
}

/**
 * A side's script entry: `--nodes --records --concurrency --value-bytes [--query] --json`, one
 * JSON line of figures on stdout.
 */
export async function runAsScript(
  defaults: { records: number; concurrency: number },
  measure: (options: Required<DhtRunOptions> & { query: string }) => Promise<DhtRunFigures>,
): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '20' },
      records: { type: 'string', default: String(defaults.records) },
      concurrency: { type: 'string', default: String(defaults.concurrency) },
      'value-bytes': { type: 'string', default: '100' },
      query: { type: 'string', default: 'iterative' },
      json: { type: 'boolean', default: false },
    },
  });
  const figures = await measure({
    nodes: Number(values.nodes),
    records: Number(values.records),
    concurrency: Number(values.concurrency),
    valueBytes: Number(values['value-bytes']),
    query: values.query,
  });
  console.log(values.json ? JSON.stringify(figures) : JSON.stringify(figures, null, 2));
}
