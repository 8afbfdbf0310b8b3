import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { immutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { proxyHopsOf, parseQueryMode } from '../../src/dht/seek.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import { chain, graph, holdLocally, seededIdentities, stopAll } from '../helpers/graphs.ts';

const SEED = Number(process.env.QUERY_MODES_SEED ?? 4242);
const MODES = ['iterative', 'proxy', 'async', 'mixed:1'] as const;

function identities(count: number, salt: string) {
  return seededIdentities(count, SEED, salt);
}

/** A chain of `length` nodes toward the record's key; the record is held by the last one only. */
async function valueChain(length: number, salt: string): Promise<{ nodes: MyDhtNode[]; record: DhtRecord }> {
  const record = immutableRecord(new TextEncoder().encode(`the far end of a ${length}-chain (${salt})`));
  const nodes = await chain(identities(length, salt), record.key);
  await holdLocally(nodes.at(-1)!, record);
  return { nodes, record };
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

  it('a malformed or oversized seek from a peer is refused (ERR_SEEK_INVALID), and the hop goes on working', async () => {
    const { nodes, record } = await valueChain(3, 'malformed');
    try {
      const [a, b] = nodes as [MyDhtNode, MyDhtNode];
      const write = a.system.get<NodeProtocols['write']>('write');
      const garbage: unknown[] = [
        null,
        { target: new Uint8Array(3) },
        { target: record.key, want: 'value', depth: 1, hopLimit: 1_000, proxyHops: 0, fanout: 3, history: [a.identity.id], origin: a.record.wire, originQuery: 1, timeoutMs: 1_000 },
        { target: record.key, want: 'value', depth: 1, hopLimit: 4, proxyHops: 0, fanout: 99, history: [a.identity.id], origin: a.record.wire, originQuery: 1, timeoutMs: 1_000 },
        { target: record.key, want: 'value', depth: 1, hopLimit: 4, proxyHops: 0, fanout: 3, history: [], origin: a.record.wire, originQuery: 1, timeoutMs: 1_000 },
        { target: record.key, want: 'value', depth: 1, hopLimit: 4, proxyHops: 0, fanout: 3, history: [a.identity.id], origin: { forged: true }, originQuery: 1, timeoutMs: 1_000 },
        { target: record.key, want: 'value', depth: 1, hopLimit: 4, proxyHops: 0, fanout: 3, history: [a.identity.id], origin: Uint8Array.of(0x85, 1, 2), originQuery: 1, timeoutMs: 1_000 },
      ];
      for (const seek of garbage) await write.call({ type: 'send', peer: b.id, message: { type: 'seek', query: 0, seek } as never });
      const got = await a.get(record.key, { mode: 'proxy' });
      assert.deepEqual(got?.value, record.value, 'the hop still forwards an honest seek');
      assert.equal((await api(b).call({ type: 'seekStats' })).refused, garbage.length);
    } finally {
      await stopAll(nodes);
    }
  });

  it('remembers the seeks that travel for de-duplication, not the steps of iterative lookups', async () => {
    const { nodes, record } = await valueChain(4, 'remembered');
    try {
      const remembered = async () => {
        let sum = 0;
        for (const node of nodes) sum += (await api(node).call({ type: 'seekStats' })).remembered;
        return sum;
      };
      assert.ok((await nodes[0]!.get(record.key, { mode: 'iterative' })) !== null);
      const asked = (await Promise.all(nodes.map((node) => api(node).call({ type: 'seekStats' })))).reduce((sum, stats) => sum + stats.worked, 0);
      assert.ok(asked >= 3, `${asked} steps answered along the chain`);
      assert.equal(await remembered(), 0, 'a step goes no further: nothing to de-duplicate');
      assert.ok((await nodes[0]!.get(record.key, { mode: 'proxy' })) !== null);
      assert.ok((await remembered()) >= 3, 'each hop of a forwarded seek remembers it');
    } finally {
      await stopAll(nodes);
    }
  });

  for (const mode of MODES) {
    describe(`${mode}`, () => {
      for (const length of [4, 6]) {
        it(`finds a value at the far end of a ${length}-node chain`, async () => {
          const { nodes, record } = await valueChain(length, `${mode}-${length}`);
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
          const { nodes, record } = await valueChain(6, `${mode}-limit-${hopLimit}`);
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
