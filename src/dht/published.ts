import { stat } from 'node:fs/promises';
import type { RootDatabase } from 'lmdb';
import { Codec } from '../runtime/codec.ts';
import { MyDhtError } from '../runtime/errors.ts';
import { toHex } from '../node/identity.ts';
import { validateStoredRecord, type DhtRecord } from './records.ts';
import { openBinaryLmdb } from './stores/lmdb.ts';

/**
 * Records remembered at most, whatever their size; the oldest put goes first. Their values are
 * bounded apart (maxBytes): 100,000 records of 64 KiB would be 6.4 GB of heap.
 */
export const MAX_PUBLISHED = 100_000;

export class PublishedError extends MyDhtError {}

/** One remembered record as it is kept on disk: its place in put order, and the record. */
interface Entry {
  order: number;
  record: DhtRecord;
}

/**
 * One remembered record as it is kept in memory: what the bounds and the version check need. The
 * record itself stays here only while it is not (yet) on disk: without a data dir, until its
 * write commits, or when that write failed. A node that put 100,000 records of 64 KiB holds
 * them on disk, not in its heap.
 */
interface Held {
  order: number;
  key: Uint8Array;
  size: number;
  /** A mutable record's sequence number; undefined for the other kinds. */
  seq: number | undefined;
  record: DhtRecord | undefined;
}

/**
 * The records this node put, which it republishes: the newest version of each, in put order,
 * bounded by count and by the bytes of their values (the oldest put is forgotten first). With a
 * data dir they are kept in LMDB (`<dataDir>/published`), so a node that restarts, crashed or
 * not, goes on republishing what it put: `remember` resolves once the record is committed, and
 * from then on memory holds only its key, size and version; `records()` reads it back.
 * The database is made by the first record kept: a node that never puts has none. A write that
 * fails (a full disk) leaves the record kept in memory for this run and is counted in `unsaved`;
 * a failed open is tried again by the next record. Without a data dir they live in memory only.
 */
export class PublishedRecords {
  readonly maxBytes: number;
  /** By key (hex), in put order: a Map iterates in insertion order, and a newer put re-inserts. */
  readonly #records = new Map<string, Held>();
  readonly #path: string | undefined;
  /** Opened at most once, by open() when the database exists, else by the first remember. */
  #db: Promise<RootDatabase<Uint8Array, Uint8Array>> | undefined;
  readonly #codec = new Codec();
  #bytes = 0;
  #nextOrder = 0;
  #closed = false;
  /** Entries found unreadable when the set was opened (a disk error, an edited file); skipped. */
  corrupt = 0;
  /** Records kept in memory whose write to disk failed, since the set was opened. */
  unsaved = 0;

  private constructor(maxBytes: number, path: string | undefined) {
    this.maxBytes = maxBytes;
    this.#path = path;
  }

  /** A set kept in memory only. */
  static inMemory(maxBytes: number): PublishedRecords {
    return new PublishedRecords(maxBytes, undefined);
  }

  /**
   * The set kept at `path`, with what an earlier run remembered. If the bounds are now lower
   * than when those were put, the oldest go until the rest fit (at maxBytes 0, all of them).
   */
  static async open(path: string, maxBytes: number): Promise<PublishedRecords> {
    const published = new PublishedRecords(maxBytes, path);
    if ((await stat(path).catch(() => undefined)) === undefined) return published;
    const db = await published.#database()!;
    const entries: Entry[] = [];
    const unreadable: Uint8Array[] = [];
    for (const { key, value } of db.getRange()) {
      const entry = published.#decode(value);
      if (entry === undefined || toHex(entry.record.key) !== toHex(key)) {
        published.corrupt++;
        unreadable.push(Uint8Array.from(key));
      } else {
        entries.push(entry);
      }
    }
    entries.sort((a, b) => a.order - b.order);
    const held = entries.map((entry) => heldOf(entry, false));
    for (const entry of held) {
      published.#nextOrder = entry.order + 1;
      published.#admit(toHex(entry.key), entry);
    }
    // What the bounds no longer admit goes from the disk too.
    const dropped = held.filter((entry) => published.#records.get(toHex(entry.key)) !== entry).map((entry) => entry.key);
    await Promise.all([...unreadable, ...dropped].map((key) => db.remove(key)));
    return published;
  }

  /** Records remembered, the bytes of their values, and the writes of them that failed. */
  get stats(): { records: number; bytes: number; unsaved: number } {
    return { records: this.#records.size, bytes: this.#bytes, unsaved: this.unsaved };
  }

  /**
   * The remembered records, oldest put first, read from disk one at a time as they are taken. A
   * record forgotten meanwhile is left out; one that can no longer be read from disk (gone, or
   * damaged) is counted in `corrupt` and forgotten, on disk too, as a start would (the network
   * still holds it).
   */
  async *records(): AsyncGenerator<DhtRecord> {
    for (const [hex, entry] of [...this.#records]) {
      if (this.#records.get(hex) !== entry) continue;
      if (entry.record !== undefined) {
        yield entry.record;
        continue;
      }
      const db = await this.#database();
      // Forgotten, or replaced by a newer put, while this waited; or closed.
      if (this.#records.get(hex) !== entry || db === undefined) continue;
      // A view of lmdb's read buffer, valid until its next read: decoded at once, into copies.
      const bytes = db.getBinaryFast(entry.key);
      const stored = bytes === undefined ? undefined : this.#decode(bytes);
      if (stored !== undefined && toHex(stored.record.key) === hex) {
        yield entry.record ?? stored.record;
        continue;
      }
      this.corrupt++;
      this.#forget(hex, entry);
      await db.remove(entry.key).catch(() => {});
    }
  }

  /**
   * Remember a record this node put. An older version of a mutable record than the one held is
   * ignored; one too large for maxBytes alone is not kept. Resolves once it is on disk.
   */
  async remember(record: DhtRecord): Promise<void> {
    // A put that ends while its node stops would otherwise report a record kept that is not.
    if (this.#closed) throw new PublishedError('ERR_SERVICE_STOPPED', 'the node stopped before it could keep the record for republishing');
    const key = toHex(record.key);
    const held = this.#records.get(key);
    if (held?.seq !== undefined && record.kind === 'mutable' && held.seq > record.seq) return;
    const entry = heldOf({ order: this.#nextOrder++, record }, true);
    const evicted = this.#admit(key, entry);
    // Decided now: a concurrent remember of the same key may replace the entry while this waits
    // for the database, and writes reach it in the order they are made.
    const kept = this.#records.get(key) === entry;
    // Nothing to write (republishing off, or a record too large with no older version held):
    // no database is made for it.
    if (!kept && held === undefined && evicted.length === 0) return;
    try {
      const db = await this.#database();
      if (db === undefined) return;
      const writes = evicted.map((gone) => db.remove(gone));
      if (kept) writes.push(db.put(record.key, this.#codec.encode({ order: entry.order, record })));
      else writes.push(db.remove(record.key)); // replaced by a version too large to keep
      await Promise.all(writes);
      // On disk now: records() reads it from there.
      entry.record = undefined;
    } catch {
      // The network holds the record; this node republishes it for as long as it runs.
      this.unsaved++;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const db = await this.#db?.catch(() => undefined);
    await db?.close();
  }

  #database(): Promise<RootDatabase<Uint8Array, Uint8Array>> | undefined {
    const path = this.#path;
    if (path === undefined || this.#closed) return undefined;
    const opening = (this.#db ??= openBinaryLmdb(path));
    // A failed open is forgotten, so the next record tries again.
    opening.catch(() => {
      if (this.#db === opening) this.#db = undefined;
    });
    return opening;
  }

  /** Put `entry` in, replacing its key's older version; returns the keys forgotten to make room. */
  #admit(key: string, entry: Held): Uint8Array[] {
    const size = entry.size;
    const held = this.#records.get(key);
    if (held !== undefined) this.#forget(key, held);
    const evicted: Uint8Array[] = [];
    if (this.maxBytes <= 0 || size > this.maxBytes) return evicted;
    for (const [oldest, first] of this.#records) {
      if (this.#records.size < MAX_PUBLISHED && this.#bytes + size <= this.maxBytes) break;
      this.#forget(oldest, first);
      evicted.push(first.key);
    }
    this.#records.set(key, entry);
    this.#bytes += size;
    return evicted;
  }

  #forget(key: string, entry: Held): void {
    this.#records.delete(key);
    this.#bytes -= entry.size;
  }

  #decode(bytes: Uint8Array): Entry | undefined {
    try {
      const entry = this.#codec.decode(bytes) as { order?: unknown; record?: unknown };
      if (typeof entry?.order !== 'number' || !Number.isSafeInteger(entry.order) || entry.order < 0) return undefined;
      return { order: entry.order, record: validateStoredRecord(entry.record) };
    } catch {
      return undefined;
    }
  }
}

/** What memory keeps of a remembered record; the record itself only if `keep` (not on disk yet). */
function heldOf({ order, record }: Entry, keep: boolean): Held {
  return { order, key: record.key, size: record.value.length, seq: record.kind === 'mutable' ? record.seq : undefined, record: keep ? record : undefined };
}
