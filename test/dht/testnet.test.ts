import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { immutableRecord, mutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import { createTestnet, SPAWNER_PRESETS, type SpawnerPreset, type Testnet } from '../../src/testnet.ts';

/** `npm run test:large` (MYDHT_LARGE=1) runs every configuration at full size; `npm test` keeps the CI budget. */
const LARGE = process.env.MYDHT_LARGE === '1';
const RECORDS: Record<SpawnerPreset, number> = LARGE
  ? { 'same-loop': 1000, 'worker-thread': 1000, 'child-process': 1000, mixed: 1000 }
  : { 'same-loop': 1000, 'worker-thread': 300, 'child-process': 300, mixed: 300 };
const CONCURRENCY = 32;

async function inParallel<T>(items: readonly T[], work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

for (const preset of Object.keys(SPAWNER_PRESETS) as SpawnerPreset[]) {
  describe(`20 nodes over TCP on LMDB (${preset})`, function () {
    this.timeout(300_000);
    let testnet: Testnet;

    before(async () => {
      testnet = await createTestnet({ nodes: 20, transport: 'tcp', store: 'lmdb', spawners: preset });
    });

    after(async () => {
      await testnet?.stop();
    });

    it(`${RECORDS[preset]} records put from random nodes and got from others: 100% success`, async () => {
      const author = NodeIdentity.generate();
      const { nodes } = testnet;
      const records: DhtRecord[] = Array.from({ length: RECORDS[preset] }, (_, i) =>
        i % 4 === 0
          ? mutableRecord(author, new Uint8Array(randomBytes(100)), 1, new TextEncoder().encode(`salt ${i}`))
          : immutableRecord(new Uint8Array(randomBytes(100))),
      );
      await inParallel(records, async (record, i) => {
        const { stored } = await nodes[i % 20]!.put(record);
        assert.equal(stored, 20, 'with 20 nodes and k = 20, every node stores it');
      });
      let found = 0;
      await inParallel(records, async (record, i) => {
        const got = await nodes[(i * 7 + 3) % 20]!.get(record.key);
        if (got !== null && Buffer.compare(got.value, record.value) === 0) found++;
      });
      assert.equal(found, records.length);
    });
  });
}
