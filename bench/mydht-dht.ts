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
 * pages that were touched. Idle and marginal figures as on kad-dht's side: marginal starts from a
 * reading with node 0 alone, started and settled.
 *
 * The network is the one createTestnet (src/testnet.ts) builds, built here step by step so that
 * node 0 can be measured alone before the others start. MYDHT_BENCH_STORE=memory runs the nodes
 * on in-memory stores instead of LMDB.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createNode, transportNamed } from '../src/assemble.ts';
import { immutableRecord } from '../src/dht/records.ts';
import type { MyDhtNode } from '../src/node/node.ts';
import { SPAWNER_PRESETS } from '../src/testnet.ts';
import { memoryMb, runAsScript, runFigures, runPhase, type DhtRunFigures, type DhtRunOptions, type Outcome } from './dht-figures.ts';
import { now } from './measure.ts';

export interface MyDhtRunOptions extends DhtRunOptions {
  /** iterative (the default), proxy, async, mixed or mixed:N. */
  query?: string;
}

/** A put or get still running after this counts as failed, as on the kad-dht side. */
const OP_TIMEOUT_MS = 30_000;
/** How long node 0 runs alone before the marginal reading starts from it, as on the kad-dht side. */
const SETTLE_MS = 1500;

/**
 * The network of createTestnet({ nodes, transport: 'tcp', store, node: { queryMode } }), one node
 * at a time: node i (in a temp dir of its own with LMDB) listens on loopback and bootstraps to
 * node 0. start() creates and starts the next node; join() then has every node look itself up,
 * and once all have, refresh its buckets; stop() stops the nodes and removes their dirs.
 */
function testnet(store: 'lmdb' | 'memory', queryMode: string) {
  const nodes: MyDhtNode[] = [];
  const dirs: string[] = [];
  return {
    nodes,
    async start(): Promise<void> {
      const i = nodes.length;
      const dataDir = store === 'lmdb' ? await mkdtemp(join(tmpdir(), `mydht-testnet-${i}-`)) : undefined;
      if (dataDir !== undefined) dirs.push(dataDir);
      const node = await createNode({
        queryMode,
        transports: [transportNamed('tcp')],
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: i === 0 ? [] : [nodes[0]!.addresses[0]!],
        spawners: SPAWNER_PRESETS['same-loop'],
        ...(dataDir === undefined ? {} : { dataDir }),
      });
      nodes.push(node);
      await node.start();
    },
    async join(): Promise<void> {
      for (const node of nodes) await node.lookup(node.identity.id, { mode: 'iterative' });
      for (const node of nodes) await node.refresh();
    },
    async stop(): Promise<void> {
      await Promise.all(nodes.map((node) => node.stop().catch(() => {})));
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    },
  };
}

export async function measureMyDht(options: MyDhtRunOptions): Promise<DhtRunFigures> {
  const { nodes: count, records, concurrency, valueBytes = 100, query = 'iterative' } = options;
  if (count < 2) throw new RangeError('the DHT benchmark needs at least 2 nodes');
  const store = (process.env.MYDHT_BENCH_STORE as 'lmdb' | 'memory' | undefined) ?? 'lmdb';
  const net = testnet(store, query);
  const before = memoryMb(true);
  const start = now();
  try {
    // Node 0 alone first, settled, for the reading the marginal cost per node starts from.
    await net.start();
    const paused = now();
    await sleep(SETTLE_MS);
    const one = memoryMb();
    const pauseMs = now() - paused;
    while (net.nodes.length < count) await net.start();
    await net.join();
    const bootstrapMs = now() - start - pauseMs;
    const idleReading = memoryMb();
    const { nodes } = net;
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

    return runFigures({ system: query === 'iterative' ? 'mydht' : `mydht (${query})`, nodes: count, records, concurrency, bootstrapMs, put, get, memory: { before, one, idle: idleReading, after } });
  } finally {
    await net.stop();
  }
}

if (import.meta.main) await runAsScript({ records: 1000, concurrency: 32 }, (options) => measureMyDht(options));
