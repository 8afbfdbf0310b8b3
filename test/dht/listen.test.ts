import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mutableRecord } from '../../src/dht/records.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { ListenItem, ListenSubscription } from '../../src/node/listen-subscription.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';
import { createTestnet, type SpawnerPreset } from '../../src/testnet.ts';
import { until } from '../helpers/until.ts';

const SEED = Number(process.env.LISTEN_SEED ?? 77);
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const author = NodeIdentity.fromSeed(createHash('sha256').update(`${SEED}/listen-author`).digest());
const update = (seq: number, salt = 'topic') => mutableRecord(author, utf8(`update ${seq}`), seq, utf8(salt));

/** Read a subscription until `done` says so; the items in order. */
async function collect(subscription: ListenSubscription, done: (items: ListenItem[]) => boolean): Promise<ListenItem[]> {
  const items: ListenItem[] = [];
  for await (const item of subscription) {
    items.push(item);
    if (done(items)) break;
  }
  return items;
}

const seqs = (items: ListenItem[]): number[] => items.flatMap((item) => (item.type === 'record' && item.record.kind === 'mutable' ? [item.record.seq] : []));
const upTo = (last: number) => (items: ListenItem[]) => seqs(items).at(-1) === last;

// The same scenario under each spawner configuration; 20 nodes with the default store and every
// record written with a higher seq.
for (const [spawners, listeners, updates] of [
  ['same-loop', 10, 100],
  ['worker-thread', 5, 30],
  ['child-process', 5, 30],
  ['mixed', 5, 30],
] as [SpawnerPreset, number, number][]) {
  describe(`listen across 20 nodes (${spawners}, seed ${SEED})`, function () {
    this.timeout(120_000);

    it(`${listeners} listeners on one key each get every one of ${updates} successive updates, exactly once and in order`, async () => {
      const testnet = await createTestnet({ nodes: 20, spawners, seed: SEED });
      try {
        const random = new SeededRandom(SEED);
        const writer = testnet.nodes[0]!;
        const key = update(0).key;
        const subscriptions = Array.from({ length: listeners }, (_, i) => testnet.nodes[1 + ((i * 7 + random.int(0, 1)) % 19)]!.listen(key));
        await Promise.all(subscriptions.map((subscription) => subscription.ready));
        const received = subscriptions.map((subscription) => collect(subscription, upTo(updates)));
        for (let seq = 1; seq <= updates; seq++) await writer.put(update(seq));
        const expected = Array.from({ length: updates }, (_, i) => i + 1);
        for (const items of await Promise.all(received)) {
          assert.deepEqual(seqs(items), expected);
          assert.equal(items.filter((item) => item.type === 'lagged').length, 0);
        }
      } finally {
        await testnet.stop();
      }
    });
  });
}

describe(`listen: slow subscribers, dead holders, limits (seed ${SEED})`, function () {
  this.timeout(120_000);

  it('every node of 20 registers a listen at once: none waits on another (each is a holder of the others)', async () => {
    const testnet = await createTestnet({ nodes: 20, seed: SEED });
    try {
      const key = update(0, 'everyone').key;
      const subscriptions = testnet.nodes.map((node) => node.listen(key));
      const settled = await Promise.allSettled(subscriptions.map((subscription) => subscription.ready));
      assert.deepEqual(
        settled.map((result) => (result.status === 'fulfilled' ? result.value.holders : result.reason)),
        testnet.nodes.map(() => 20),
        'each registered at all 19 others in time, and here',
      );
      // k = 20 covers the whole net: each node holds a subscription from every node, itself included.
      for (const node of testnet.nodes) assert.equal((await listenStats(node)).subscriptions, 20);
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
    } finally {
      await testnet.stop();
    }
  });

  it('a slow subscriber loses only its own oldest entries, is told how many, and holds up nobody', async () => {
    const testnet = await createTestnet({ nodes: 8, seed: SEED });
    try {
      const [writer, reader] = testnet.nodes as [MyDhtNode, MyDhtNode];
      const key = update(0, 'slow').key;
      const fast = reader.listen(key);
      const slow = reader.listen(key, { queueLength: 4 });
      await Promise.all([fast.ready, slow.ready]);
      const fastItems = collect(fast, upTo(40));
      for (let seq = 1; seq <= 40; seq++) await writer.put(update(seq, 'slow'));
      assert.deepEqual(seqs(await fastItems), Array.from({ length: 40 }, (_, i) => i + 1), 'the fast one got everything');
      // Only now does the slow one read: 4 kept, the rest counted.
      const items = await collect(slow, upTo(40));
      assert.deepEqual(items[0], { type: 'lagged', lost: 36 });
      assert.deepEqual(seqs(items), [37, 38, 39, 40]);
    } finally {
      await testnet.stop();
    }
  });

  it('a holder killed mid-stream: the listener re-registers with the new closest within one refresh, and updates keep coming', async () => {
    const K = 3;
    const testnet = await createTestnet({ nodes: 10, replication: K, seed: SEED, node: { listenRefreshMs: 400 } });
    try {
      const key = update(0, 'churn').key;
      const byDistance = [...testnet.nodes].sort((a, b) => compareDistance(key, a.identity.id, b.identity.id));
      const holders = byDistance.slice(0, K);
      const [listener, writer] = byDistance.slice(-2) as [MyDhtNode, MyDhtNode];
      const subscription = listener.listen(key);
      await subscription.ready;
      const items: ListenItem[] = [];
      const reading = (async () => {
        for await (const item of subscription) {
          items.push(item);
          if (seqs(items).at(-1) === 10) break;
        }
      })();
      for (let seq = 1; seq <= 5; seq++) await writer.put(update(seq, 'churn'));
      await until(() => seqs(items).at(-1) === 5);
      // Every node that held the key goes; the next K closest take over.
      for (const holder of holders) await holder.stop();
      const successors = byDistance.slice(K, 2 * K).filter((node) => node !== listener && node !== writer);
      await until(async () => {
        for (const node of successors) if ((await listenStats(node)).subscriptions === 0) return false;
        return true;
      }, 10_000);
      // The writer's view must have moved on too: a put it makes lands on the nodes it finds
      // closest, and only those the listener registered with can tell it (under churn, two nodes'
      // views of the k closest differ until their lookups meet the same peers).
      const successorIds = successors.map((node) => node.id).sort();
      await until(async () => JSON.stringify((await writer.lookup(key)).closest.map((peer) => peer.idHex).sort()) === JSON.stringify(successorIds), 10_000);
      for (let seq = 6; seq <= 10; seq++) await writer.put(update(seq, 'churn'));
      await reading;
      assert.deepEqual(seqs(items), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'nothing lost, nothing twice, in order');
    } finally {
      await testnet.stop();
    }
  });

  it('past a cap, a clear error: listens per node here, and per peer at the holders', async () => {
    const few = await createTestnet({ nodes: 4, seed: SEED, node: { listenLimits: { maxListens: 2 } } });
    try {
      const node = few.nodes[0]!;
      const [a, b] = [node.listen(update(0, 'a').key), node.listen(update(0, 'b').key)];
      await Promise.all([a.ready, b.ready]);
      await assert.rejects(node.listen(update(0, 'c').key).ready, (err: Error & { code?: string }) => err.code === 'ERR_LISTEN_LIMIT' && /listens to 2 keys/.test(err.message));
      await a.close();
      const again = node.listen(update(0, 'c').key);
      await again.ready; // room again once one closed
      await Promise.all([b.close(), again.close()]);
    } finally {
      await few.stop();
    }
    const strict = await createTestnet({ nodes: 4, seed: SEED, node: { listenLimits: { maxPerPeer: 1 } } });
    try {
      const node = strict.nodes[0]!;
      const first = node.listen(update(0, 'd').key);
      await first.ready;
      await assert.rejects(node.listen(update(0, 'e').key).ready, (err: Error & { code?: string }) => err.code === 'ERR_LISTEN_LIMIT' && /a peer may hold 1 listens/.test(err.message));
      await first.close();
    } finally {
      await strict.stop();
    }
  });
});

async function listenStats(node: MyDhtNode) {
  const stats = await node.system.get<NodeProtocols['listen']>('listen').call({ type: 'stats' });
  return stats;
}
