import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { immutableRecord, type DhtRecord } from '../dht/records.ts';
import { createTestnet, type SpawnerPreset, type Testnet } from '../testnet.ts';
import { ProgressBar } from './progress-bar.ts';
import type { TransportName } from '../assemble.ts';
import type { Transport } from '../net/transport.ts';
import { UdpTransport } from '../../transports/udp/index.ts';

export interface TestnetCommandOptions {
  nodes: number;
  records: number;
  transport: TransportName;
  store: 'lmdb' | 'memory';
  spawners: SpawnerPreset;
  /** iterative, proxy, async, mixed or mixed:N. */
  query: string;
  concurrency: number;
  json: boolean;
  /** With `--transport udp`: the share of datagrams each node drops on purpose, to see the retries at work. */
  loss?: number;
}

/** What `mydht testnet --json` prints: the report, one JSON object. */
export interface TestnetReport {
  nodes: number;
  records: number;
  transport: string;
  /** Where each node keeps its records: `lmdb` (the embedded default, a temporary dir each) or `memory`. */
  store: string;
  spawners: string;
  query: string;
  bootstrapMs: number;
  put: Phase;
  get: Phase & { notFound: number };
  hops: { median: number; max: number };
  rssMbPerNode: number;
  /** Over UDP: datagrams sent, lost on purpose and sent again, summed over the nodes. */
  udp?: { datagrams: number; injectedLoss: number; retransmits: number };
}

export interface Phase {
  ok: number;
  failed: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * The main job: start a local network, put random records from random nodes, get each from
 * another node, and report. Exit code 0 when every record was found.
 */
export async function runTestnet(options: TestnetCommandOptions): Promise<number> {
  // Interrupted, it still stops its nodes and removes their temporary stores (once they are
  // all up, if it was still starting them); a second signal exits at once.
  let testnet: Testnet | undefined;
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
    if (testnet !== undefined) void testnet.stop().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  testnet = await createTestnet({
    nodes: options.nodes,
    transport: options.transport,
    store: options.store,
    spawners: options.spawners,
    node: { queryMode: options.query },
    ...(options.loss === undefined ? {} : { udp: { lossRate: options.loss } }),
  });
  if (interrupted) {
    await testnet.stop();
    process.exit(130);
  }
  try {
    const { nodes } = testnet;
    const pick = (not?: number): number => {
      if (nodes.length === 1) return 0;
      for (;;) {
        const i = Math.floor(Math.random() * nodes.length);
        if (i !== not) return i;
      }
    };
    const records: { record: DhtRecord; from: number }[] = Array.from({ length: options.records }, () => ({
      record: immutableRecord(new Uint8Array(randomBytes(100))),
      from: pick(),
    }));
    const progress = new ProgressBar(options.json ? undefined : process.stderr, options.records * 2);

    const hops: number[] = [];
    const put = await phase(records, options.concurrency, async ({ record, from }) => {
      const result = await nodes[from]!.put(record);
      hops.push(result.hops);
      progress.tick();
      return true;
    });
    let notFound = 0;
    const get = await phase(records, options.concurrency, async ({ record, from }) => {
      const got = await nodes[pick(from)]!.get(record.key);
      progress.tick();
      if (got === null || Buffer.compare(got.value, record.value) !== 0) {
        notFound++;
        return false;
      }
      return true;
    });
    progress.done();
    // The nodes were stopped under the operations still running: their failures are no result.
    if (interrupted) {
      process.stderr.write('testnet interrupted: no report\n');
      return 130;
    }
    hops.sort((a, b) => a - b);
    const report: TestnetReport = {
      nodes: options.nodes,
      records: options.records,
      transport: options.transport,
      store: options.store,
      spawners: options.spawners,
      query: options.query,
      bootstrapMs: Math.round(testnet.bootstrapMs),
      put,
      get: { ok: get.ok, notFound, failed: get.failed - notFound, opsPerSec: get.opsPerSec, p50Ms: get.p50Ms, p99Ms: get.p99Ms },
      hops: { median: hops[Math.floor(hops.length / 2)] ?? 0, max: hops.at(-1) ?? 0 },
      rssMbPerNode: Math.round((processTreeRss() / 1024 / 1024 / options.nodes) * 10) / 10,
      ...(options.transport === 'udp' ? { udp: udpTotals(testnet.transports) } : {}),
    };
    if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else printSummary(report);
    return report.get.ok === options.records && put.failed === 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await testnet.stop();
  }
}

function udpTotals(transports: readonly Transport[]): NonNullable<TestnetReport['udp']> {
  const totals = { datagrams: 0, injectedLoss: 0, retransmits: 0 };
  for (const transport of transports) {
    if (!(transport instanceof UdpTransport)) continue;
    const stats = transport.stats();
    totals.datagrams += stats.datagramsSent;
    totals.injectedLoss += stats.injectedLoss;
    totals.retransmits += stats.retransmits;
  }
  return totals;
}

/** Run `work` over `items` with `concurrency` in flight; latencies and throughput. */
async function phase<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<boolean>): Promise<Phase> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      const begin = performance.now();
      try {
        if (await work(item)) ok++;
        else failed++;
      } catch {
        failed++;
      }
      latencies.push(performance.now() - begin);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0) * 100) / 100;
  return { ok, failed, opsPerSec: Math.round(items.length / seconds), p50Ms: at(0.5), p99Ms: at(0.99) };
}

function printSummary(report: TestnetReport): void {
  const line = (text: string): boolean => process.stdout.write(`${text}\n`);
  line(`${report.nodes} nodes over ${report.transport} on ${report.store === 'lmdb' ? 'LMDB' : 'in-memory'} stores (${report.spawners}, ${report.query} queries), bootstrapped in ${report.bootstrapMs} ms`);
  line(`put ${report.put.ok}/${report.records} ok, ${report.put.opsPerSec} ops/s, p50 ${report.put.p50Ms} ms, p99 ${report.put.p99Ms} ms`);
  line(
    `get ${report.get.ok}/${report.records} ok (${report.get.notFound} not found, ${report.get.failed} failed), ` +
      `${report.get.opsPerSec} ops/s, p50 ${report.get.p50Ms} ms, p99 ${report.get.p99Ms} ms`,
  );
  line(`lookup hops: median ${report.hops.median}, max ${report.hops.max}; ${report.rssMbPerNode} MB of memory per node`);
  if (report.udp !== undefined) {
    line(`udp: ${report.udp.datagrams} datagrams sent, ${report.udp.injectedLoss} lost on purpose, ${report.udp.retransmits} sent again`);
  }
}

/**
 * The RSS of this process and of every process below it (services in child processes), bytes.
 * Linux only for the children: elsewhere, or if /proc cannot say, this process's alone.
 */
export function processTreeRss(): number {
  let total = process.memoryUsage().rss;
  const pending = childrenOf('self');
  for (let pid = pending.pop(); pid !== undefined; pid = pending.pop()) {
    try {
      const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      total += Number(kb?.[1] ?? 0) * 1024;
      pending.push(...childrenOf(pid));
    } catch {
      // Exited meanwhile.
    }
  }
  return total;
}

/** The pids of a process's children, from each of its threads' /proc list. */
function childrenOf(pid: string): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter((child) => child !== ''));
  } catch {
    return [];
  }
}
