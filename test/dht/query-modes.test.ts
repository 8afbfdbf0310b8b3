import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createNode } from '../../src/assemble.ts';
import { immutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { proxyHopsOf, parseQueryMode } from '../../src/dht/seek.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import { MemoryNetwork } from '../../transports/memory.ts';

const SEED = Number(process.env.QUERY_MODES_SEED ?? 4242);
const MODES = ['iterative', 'proxy', 'async', 'mixed:1'] as const;

/** The same identities for the same seed: graphs and their distances reproduce. */
function identities(count: number, salt: string): NodeIdentity[] {
  return Array.from({ length: count }, (_, i) => NodeIdentity.fromSeed(createHash('sha256').update(`${SEED}/${salt}/${i}`).digest()));
}

/**
 * Nodes on the in-memory transport that know only the peers `edges` connects them to: no
 * bootstrap, no lookups, and a liveness interval longer than any test, so the graph stays as
 * built until a query changes it.
 */
async function graph(members: NodeIdentity[], edges: [number, number][]): Promise<MyDhtNode[]> {
  const network = new MemoryNetwork({ seed: SEED });
  const nodes: MyDhtNode[] = [];
  for (const [i, identity] of members.entries()) {
    const node = await createNode({ identity, transports: [network.transport()], listen: [`/memory/g${i}`], livenessIntervalMs: 600_000 });
    await node.start();
    nodes.push(node);
  }
  for (const [a, b] of edges) await nodes[a]!.dial(nodes[b]!.addresses[0]!);
  return nodes;
}

/**
 * MyDHT's chain: nodes 0..n-1, each connected to the next only, ordered so that each is closer
 * to the record's key than the one before (Kademlia forwards toward the target). The record is
 * stored on the last node only.
 */
async function chain(length: number, salt: string): Promise<{ nodes: MyDhtNode[]; record: DhtRecord }> {
  const record = immutableRecord(new TextEncoder().encode(`the far end of a ${length}-chain (${salt})`));
  const members = identities(length, salt).sort((a, b) => compareDistance(record.key, b.id, a.id));
  const nodes = await graph(
    members,
    members.slice(1).map((_, i) => [i, i + 1]),
  );
  await nodes.at(-1)!.local({ type: 'put', record } as { type: string });
  return { nodes, record };
}

async function stopAll(nodes: MyDhtNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.stop()));
}

function api(node: MyDhtNode) {
  return node.system.get<NodeProtocols['api']>('api');
}

describe(`query modes (seed ${SEED})`, function () {
  this.timeout(60_000);

  it('parses iterative, proxy, async, mixed and mixed:N, and refuses anything else with ERR_BAD_QUERY_MODE', () => {
    assert.deepEqual(parseQueryMode('mixed:3'), { kind: 'mixed', proxyHops: 3 });
    assert.equal(proxyHopsOf({ kind: 'proxy' }, 7), 7);
    assert.equal(proxyHopsOf({ kind: 'async' }, 7), 0);
    for (const bad of ['', 'proxy:2', 'mixed:x', 'mixed:-1', 'mixed:99', 'Iterative']) {
      assert.throws(() => parseQueryMode(bad), { code: 'ERR_BAD_QUERY_MODE' }, bad);
    }
  });

  for (const mode of MODES) {
    describe(`${mode}`, () => {
      for (const length of [4, 6]) {
        it(`finds a value at the far end of a ${length}-node chain`, async () => {
          const { nodes, record } = await chain(length, `${mode}-${length}`);
          try {
            const got = await nodes[0]!.get(record.key, { mode });
            assert.ok(got !== null, 'found');
            assert.deepEqual(got.value, record.value);
          } finally {
            await stopAll(nodes);
          }
        });
      }

      it('a lower hop limit fails where a higher one succeeds (6-node chain: the value is 5 hops away)', async () => {
        // Each query on a fresh chain: a query's answers teach the origin shortcuts.
        for (const [hopLimit, found] of [
          [4, false],
          [5, true],
        ] as const) {
          const { nodes, record } = await chain(6, `${mode}-limit-${hopLimit}`);
          try {
            const got = await nodes[0]!.get(record.key, { mode, hopLimit });
            assert.equal(got !== null, found, `hop limit ${hopLimit}`);
          } finally {
            await stopAll(nodes);
          }
        }
      });

      it('a graph with cycles does not loop: every node works on a query at most once, and it completes', async () => {
        // Eight nodes on a ring with chords: many paths between any two, and cycles everywhere.
        const edges: [number, number][] = [];
        for (let i = 0; i < 8; i++) edges.push([i, (i + 1) % 8], [i, (i + 3) % 8]);
        const nodes = await graph(identities(8, `${mode}-cycles`), edges);
        try {
          const missing = createHash('sha256').update('nobody has this').digest();
          if (mode === 'iterative') {
            const { queried } = await nodes[0]!.lookup(missing, { alpha: 3 });
            assert.ok(queried <= 7, `${queried} peers asked: each at most once`);
            assert.equal(await nodes[0]!.get(missing, { mode }), null);
            return;
          }
          const parsed = parseQueryMode(mode);
          const origin = nodes[0]!;
          const found = await api(origin).call({
            type: 'find',
            target: missing,
            want: 'value',
            origin: origin.record,
            proxyHops: proxyHopsOf(parsed as Exclude<typeof parsed, { kind: 'iterative' }>, 20),
            hopLimit: 20,
            fanout: 3,
            timeoutMs: 20_000,
          });
          assert.deepEqual(found.values, []);
          assert.equal(found.complete, true, 'every branch answered: none is still going round');
          let worked = 0;
          let duplicates = 0;
          for (const node of nodes) {
            const stats = await api(node).call({ type: 'seekStats' });
            assert.ok(stats.worked <= 1, 'a node works on a query once; another path gets an empty answer');
            worked += stats.worked;
            duplicates += stats.duplicates;
          }
          assert.ok(worked <= 7);
          assert.ok(duplicates >= 1, 'the query met itself by another path, and was answered empty there');
        } finally {
          await stopAll(nodes);
        }
      });
    });
  }
});
