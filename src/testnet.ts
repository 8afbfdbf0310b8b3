import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as pathJoin } from 'node:path';
import { createNode, localListenAddress, memoryNetwork, transportNamed, type NodeConfig, type TransportName, type UdpTransportOptions } from './assemble.ts';
import { SeededRandom } from './net/seeded-random.ts';
import type { Transport } from './net/transport.ts';
import { NodeIdentity } from './node/identity.ts';
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
  /** UDP tuning for every node, with `transport: 'udp'`: limits, and injected loss (each node's seed is this seed plus its index). */
  udp?: UdpTransportOptions;
  /** `lmdb` gives each node its own store in a temporary dir (removed at stop); default memory. */
  store?: 'lmdb' | 'memory';
  spawners?: SpawnerPreset;
  replication?: number;
  /**
   * Seed of the memory network's random choices, of the nodes' identities (node i's key is
   * derived from the seed and i, so the same seed gives the same ids) and of the join's random
   * choices. Without it, identities are random.
   */
  seed?: number;
  /** More node options, the same for every node. */
  node?: Partial<NodeConfig>;
  /**
   * How the nodes join. `'sequential'`, the default up to `SMALL_NET` (100) nodes: every node
   * starts with node 0 as its bootstrap, then each looks itself up in turn. `'concurrent'`, the
   * default above: up to 16 nodes join at once, each bootstrapping to 3 random nodes that have
   * joined already and looking itself up (Kademlia's join; its bucket refresh is `refresh`).
   */
  join?: 'sequential' | 'concurrent';
  /**
   * Once all have joined, every node refreshes all its buckets (a lookup in each). Default: true
   * for a sequential join, false for a concurrent one (n x log n lookups, minutes at 1,000 nodes).
   */
  refresh?: boolean;
}

/** Up to this many nodes, a testnet joins sequentially and refreshes every bucket by default. */
export const SMALL_NET = 100;
/** Nodes joining at once in a concurrent join. */
const JOIN_CONCURRENCY = 16;
/** Bootstrap peers of each node in a concurrent join. */
const JOIN_BOOTSTRAPS = 3;
/**
 * A node pings each peer it holds a session with every liveness interval, and a testnet runs all
 * its nodes on one event loop: at 500 nodes (80 sessions each) the default 5 s interval took three
 * quarters of the CPU, and 1,000 nodes would need more than all of it. Past `SMALL_NET` nodes,
 * unless the node options set them, the interval grows with the node count (100 s at 1,000), so
 * the whole net pings about as often as 50 nodes at the default; the timeout stays 3 intervals.
 */
const LIVENESS_MS_PER_NODE = 100;

export interface Testnet {
  nodes: MyDhtNode[];
  /** Each node's transport, by node index (for their counters: a UdpTransport's `stats()`). */
  transports: Transport[];
  /** How long starting and joining took, ms. */
  bootstrapMs: number;
  stop(): Promise<void>;
}

/**
 * A local network of real nodes, for trying mydht and for testing code against it (hyperdht
 * exports the same idea). Every node joins by looking itself up from its bootstrap peers (node 0,
 * or random nodes that have joined: see `join`), and in a small net, once all have joined, each
 * refreshes its buckets.
 */
export async function createTestnet(options: TestnetOptions): Promise<Testnet> {
  const started = performance.now();
  const transport = options.transport ?? 'memory';
  const network = transport === 'memory' ? memoryNetwork(options.seed) : undefined;
  const dirs: string[] = [];
  const nodes: MyDhtNode[] = [];
  const transports: Transport[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.filter((node) => node !== undefined).map((node) => node.stop().catch(() => {})));
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  };
  const large = options.nodes > SMALL_NET;
  const join = options.join ?? (large ? 'concurrent' : 'sequential');
  const liveness =
    large && options.node?.livenessIntervalMs === undefined && options.node?.livenessTimeoutMs === undefined
      ? { livenessIntervalMs: options.nodes * LIVENESS_MS_PER_NODE, livenessTimeoutMs: 3 * options.nodes * LIVENESS_MS_PER_NODE }
      : {};
  const startNode = async (i: number, bootstrap: string[]): Promise<MyDhtNode> => {
    const dataDir = options.store === 'lmdb' ? await mkdtemp(pathJoin(tmpdir(), `mydht-testnet-${i}-`)) : undefined;
    if (dataDir !== undefined) dirs.push(dataDir);
    const identity = options.seed === undefined ? NodeIdentity.generate() : seededIdentity(options.seed, i);
    const node = await createNode({
      ...liveness,
      ...options.node,
      identity,
      transports: [
        (transports[i] = transportNamed(transport, {
          ...(network === undefined ? {} : { network }),
          udp: { ...options.udp, seed: (options.udp?.seed ?? 1) + i },
          identity,
        })),
      ],
      listen: [localListenAddress(transport, i)],
      bootstrap,
      spawners: SPAWNER_PRESETS[options.spawners ?? 'same-loop'],
      ...(dataDir === undefined ? {} : { dataDir }),
      ...(options.replication === undefined ? {} : { replication: options.replication }),
    });
    nodes[i] = node;
    await node.start();
    return node;
  };
  try {
    if (join === 'sequential') {
      for (let i = 0; i < options.nodes; i++) await startNode(i, i === 0 ? [] : [nodes[0]!.addresses[0]!]);
      for (const node of nodes) await node.lookup(node.identity.id, { mode: 'iterative' });
    } else {
      // Each node joins from a few random nodes that have joined, not all from node 0: node 0
      // would otherwise hold a session with every node.
      const random = new SeededRandom(options.seed ?? 1);
      const joined: MyDhtNode[] = [];
      if (options.nodes > 0) joined.push(await startNode(0, []));
      let next = 1;
      const joinNext = async (): Promise<void> => {
        while (next < options.nodes) {
          const i = next++;
          const bootstrap = new Set<string>();
          while (bootstrap.size < Math.min(JOIN_BOOTSTRAPS, joined.length)) bootstrap.add(joined[random.int(0, joined.length - 1)]!.addresses[0]!);
          const node = await startNode(i, [...bootstrap]);
          await node.lookup(node.identity.id, { mode: 'iterative' });
          joined.push(node);
        }
      };
      await Promise.all(Array.from({ length: JOIN_CONCURRENCY }, joinNext));
    }
    if (options.refresh ?? join === 'sequential') for (const node of nodes) await node.refresh();
    return { nodes, transports, bootstrapMs: performance.now() - started, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** DER of an Ed25519 PKCS#8 private key, up to its 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Node i's identity in the testnet of this seed. A test key, derived in the open: never for real use. */
function seededIdentity(seed: number, i: number): NodeIdentity {
  const secret = createHash('sha256').update(`mydht testnet ${seed} node ${i}`).digest();
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, secret]);
  return NodeIdentity.fromPem(`-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n`);
}
