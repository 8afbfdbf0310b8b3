import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { PublishedRecords } from '../../src/dht/published.ts';
import { immutableRecord, mutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import { Codec } from '../../src/runtime/codec.ts';
import { createNode } from '../../src/assemble.ts';
import { createTestnet } from '../../src/testnet.ts';

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
async function all(records: AsyncIterable<DhtRecord>): Promise<DhtRecord[]> {
  const out: DhtRecord[] = [];
  for await (const record of records) out.push(record);
  return out;
}
const values = async (records: AsyncIterable<DhtRecord>): Promise<number[]> => (await all(records)).map((record) => record.value[0]!);

describe('the records a node put, kept for republishing', function () {
  this.timeout(30_000);
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mydht-published-'));
    path = join(dir, 'published');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('come back after a reopen, in put order, with the newest version of a mutable record', async () => {
    const author = NodeIdentity.generate();
    const first = await PublishedRecords.open(path, 1_000_000);
    await first.remember(immutableRecord(bytes(10, 1)));
    await first.remember(mutableRecord(author, bytes(10, 2), 1));
    await first.remember(immutableRecord(bytes(10, 3)));
    await first.remember(mutableRecord(author, bytes(10, 4), 2));
    await first.remember(mutableRecord(author, bytes(10, 9), 1)); // older than the one held: ignored
    await first.close();

    const again = await PublishedRecords.open(path, 1_000_000);
    try {
      assert.deepEqual(await values(again.records()), [1, 3, 4]);
      assert.deepEqual(again.stats, { records: 3, bytes: 30, unsaved: 0 });
      const mutable = (await all(again.records()))[2]!;
      assert.equal(mutable.kind === 'mutable' ? mutable.seq : -1, 2);
      // The order goes on from where the last run left it.
      await again.remember(immutableRecord(bytes(10, 1)));
      assert.deepEqual(await values(again.records()), [3, 4, 1]);
    } finally {
      await again.close();
    }
  });

  it('forget the oldest first to stay within their bytes, on disk too; a lower bound at reopen forgets more', async () => {
    const first = await PublishedRecords.open(path, 2_500);
    for (const n of [1, 2, 3, 4]) await first.remember(immutableRecord(bytes(1_000, n)));
    assert.deepEqual(await values(first.records()), [3, 4]);
    await first.close();

    const same = await PublishedRecords.open(path, 2_500);
    assert.deepEqual(await values(same.records()), [3, 4]);
    await same.close();

    const lower = await PublishedRecords.open(path, 1_500);
    assert.deepEqual(await values(lower.records()), [4]);
    await lower.close();
    const off = await PublishedRecords.open(path, 0);
    assert.deepEqual(off.stats, { records: 0, bytes: 0, unsaved: 0 });
    await off.close();
    const after = await PublishedRecords.open(path, 10_000);
    assert.deepEqual(after.stats, { records: 0, bytes: 0, unsaved: 0 }, 'republishing turned off emptied what was kept');
    await after.close();
  });

  it('skip and drop entries that no longer read: garbage, a record under another key, a forged signature', async () => {
    const good = immutableRecord(bytes(10, 7));
    const published = await PublishedRecords.open(path, 1_000_000);
    await published.remember(good);
    await published.close();

    const codec = new Codec();
    const author = NodeIdentity.generate();
    const forged = { ...mutableRecord(author, bytes(10, 1), 1), value: bytes(10, 2) };
    const other = immutableRecord(bytes(10, 8));
    const db = open<Uint8Array, Uint8Array>({ path, encoding: 'binary', keyEncoding: 'binary', compression: false });
    await db.put(bytes(32, 0xaa), Uint8Array.from([0xff, 0x00, 0x13]));
    await db.put(bytes(32, 0xbb), Uint8Array.from(codec.encode({ order: 5, record: other })));
    await db.put(forged.key, Uint8Array.from(codec.encode({ order: 6, record: forged })));
    await db.put(bytes(32, 0xcc), Uint8Array.from(codec.encode({ order: -1, record: good })));
    await db.close();

    const reopened = await PublishedRecords.open(path, 1_000_000);
    try {
      assert.equal(reopened.corrupt, 4);
      assert.deepEqual(await values(reopened.records()), [7]);
    } finally {
      await reopened.close();
    }
    const clean = await PublishedRecords.open(path, 1_000_000);
    assert.equal(clean.corrupt, 0, 'the unreadable entries were removed');
    await clean.close();
  });

  it('hold a record on disk once written, not in memory, and read it from there as it is taken', async () => {
    const published = await PublishedRecords.open(path, 1_000_000);
    try {
      await published.remember(immutableRecord(bytes(10, 1)));
      await published.remember(immutableRecord(bytes(10, 2)));
      // The second entry damaged behind the set's back: a set that held the record in memory
      // would still hand it out.
      const damaged = immutableRecord(bytes(10, 2)).key;
      const db = open<Uint8Array, Uint8Array>({ path, encoding: 'binary', keyEncoding: 'binary', compression: false });
      await db.put(damaged, Uint8Array.from([0xff, 0x00]));
      assert.deepEqual(await values(published.records()), [1]);
      assert.equal(published.corrupt, 1);
      assert.deepEqual(published.stats, { records: 1, bytes: 10, unsaved: 0 }, 'forgotten, as a start would');
      assert.equal(db.getBinary(damaged), undefined, 'and gone from the disk');
      assert.deepEqual(await values(published.records()), [1]);
      assert.equal(published.corrupt, 1, 'counted once');
    } finally {
      await published.close();
    }
    const memory = PublishedRecords.inMemory(1_000_000);
    await memory.remember(immutableRecord(bytes(10, 3)));
    assert.deepEqual(await values(memory.records()), [3], 'without a data dir, in memory');
  });

  it('make no database until the first record is remembered', async () => {
    const published = await PublishedRecords.open(path, 1_000_000);
    assert.deepEqual(await readdir(dir), []);
    await published.remember(immutableRecord(bytes(10, 1)));
    assert.deepEqual(await readdir(dir), ['published']);
    await published.close();
  });

  it('make no database at maxBytes 0, nor for a record too large to keep', async () => {
    const off = await PublishedRecords.open(path, 0);
    await off.remember(immutableRecord(bytes(10, 1)));
    const small = await PublishedRecords.open(join(dir, 'small'), 5);
    await small.remember(immutableRecord(bytes(10, 1)));
    assert.deepEqual(await readdir(dir), []);
    await Promise.all([off.close(), small.close()]);
  });

  it('a write that fails is counted and the record kept for this run; a failed open is tried again', async () => {
    // A file where the database's directory should be: the open fails.
    await writeFile(path, 'not a directory');
    const published = await PublishedRecords.open(join(path, 'inner'), 1_000_000);
    await published.remember(immutableRecord(bytes(10, 1)));
    assert.deepEqual(published.stats, { records: 1, bytes: 10, unsaved: 1 });
    await rm(path);
    await published.remember(immutableRecord(bytes(10, 2)));
    assert.deepEqual(published.stats, { records: 2, bytes: 20, unsaved: 1 }, 'the second open worked');
    await published.close();
    const again = await PublishedRecords.open(join(path, 'inner'), 1_000_000);
    assert.deepEqual(await values(again.records()), [2]);
    await again.close();
  });

  it('refuse a record once closed (ERR_SERVICE_STOPPED): a put ending as its node stops is not reported kept', async () => {
    const published = await PublishedRecords.open(path, 1_000_000);
    await published.close();
    await assert.rejects(published.remember(immutableRecord(bytes(10, 1))), { code: 'ERR_SERVICE_STOPPED' });
  });

  it('a node restarted on its data dir still knows what it put, and republishes it', async () => {
    const dataDir = join(dir, 'node');
    const config = { dataDir, listen: ['/ip4/127.0.0.1/tcp/0'] };
    const record = immutableRecord(new TextEncoder().encode('put before the restart'));
    // Alone, the node is among the closest to every key: the put stores it here and is remembered.
    const alone = await createNode(config);
    await alone.start();
    try {
      assert.equal((await alone.put(record)).stored, 1);
    } finally {
      await alone.stop();
    }

    const testnet = await createTestnet({ nodes: 3, transport: 'tcp', replication: 3, seed: 41 });
    const restarted = await createNode({ ...config, bootstrap: [testnet.nodes[0]!.addresses[0]!] });
    try {
      await restarted.start();
      await restarted.refresh();
      const held = async (): Promise<number> => {
        let count = 0;
        for (const node of testnet.nodes) if ((await node.local({ type: 'get', key: record.key } as never)) !== null) count++;
        return count;
      };
      assert.equal(await held(), 0);
      assert.equal((await restarted.status()).published.records, 1);
      assert.equal(await restarted.republish(), 1);
      assert.ok((await held()) >= 2, 'the nodes it met after the restart hold the record it put before');
    } finally {
      await restarted.stop();
      await testnet.stop();
    }
  });
});
