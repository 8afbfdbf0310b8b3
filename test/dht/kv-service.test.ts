import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode, createServiceSystem, KV_SERVICE } from '../../src/assemble.ts';
import { immutableRecord, mutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { GlobalProtocol } from '../../src/node/protocols.ts';
import { SPAWNER_KINDS } from '../../src/runtime/spawner.ts';
import type { ServiceHandle } from '../../src/runtime/spawner.ts';
import type { ServiceSystem } from '../../src/runtime/system.ts';
import type { KvConfig, KvStats } from '../../services/kv.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import { until } from '../helpers/until.ts';

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const owner = NodeIdentity.generate();
const forger = NodeIdentity.generate();

for (const spawner of SPAWNER_KINDS) {
  describe(`key-value service on LMDB (${spawner})`, function () {
    this.timeout(20_000);
    let dir: string;
    let system: ServiceSystem;
    let kv: ServiceHandle<GlobalProtocol>;
    const start = async (config: KvConfig = {}): Promise<void> => {
      system = createServiceSystem();
      kv = system.spawn<GlobalProtocol>({ name: 'kv', module: KV_SERVICE, spawner, config: { store: 'lmdb', dataDir: dir, ...config } });
      await kv.ready;
    };
    const local = (command: { type: string; [field: string]: unknown }) => kv.call({ type: 'local', command });
    const put = (record: DhtRecord, ttlMs?: number) => local({ type: 'put', record, ...(ttlMs === undefined ? {} : { ttlMs }) });
    const get = (key: Uint8Array) => local({ type: 'get', key }) as Promise<DhtRecord | null>;
    const stats = () => local({ type: 'stats' }) as Promise<KvStats>;

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mydht-kv-'));
      await start();
    });

    afterEach(async () => {
      await system.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('puts and gets records, and a get of nothing is null', async () => {
      const records = [immutableRecord(text('hello')), mutableRecord(owner, text('v1'), 1)];
      for (const record of records) assert.deepEqual(await put(record), { stored: true });
      for (const record of records) assert.deepEqual(await get(record.key), record);
      assert.equal(await get(new Uint8Array(32)), null);
    });

    it('record attacks: unsigned, wrong-key, lower-seq, same-seq-other-value and oversize: 0 stored', async () => {
      const genuine = mutableRecord(owner, text('v5'), 5);
      await put(genuine);
      const attacks: [string, unknown][] = [
        ['ERR_RECORD_SIGNATURE', { ...mutableRecord(owner, text('evil'), 9), signature: new Uint8Array(64) }],
        ['ERR_RECORD_SIGNATURE', { ...mutableRecord(forger, text('evil'), 9), key: genuine.key, publicKey: owner.publicKey }],
        ['ERR_RECORD_SEQ_TOO_LOW', mutableRecord(owner, text('old'), 4)],
        ['ERR_RECORD_SEQ_REUSED', mutableRecord(owner, text('fork'), 5)],
        ['ERR_RECORD_TOO_LARGE', immutableRecord(new Uint8Array(64 * 1024 + 1))],
        ['ERR_RECORD_KEY_MISMATCH', { ...immutableRecord(text('a')), value: text('b') }],
      ];
      for (const [code, record] of attacks) await assert.rejects(put(record as DhtRecord), { code });
      assert.deepEqual(await get(genuine.key), genuine);
      const after = await stats();
      assert.equal(after.records, 1);
      assert.equal(Object.values(after.refused).reduce((x, y) => x + y, 0), attacks.length);
    });

    it('a higher seq replaces; the same record stored again is accepted', async () => {
      await put(mutableRecord(owner, text('v1'), 1));
      await put(mutableRecord(owner, text('v2'), 2));
      await put(mutableRecord(owner, text('v2'), 2));
      assert.deepEqual((await get(mutableRecord(owner, text(''), 0).key))?.value, text('v2'));
    });

    it('the quota refuses what would pass it', async () => {
      await system.stop();
      await start({ quotaBytes: 100 });
      await put(immutableRecord(new Uint8Array(60)));
      await assert.rejects(put(immutableRecord(new Uint8Array(50).fill(1))), { code: 'ERR_STORE_QUOTA' });
      assert.equal((await stats()).bytes, 60);
    });

    it('an expired record is neither returned nor kept', async () => {
      const record = immutableRecord(text('short-lived'));
      await put(record, 0);
      assert.equal(await get(record.key), null);
      assert.equal((await stats()).records, 0);
    });

    it('an acknowledged put is there after the service restarts', async () => {
      const record = mutableRecord(owner, text('durable'), 3);
      await put(record);
      await system.stop();
      await start();
      assert.deepEqual(await get(record.key), record);
    });
  });
}

describe('the key-value service as the default global service', function () {
  this.timeout(20_000);

  it('a peer stores a record on another node, and reads it back; a forged one is refused there', async () => {
    const network = new MemoryNetwork({ seed: 3 });
    const a = await createNode({ transports: [network.transport()], listen: ['/memory/a'] });
    const b = await createNode({ transports: [network.transport()], listen: ['/memory/b'] });
    await a.start();
    await b.start();
    try {
      await a.dial(b.addresses[0]!);
      await until(async () => (await b.peers()).length === 1);
      const record = mutableRecord(owner, text('shared'), 1);
      const stored = await a.query({ peers: [b.id], command: { type: 'put', record } as never, expect: 1 });
      assert.deepEqual(stored.results[0]?.value, { stored: true });
      const fetched = await a.query({ peers: [b.id], command: { type: 'get', key: record.key } as never, expect: 1 });
      assert.deepEqual(fetched.results[0]?.value, record);
      const forged = { ...record, value: text('forged') };
      const refused = await a.query({ peers: [b.id], command: { type: 'put', record: forged } as never, expect: 1 });
      assert.equal(refused.results[0]?.ok, false);
      assert.equal(refused.results[0]?.code, 'ERR_RECORD_SIGNATURE');
      assert.deepEqual(await b.local({ type: 'get', key: record.key } as never), record);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
