import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { RecordStore, StoredRecord } from '../../src/dht/record-store.ts';
import { immutableRecord, mutableRecord, plainRecord, type DhtRecord } from '../../src/dht/records.ts';
import { LmdbRecordStore } from '../../src/dht/stores/lmdb.ts';
import { MemoryRecordStore } from '../../src/dht/stores/memory.ts';

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const stored = (record: DhtRecord, expires = 1_000_000): StoredRecord => ({ record, storedAt: 1, expires });
const identity = NodeIdentity.generate();

const SUBJECTS: { name: string; open(dir: string): Promise<RecordStore> }[] = [
  { name: 'memory', open: async () => new MemoryRecordStore() },
  { name: 'lmdb', open: (dir) => LmdbRecordStore.open(dir) },
];

for (const subject of SUBJECTS) {
  describe(`record store compliance: ${subject.name}`, () => {
    let dir: string;
    let store: RecordStore;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mydht-store-'));
      store = await subject.open(dir);
    });

    afterEach(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('stores and returns every kind of record as it was put', async () => {
      const records = [immutableRecord(text('hello')), mutableRecord(identity, text('v1'), 1), plainRecord('test', 'name', text('x'))];
      for (const record of records) await store.put(stored(record));
      for (const record of records) {
        const back = await store.get(record.key);
        assert.deepEqual(back?.record, record);
        assert.equal(back?.expires, 1_000_000);
      }
      assert.equal(await store.get(new Uint8Array(32)), undefined);
    });

    it('a put replaces the entry of its key; stats follow records and value bytes', async () => {
      await store.put(stored(mutableRecord(identity, text('abc'), 1)));
      await store.put(stored(mutableRecord(identity, text('abcdef'), 2)));
      await store.put(stored(immutableRecord(text('1234'))));
      assert.deepEqual(store.stats(), { records: 2, bytes: 10 });
      assert.equal((await store.get(mutableRecord(identity, text(''), 0).key))?.record.value.length, 6);
    });

    it('deletes, and iterates in key order', async () => {
      const records = Array.from({ length: 20 }, (_, i) => immutableRecord(text(`value ${i}`)));
      for (const record of records) await store.put(stored(record));
      assert.equal(await store.delete(records[0]!.key), true);
      assert.equal(await store.delete(records[0]!.key), false);
      const keys: string[] = [];
      for await (const entry of store.entries()) keys.push(Buffer.from(entry.record.key).toString('hex'));
      assert.equal(keys.length, 19);
      assert.deepEqual(keys, [...keys].sort());
      assert.deepEqual(store.stats().records, 19);
      // Paging: the keys after a given one, that one excluded, whether or not it is stored.
      const after: string[] = [];
      for await (const entry of store.entries(Buffer.from(keys[9]!, 'hex'))) after.push(Buffer.from(entry.record.key).toString('hex'));
      assert.deepEqual(after, keys.slice(10));
      const fromDeleted: string[] = [];
      for await (const entry of store.entries(records[0]!.key)) fromDeleted.push(Buffer.from(entry.record.key).toString('hex'));
      assert.deepEqual(fromDeleted, keys.filter((key) => key > Buffer.from(records[0]!.key).toString('hex')));
    });
  });
}

describe('LMDB record store on disk', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mydht-lmdb-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('what was put is there after a reopen, stats included', async () => {
    const first = await LmdbRecordStore.open(dir);
    const record = mutableRecord(identity, text('kept'), 7);
    await first.put(stored(record));
    await first.close();
    const second = await LmdbRecordStore.open(dir);
    assert.deepEqual((await second.get(record.key))?.record, record);
    assert.deepEqual(second.stats(), { records: 1, bytes: 4 });
    await second.close();
  });

  it('an entry that no longer decodes or verifies is skipped and counted, never served', async () => {
    const store = await LmdbRecordStore.open(dir);
    const good = immutableRecord(text('good'));
    await store.put(stored(good));
    await store.close();
    // Damage the file's contents from outside: garbage, and a record whose signature no longer holds.
    const raw = open<Uint8Array, Uint8Array>({ path: dir, encoding: 'binary', keyEncoding: 'binary' });
    await raw.put(new Uint8Array(32).fill(1), new Uint8Array([0xff, 0x00, 0x13]));
    const forged = { ...mutableRecord(identity, text('v'), 1), value: text('w') };
    const { Codec } = await import('../../src/runtime/codec.ts');
    await raw.put(forged.key, new Codec().encode(stored(forged)));
    await raw.close();
    const reopened = await LmdbRecordStore.open(dir);
    assert.deepEqual(reopened.stats(), { records: 1, bytes: 4 });
    assert.equal(await reopened.get(new Uint8Array(32).fill(1)), undefined);
    assert.equal(await reopened.get(forged.key), undefined);
    assert.ok(reopened.corrupt >= 2);
    assert.deepEqual((await reopened.get(good.key))?.record, good);
    await reopened.close();
  });

  it('a damaged file (truncated, zeroed, overwritten) is refused with ERR_STORE_CORRUPT and left as it is', async () => {
    const store = await LmdbRecordStore.open(dir);
    for (let i = 0; i < 300; i++) await store.put(stored(immutableRecord(text(`record ${i}`))));
    await store.close();
    const size = readFileSync(join(dir, 'data.mdb')).length;
    const damages: [string, (file: string) => void][] = [
      ['truncated to one page', (file) => truncateSync(file, 4096)],
      ['truncated past its meta pages', (file) => truncateSync(file, Math.floor(size / 3))],
      ['zeroed', (file) => writeFileSync(file, Buffer.alloc(size))],
      ['overwritten with random bytes', (file) => writeFileSync(file, randomBytes(size))],
    ];
    for (const [what, damage] of damages) {
      const copy = mkdtempSync(join(tmpdir(), 'mydht-lmdb-damaged-'));
      try {
        const file = join(copy, 'data.mdb');
        cpSync(join(dir, 'data.mdb'), file);
        damage(file);
        const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
        await assert.rejects(LmdbRecordStore.open(copy), (err: NodeJS.ErrnoException) => {
          assert.equal(err.code, 'ERR_STORE_CORRUPT', what);
          assert.match(err.message, /left as it is/);
          return true;
        });
        assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), digest, `${what}: the file was changed`);
      } finally {
        rmSync(copy, { recursive: true, force: true });
      }
    }
    // The healthy original still opens, every record there.
    const reopened = await LmdbRecordStore.open(dir);
    assert.equal(reopened.stats().records, 300);
    await reopened.close();
  });
});
