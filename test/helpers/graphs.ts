import { createHash } from 'node:crypto';
import { createNode, type NodeConfig } from '../../src/assemble.ts';
import type { DhtRecord } from '../../src/dht/records.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { MemoryNetwork } from '../../transports/memory.ts';

/** The same identities for the same seed and salt: graphs and their distances reproduce. */
export function seededIdentities(count: number, seed: number, salt: string): NodeIdentity[] {
  return Array.from({ length: count }, (_, i) => NodeIdentity.fromSeed(createHash('sha256').update(`${seed}/${salt}/${i}`).digest()));
}

/**
 * Nodes on the in-memory transport that know only the peers `edges` connects them to: no
 * bootstrap, no lookups, and a liveness interval longer than any test, so the graph stays as
 * built until a query changes it. `configure` may give node i more options.
 */
export async function graph(
  members: readonly NodeIdentity[],
  edges: readonly (readonly [number, number])[],
  configure: (i: number) => Partial<NodeConfig> = () => ({}),
): Promise<MyDhtNode[]> {
  const network = new MemoryNetwork();
  const nodes: MyDhtNode[] = [];
  try {
    for (const [i, identity] of members.entries()) {
      const node = await createNode({ identity, transports: [network.transport()], listen: [`/memory/g${i}`], livenessIntervalMs: 600_000, ...configure(i) });
      nodes.push(node);
      await node.start();
    }
    for (const [a, b] of edges) await nodes[a]!.dial(nodes[b]!.addresses[0]!);
  } catch (err) {
    await stopAll(nodes);
    throw err;
  }
  return nodes;
}

/**
 * MyDHT's chain: `members` connected each to the next only, ordered so that each is closer to
 * `key` than the one before (Kademlia forwards toward the target).
 */
export function chain(members: readonly NodeIdentity[], key: Uint8Array, configure?: (i: number) => Partial<NodeConfig>): Promise<MyDhtNode[]> {
  const ordered = [...members].sort((a, b) => compareDistance(key, b.id, a.id));
  return graph(
    ordered,
    ordered.slice(1).map((_, i) => [i, i + 1] as const),
    configure,
  );
}

/** Store a record in one node's own store, as if the network had put it there. */
export async function holdLocally(node: MyDhtNode, record: DhtRecord): Promise<void> {
  await node.local({ type: 'put', record } as { type: string });
}

export async function stopAll(nodes: readonly MyDhtNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop().catch(() => {})));
}
