import { join } from 'node:path';
import { MyDhtError } from '../src/runtime/errors.ts';
import { defineService } from '../src/runtime/service.ts';
import type { RecordStore, StoredRecord } from '../src/dht/record-store.ts';
import { checkReplacement, DEFAULT_RECORD_LIMITS, validateRecord, type DhtRecord, type RecordLimits } from '../src/dht/records.ts';
import { LmdbRecordStore } from '../src/dht/stores/lmdb.ts';
import { loadValidators } from '../src/dht/namespace-validators.ts';
import { MemoryRecordStore } from '../src/dht/stores/memory.ts';
import type { GlobalProtocol, NodeProtocols } from '../src/node/protocols.ts';
import { detached } from '../src/runtime/mailbox.ts';

export interface KvConfig {
  /** `lmdb` (the default) keeps records in `<dataDir>/records`; `memory` keeps them until the node stops. */
  store?: 'lmdb' | 'memory';
  dataDir?: string;
  /** Largest value, bytes (default 64 KiB). */
  maxValueBytes?: number;
  /** The module of the plain-record namespace validators (see src/dht/namespace-validators.ts); none by default. */
  validators?: string;
  /** How long a stored record lives unless stored again, ms (default 24 h, libp2p's record TTL is 48 h). */
  ttlMs?: number;
  /** Value bytes this node stores at most for everyone (default 256 MiB). */
  quotaBytes?: number;
  /** Expired records are swept this often, ms (default 1 min). */
  sweepIntervalMs?: number;
}

/** Records a `due` page holds at most. */
const MAX_DUE_PAGE = 1_000;
const DEFAULTS = { ttlMs: 24 * 3600_000, quotaBytes: 256 * 1024 * 1024, sweepIntervalMs: 60_000 };

/** The key-value commands, the same from this node (`local`) and from a peer (`distant`). */
export type KvCommand =
  | { type: 'put'; record: DhtRecord; ttlMs?: number }
  | { type: 'get'; key: Uint8Array }
  /**
   * Records held here that nobody stored again for `olderThanMs`, in key order after `after`, at
   * most `limit`: the ones this holder should refresh on the nodes now closest to them.
   */
  | { type: 'due'; olderThanMs: number; after?: Uint8Array; limit: number }
  | { type: 'stats' };

export interface KvStats {
  records: number;
  bytes: number;
  quotaBytes: number;
  refused: Record<string, number>;
}

/**
 * The default global service: the DHT's records on this node. Every record is validated when
 * put and again when read; a replacement must follow the record's rules (an immutable record
 * never changes, a mutable one only to a higher seq); puts past the quota are refused; expired
 * records are neither returned nor kept. A peer's `put` is the DHT's STORE, its `get` FIND_VALUE.
 */
export default defineService<GlobalProtocol, KvConfig | null>(async (ctx) => {
  const options = { ...DEFAULTS, ...ctx.config };
  const limits: RecordLimits = { ...DEFAULT_RECORD_LIMITS, ...(options.maxValueBytes === undefined ? {} : { maxValueBytes: options.maxValueBytes }) };
  const store: RecordStore =
    (options.store ?? 'lmdb') === 'memory'
      ? new MemoryRecordStore()
      : await LmdbRecordStore.open(join(requireDataDir(options.dataDir), 'records'));
  const validators = await loadValidators(options.validators);
  const listen = ctx.service<NodeProtocols['listen']>('listen');
  const refused: Record<string, number> = {};
  /** Bytes of puts in progress, reserved against the quota until their commit. */
  let reserved = 0;
  /** Puts to one key run one at a time (read, check, write); different keys run together, so LMDB batches their commits. */
  const locks = new Map<string, Promise<unknown>>();
  const withKey = <T>(key: Uint8Array, work: () => Promise<T>): Promise<T> => {
    const id = Buffer.from(key).toString('hex');
    const next = (locks.get(id) ?? Promise.resolve()).then(work, work);
    locks.set(id, next);
    const release = (): void => {
      if (locks.get(id) === next) locks.delete(id);
    };
    next.then(release, release);
    return next;
  };

  const refuse = (err: MyDhtError): never => {
    refused[err.code] = (refused[err.code] ?? 0) + 1;
    throw err;
  };

  const put = async (input: unknown, ttlMs: number | undefined): Promise<{ stored: boolean }> => {
    let record: DhtRecord;
    try {
      record = validateRecord(input, limits, validators);
    } catch (err) {
      return refuse(err as MyDhtError);
    }
    return withKey(record.key, () => putValid(record, ttlMs));
  };

  const putValid = async (record: DhtRecord, ttlMs: number | undefined): Promise<{ stored: boolean }> => {
    const now = Date.now();
    const current = await live(record.key, now);
    if (current !== undefined) {
      try {
        if (checkReplacement(current.record, record) === 'same') {
          // Stored again: its life starts over, and holders need not refresh it for a while.
          await store.put({ ...current, storedAt: now, expires: now + Math.min(ttlMs ?? options.ttlMs, options.ttlMs) });
          return { stored: true };
        }
      } catch (err) {
        return refuse(err as MyDhtError);
      }
    }
    const growth = Math.max(0, record.value.length - (current?.record.value.length ?? 0));
    if (store.stats().bytes + reserved + growth > options.quotaBytes) {
      return refuse(new MyDhtError('ERR_STORE_QUOTA', `storing ${record.value.length} bytes would pass this node's quota of ${options.quotaBytes}`));
    }
    const entry: StoredRecord = { record, storedAt: now, expires: now + Math.min(ttlMs ?? options.ttlMs, options.ttlMs) };
    reserved += growth;
    try {
      await store.put(entry);
    } finally {
      reserved -= growth;
    }
    // A new record, or a newer one: its listeners hear of it (after it is durable).
    detached(listen.send({ type: 'accepted', record }));
    return { stored: true };
  };

  /** The stored entry, if it has not expired (an expired one is dropped on the way). */
  const live = async (key: Uint8Array, now = Date.now()): Promise<StoredRecord | undefined> => {
    const entry = await store.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= now) {
      await store.delete(key);
      return undefined;
    }
    return entry;
  };

  const get = async (key: unknown): Promise<DhtRecord | null> => {
    if (!(key instanceof Uint8Array) || key.length !== 32) return refuse(new MyDhtError('ERR_RECORD_INVALID', 'a key is 32 bytes'));
    const entry = await live(key);
    if (entry === undefined) return null;
    // Validated again on the way out: what a node serves is always checked.
    return validateRecord(entry.record, { ...limits, maxValueBytes: Number.MAX_SAFE_INTEGER }, validators);
  };

  const due = async (olderThanMs: number, after: Uint8Array | undefined, limit: number): Promise<DhtRecord[]> => {
    const now = Date.now();
    const found: DhtRecord[] = [];
    for await (const entry of store.entries(after)) {
      if (found.length >= Math.min(limit, MAX_DUE_PAGE)) break;
      if (entry.expires > now && entry.storedAt <= now - olderThanMs) found.push(entry.record);
    }
    return found;
  };

  const run = (command: { type: string }): Promise<unknown> | KvStats => {
    const c = command as KvCommand;
    switch (c.type) {
      case 'put':
        return put(c.record, c.ttlMs);
      case 'get':
        return get(c.key);
      case 'due':
        return due(c.olderThanMs, c.after, c.limit);
      case 'stats':
        return { ...store.stats(), quotaBytes: options.quotaBytes, refused: { ...refused } };
      default:
        throw new MyDhtError('ERR_UNKNOWN_COMMAND', `the key-value service has no command ${JSON.stringify((command as { type?: unknown }).type)}`);
    }
  };

  const sweep = setInterval(() => {
    void (async () => {
      const now = Date.now();
      for await (const entry of store.entries()) if (entry.expires <= now) await store.delete(entry.record.key);
    })().catch((err: unknown) => ctx.log.warn({ err }, 'sweeping expired records failed'));
  }, options.sweepIntervalMs);
  sweep.unref();

  return {
    // Store I/O overlaps across keys; puts to one key are ordered by withKey.
    concurrency: 256,
    handlers: {
      local: ({ command }) => run(command),
      distant: ({ command }) => run(command),
    },
    stop: async () => {
      clearInterval(sweep);
      await store.close();
    },
  };
});

function requireDataDir(dataDir: string | undefined): string {
  if (dataDir === undefined) throw new MyDhtError('ERR_CONFIG', 'the lmdb record store needs a dataDir (or set store: "memory")');
  return dataDir;
}
