import { execFile, type ExecFileException } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type RootDatabase } from 'lmdb';
import { Codec } from '../../runtime/codec.ts';
import { MyDhtError } from '../../runtime/errors.ts';
import type { RecordStore, StoredRecord } from '../record-store.ts';
import { validateStoredRecord } from '../records.ts';

export class StoreError extends MyDhtError {}

const CHECK_ENTRY = fileURLToPath(new URL(`./lmdb-check-entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
/** A check's time limit: a start-up allowance, plus the time to read the file at a slow disk's pace. */
const CHECK_BASE_MS = 15_000;
const CHECK_BYTES_PER_MS = 20_000;

/**
 * Read the LMDB environment at `path`, if it holds one, in a child process, before this process
 * opens it. LMDB maps its file and follows the page numbers it finds there: a truncated, zeroed
 * or overwritten file crashes the reading process (SIGSEGV, SIGBUS), which for a node is all of
 * it. The child reads every entry; if it crashes, fails or hangs, the store is refused with
 * ERR_STORE_CORRUPT (ERR_STORE_UNREADABLE if the system refused it) and left as it is.
 */
export async function checkLmdb(path: string): Promise<void> {
  // No file, or an empty one (made, never written): LMDB starts it afresh.
  const size = (await stat(join(path, 'data.mdb')).catch(() => undefined))?.size;
  if (size === undefined || size === 0) return;
  const timeout = CHECK_BASE_MS + Math.ceil(size / CHECK_BYTES_PER_MS);
  const failure = await new Promise<{ error: ExecFileException; stderr: string } | undefined>((resolve) => {
    execFile(process.execPath, [CHECK_ENTRY, path], { timeout, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, _stdout, stderr) =>
      resolve(error === null ? undefined : { error, stderr }),
    );
  });
  if (failure === undefined) return;
  const { error, stderr } = failure;
  const kept = 'It was left as it is: move it aside (or restore a copy) to start the node';
  if (error.killed === true && error.signal === 'SIGKILL') {
    throw new StoreError('ERR_STORE_CORRUPT', `the LMDB store at ${path} is damaged: reading it did not finish within ${Math.round(timeout / 1000)} s. ${kept}`);
  }
  if (typeof error.signal === 'string') {
    throw new StoreError('ERR_STORE_CORRUPT', `the LMDB store at ${path} is damaged: reading it crashed the reader (${error.signal}). ${kept}`);
  }
  const reason = stderr.split('\n').findLast((line) => /error/i.test(line))?.trim().slice(0, 300) ?? `exit code ${String(error.code)}`;
  // The system refusing (permissions, a full or read-only disk) is not the file's fault.
  const refused = /\bE(ACCES|PERM|ROFS|NOSPC|NOMEM|MFILE|NFILE|AGAIN|BUSY)\b/.test(reason);
  throw new StoreError(refused ? 'ERR_STORE_UNREADABLE' : 'ERR_STORE_CORRUPT', `the LMDB store at ${path} cannot be read: ${reason}. ${kept}`);
}

/**
 * An LMDB database of raw bytes at `path` (made if missing, checked by checkLmdb if not): keys
 * and values are encoded by the caller with the project's codec, not lmdb's own msgpack.
 */
export async function openBinaryLmdb(path: string): Promise<RootDatabase<Uint8Array, Uint8Array>> {
  await mkdir(path, { recursive: true });
  await checkLmdb(path);
  return open<Uint8Array, Uint8Array>({ path, encoding: 'binary', keyEncoding: 'binary', compression: false });
}

/**
 * Records in LMDB, the embedded default, in the node's data dir. Keys and values are raw bytes
 * (the record encoded with the project's codec, not lmdb's own msgpack), and a put resolves only
 * once its transaction is committed and synced: an acknowledged put survives a crash. An entry
 * that no longer decodes or validates (a disk error, an edited file) is skipped and counted,
 * never served.
 */
export class LmdbRecordStore implements RecordStore {
  readonly name = 'lmdb' as const;
  readonly #db: RootDatabase<Uint8Array, Uint8Array>;
  readonly #codec = new Codec();
  #records = 0;
  #bytes = 0;
  /** Entries found unreadable since the store opened. */
  corrupt = 0;

  private constructor(db: RootDatabase<Uint8Array, Uint8Array>) {
    this.#db = db;
  }

  static async open(path: string): Promise<LmdbRecordStore> {
    const db = await openBinaryLmdb(path);
    const store = new LmdbRecordStore(db);
    for (const { value } of db.getRange()) {
      const entry = store.#decode(value);
      if (entry === undefined) continue;
      store.#records++;
      store.#bytes += entry.record.value.length;
    }
    return store;
  }

  async get(key: Uint8Array): Promise<StoredRecord | undefined> {
    // A view of lmdb's read buffer, valid until the next read: decoding copies what it keeps
    // (Codec), so no per-read copy is needed.
    const bytes = this.#db.getBinaryFast(key);
    return bytes === undefined ? undefined : this.#decode(bytes);
  }

  async put(entry: StoredRecord): Promise<void> {
    const key = entry.record.key;
    const previous = this.#db.get(key);
    const before = previous === undefined ? undefined : this.#decode(previous);
    await this.#db.put(key, this.#codec.encode(entry));
    if (before === undefined) this.#records++;
    this.#bytes += entry.record.value.length - (before?.record.value.length ?? 0);
  }

  async delete(key: Uint8Array): Promise<boolean> {
    const previous = this.#db.get(key);
    if (previous === undefined) return false;
    const before = this.#decode(previous);
    await this.#db.remove(key);
    if (before !== undefined) {
      this.#records--;
      this.#bytes -= before.record.value.length;
    }
    return true;
  }

  async *entries(after?: Uint8Array): AsyncIterable<StoredRecord> {
    for (const { key, value } of this.#db.getRange(after === undefined ? {} : { start: after })) {
      if (after !== undefined && Buffer.compare(key as Uint8Array, after) === 0) continue;
      const entry = this.#decode(value);
      if (entry !== undefined) yield entry;
    }
  }

  stats(): { records: number; bytes: number } {
    return { records: this.#records, bytes: this.#bytes };
  }

  async close(): Promise<void> {
    await this.#db.close();
  }

  #decode(bytes: Uint8Array): StoredRecord | undefined {
    try {
      const entry = this.#codec.decode(bytes) as { record?: unknown; storedAt?: unknown; expires?: unknown };
      if (typeof entry?.storedAt !== 'number' || typeof entry.expires !== 'number') throw new Error('missing times');
      return { record: validateStoredRecord(entry.record), storedAt: entry.storedAt, expires: entry.expires };
    } catch {
      this.corrupt++;
      return undefined;
    }
  }
}
