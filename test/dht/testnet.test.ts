import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { immutableRecord, mutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import { createTestnet, SPAWNER_PRESETS, type SpawnerPreset, type Testnet } from '../../src/testnet.ts';
import type { UdpTransport } from '../../transports/udp/index.ts';

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

/** The scenario every configuration runs: `count` records put from random nodes, each got from another. */
async function putAndGetEverything(testnet: Testnet, count: number): Promise<void> {
  const author = NodeIdentity.generate();
  const { nodes } = testnet;
  const records: DhtRecord[] = Array.from({ length: count }, (_, i) =>
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
      await putAndGetEverything(testnet, RECORDS[preset]);
    });
  });
}

describe('20 nodes over libp2p (TCP, Noise, yamux) on LMDB', function () {
  this.timeout(300_000);
  let testnet: Testnet;
  before(async () => {
    testnet = await createTestnet({ nodes: 20, transport: 'libp2p', store: 'lmdb' });
  });
  after(async () => {
    await testnet?.stop();
  });

  it('1000 records put from random nodes and got from others: 100% success', async () => {
    await putAndGetEverything(testnet, 1000);
  });
});

/** Injected datagram loss: 0% in `npm test`, 1% and 10% in `npm run test:large` (minutes: every loss waits for a retransmission). */
const LOSS_RATES = LARGE ? [0, 0.01, 0.1] : [0];

for (const lossRate of LOSS_RATES) {
  describe(`20 nodes over UDP with ${lossRate * 100}% datagram loss, on LMDB`, function () {
    this.timeout(600_000);
    let testnet: Testnet;
    before(async () => {
      testnet = await createTestnet({ nodes: 20, transport: 'udp', store: 'lmdb', udp: { lossRate, seed: 40 } });
    });
    after(async () => {
      await testnet?.stop();
    });

    it('1000 records put from random nodes and got from others: 100% success, helped by retries', async function () {
      await putAndGetEverything(testnet, 1000);
      const totals = { sent: 0, lost: 0, retransmits: 0 };
      for (const transport of testnet.transports as UdpTransport[]) {
        const stats = transport.stats();
        totals.sent += stats.datagramsSent;
        totals.lost += stats.injectedLoss;
        totals.retransmits += stats.retransmits;
      }
      console.log(`      ${totals.sent} datagrams sent, ${totals.lost} lost on purpose, ${totals.retransmits} retransmitted`);
      if (lossRate > 0) assert.ok(totals.lost > 0 && totals.retransmits >= totals.lost * 0.5, 'losses happened and were made good by retransmission');
    });
  });
}
