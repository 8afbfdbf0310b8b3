import type { DhtRecord } from './records.ts';

/** A record as a node holds it: when it was stored here and when it expires. */
export interface StoredRecord {
  record: DhtRecord;
  /** When it was last stored here, first or again, ms since the epoch. */
  storedAt: number;
  /** ms since the epoch; the record is dropped after it unless refreshed or republished. */
  expires: number;
}

/**
 * Where a node keeps records. Implementations only store: validation, replacement rules,
 * quotas and expiry belong to the key-value service, the same over every store. A compliance
 * suite (test/dht/record-store.test.ts) runs over each implementation.
 */
export interface RecordStore {
  readonly name: 'memory' | 'lmdb';
  get(key: Uint8Array): Promise<StoredRecord | undefined>;
  /** Resolves once the record is durable (for a persistent store: committed to disk). */
  put(entry: StoredRecord): Promise<void>;
  delete(key: Uint8Array): Promise<boolean>;
  /** Every stored record in key order, or those with a key after `after`: pages through a large store. */
  entries(after?: Uint8Array): AsyncIterable<StoredRecord>;
  /** Records held and the bytes of their values, for quotas and status. */
  stats(): { records: number; bytes: number };
  close(): Promise<void>;
}
