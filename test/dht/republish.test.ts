import assert from 'node:assert/strict';
import { immutableRecord, mutableRecord } from '../../src/dht/records.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import { createTestnet, type Testnet } from '../../src/testnet.ts';

const TOUCH = serviceModule(import.meta.url, '../fixtures/touch-service.ts');

describe('republishing by the originator', function () {
  this.timeout(30_000);
  let testnet: Testnet;

  before(async () => {
    testnet = await createTestnet({ nodes: 10, replication: 3, seed: 17 });
  });

  after(async () => {
    await testnet?.stop();
  });

  it('a record whose holders all left is back on the closest nodes after its originator republishes it', async () => {
    const [origin, ...others] = testnet.nodes;
    const author = NodeIdentity.generate();
    await origin!.put(mutableRecord(author, new TextEncoder().encode('v1'), 1));
    const latest = mutableRecord(author, new TextEncoder().encode('v2'), 2);
    await origin!.put(latest);
    const holds = async (node: (typeof others)[number]): Promise<boolean> =>
      (await node.local({ type: 'get', key: latest.key } as never)) !== null;
    const holders: typeof others = [];
    for (const node of others) if (await holds(node)) holders.push(node);
    assert.ok(holders.length >= 2, `the record is held by ${holders.length} other nodes`);
    for (const holder of holders) await holder.stop();
    const remaining = others.filter((node) => !holders.includes(node));
    // The survivors notice (their periodic bucket refresh would, within 10 minutes).
    for (const node of [origin!, ...remaining]) await node.refresh();
    const reader = remaining[0]!;
    const originHolds = (await origin!.local({ type: 'get', key: latest.key } as never)) !== null;
    if (!originHolds) assert.equal(await reader.get(latest.key), null, 'with its holders gone, nobody has it');
    assert.equal(await origin!.republish(), 1);
    const got = await reader.get(latest.key);
    assert.equal(got?.kind === 'mutable' ? got.seq : -1, 2, 'the newest version was republished');
    let nowHeld = 0;
    for (const node of remaining) if (await holds(node)) nowHeld++;
    assert.ok(nowHeld >= 1, 'after the republish, live nodes other than its originator hold it');
  });
});

describe('what the originator keeps for republishing', function () {
  this.timeout(30_000);

  it('is bounded by the bytes of its values: the oldest puts are forgotten first, a newer version replaces the older', async () => {
    const testnet = await createTestnet({ nodes: 4, replication: 3, seed: 29, node: { republishMaxBytes: 2_500 } });
    try {
      const origin = testnet.nodes[0]!;
      const records = [1, 2, 3, 4].map((n) => immutableRecord(new Uint8Array(1_000).fill(n)));
      for (const record of records) await origin.put(record);
      assert.deepEqual((await origin.status()).published, { records: 2, bytes: 2_000, maxBytes: 2_500, unsaved: 0 });
      assert.equal(await origin.republish(), 2, 'the two newest');
      const author = NodeIdentity.generate();
      await origin.put(mutableRecord(author, new Uint8Array(300), 1));
      assert.deepEqual((await origin.status()).published, { records: 3, bytes: 2_300, maxBytes: 2_500, unsaved: 0 });
      await origin.put(mutableRecord(author, new Uint8Array(600), 2));
      assert.deepEqual((await origin.status()).published, { records: 2, bytes: 1_600, maxBytes: 2_500, unsaved: 0 }, 'version 2 replaced version 1, and pushed out the oldest 1,000 bytes');
      await origin.put(immutableRecord(new Uint8Array(3_000)));
      assert.equal((await origin.status()).published.records, 2, 'a record larger than the bound is not kept');
    } finally {
      await testnet.stop();
    }
  });

  it('is nothing at republishMaxBytes 0, not even records with empty values', async () => {
    const testnet = await createTestnet({ nodes: 3, replication: 3, seed: 31, node: { republishMaxBytes: 0 } });
    try {
      const origin = testnet.nodes[0]!;
      await origin.put(mutableRecord(NodeIdentity.generate(), new Uint8Array(0), 1));
      await origin.put(immutableRecord(new Uint8Array(10)));
      assert.deepEqual((await origin.status()).published, { records: 0, bytes: 0, maxBytes: 0, unsaved: 0 });
      assert.equal(await origin.republish(), 0);
    } finally {
      await testnet.stop();
    }
  });
});

describe('refresh by holders', function () {
  this.timeout(30_000);

  it('a record held by one node only, not among the closest, ends up on the k closest after that holder refreshes', async () => {
    const testnet = await createTestnet({ nodes: 10, replication: 3, seed: 23 });
    try {
      const record = immutableRecord(new TextEncoder().encode('held far from its key'));
      const byDistance = [...testnet.nodes].sort((a, b) => compareDistance(record.key, a.identity.id, b.identity.id));
      const farthest = byDistance.at(-1)!;
      await farthest.local({ type: 'put', record } as never);
      const holds = async (node: MyDhtNode): Promise<boolean> => (await node.local({ type: 'get', key: record.key } as never)) !== null;
      for (const node of byDistance.slice(0, 3)) assert.equal(await holds(node), false);
      // Stored a moment ago: not due for an hour's refresh, so nothing moves.
      assert.equal(await farthest.refreshRecords(60 * 60_000), 0);
      assert.equal(await farthest.refreshRecords(0), 1);
      for (const node of byDistance.slice(0, 3)) assert.equal(await holds(node), true, 'now on each of the k closest');
      // The closest holders were just stored to: their own refresh has nothing due.
      assert.equal(await byDistance[0]!.refreshRecords(60 * 60_000), 0);
    } finally {
      await testnet.stop();
    }
  });

  it('a global service without the due command (an application\'s own) refreshes nothing, and says 0', async () => {
    const testnet = await createTestnet({ nodes: 2, node: { global: TOUCH, globalConfig: { name: 't' } } });
    try {
      assert.equal(await testnet.nodes[0]!.refreshRecords(0), 0);
    } finally {
      await testnet.stop();
    }
  });
});
