import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, memoryNetwork, transportNamed, type NodeConfig, type TransportName } from './assemble.ts';
import type { MyDhtNode, NodeServiceName } from './node/node.ts';
import type { SpawnerKind } from './runtime/spawner.ts';

/**
 * Where each preset runs the services that can leave the main loop. The key-value service (the
 * global service) does the disk work and moves first; the peer store next.
 */
export const SPAWNER_PRESETS = {
  'same-loop': {},
  'worker-thread': { global: 'worker-thread', 'peer-store': 'worker-thread' },
  'child-process': { global: 'child-process' },
  mixed: { 'peer-store': 'worker-thread', global: 'child-process' },
} as const satisfies Record<string, Partial<Record<NodeServiceName, SpawnerKind>>>;

export type SpawnerPreset = keyof typeof SPAWNER_PRESETS;

export interface TestnetOptions {
  nodes: number;
  transport?: TransportName;
  /** `lmdb` gives each node its own store in a temporary dir (removed at stop); default memory. */
  store?: 'lmdb' | 'memory';
  spawners?: SpawnerPreset;
  replication?: number;
  seed?: number;
  /** More node options, the same for every node. */
  node?: Partial<NodeConfig>;
}

export interface Testnet {
  nodes: MyDhtNode[];
  /** How long starting and joining took, ms. */
  bootstrapMs: number;
  stop(): Promise<void>;
}

/**
 * A local network of real nodes, for trying mydht and for testing code against it (hyperdht
 * exports the same idea). Node 0 is the bootstrap; every node joins by looking itself up, and
 * once all have joined, each refreshes its buckets.
 */
export async function createTestnet(options: TestnetOptions): Promise<Testnet> {
  const started = performance.now();
  const transport = options.transport ?? 'memory';
  const network = transport === 'memory' ? memoryNetwork(options.seed) : undefined;
  const dirs: string[] = [];
  const nodes: MyDhtNode[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop().catch(() => {})));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  };
  try {
    for (let i = 0; i < options.nodes; i++) {
      const dataDir = options.store === 'lmdb' ? await mkdtemp(join(tmpdir(), `mydht-testnet-${i}-`)) : undefined;
      if (dataDir !== undefined) dirs.push(dataDir);
      const node = await createNode({
        ...options.node,
        transports: [transportNamed(transport, network)],
        listen: [transport === 'memory' ? `/memory/node-${i}` : '/ip4/127.0.0.1/tcp/0'],
        bootstrap: i === 0 ? [] : [nodes[0]!.addresses[0]!],
        spawners: SPAWNER_PRESETS[options.spawners ?? 'same-loop'],
        ...(dataDir === undefined ? {} : { dataDir }),
        ...(options.replication === undefined ? {} : { replication: options.replication }),
      });
      nodes.push(node);
      await node.start();
    }
    // Joining: each node looks itself up; then one refresh round, once everyone is there.
    for (const node of nodes) await node.lookup(node.identity.id, { mode: 'iterative' });
    for (const node of nodes) await node.refresh();
    return { nodes, bootstrapMs: performance.now() - started, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
