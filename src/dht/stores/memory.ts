import { toHex } from '../../node/identity.ts';
import type { RecordStore, StoredRecord } from '../record-store.ts';

/** Records in a Map: for tests, simulations, and nodes that keep nothing across restarts. */
export class MemoryRecordStore implements RecordStore {
  readonly name = 'memory' as const;
  readonly #entries = new Map<string, StoredRecord>();
  #bytes = 0;

  async get(key: Uint8Array): Promise<StoredRecord | undefined> {
    return this.#entries.get(toHex(key));
  }

  async put(entry: StoredRecord): Promise<void> {
    const key = toHex(entry.record.key);
    this.#bytes += entry.record.value.length - (this.#entries.get(key)?.record.value.length ?? 0);
    this.#entries.set(key, entry);
  }

  async delete(key: Uint8Array): Promise<boolean> {
    const id = toHex(key);
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#bytes -= entry.record.value.length;
    return this.#entries.delete(id);
  }

  async *entries(after?: Uint8Array): AsyncIterable<StoredRecord> {
    const from = after === undefined ? undefined : toHex(after);
    for (const key of [...this.#entries.keys()].filter((key) => from === undefined || key > from).sort()) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) yield entry;
    }
  }

  stats(): { records: number; bytes: number } {
    return { records: this.#entries.size, bytes: this.#bytes };
  }

  async close(): Promise<void> {}
}

