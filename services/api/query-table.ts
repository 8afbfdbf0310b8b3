import { MyDhtError } from '../../src/runtime/errors.ts';
import type { QueryResult } from '../../src/node/protocols.ts';

export type QueryEntry = QueryResult['results'][number];

interface Open {
  tag: string | undefined;
  from: ReadonlySet<string> | undefined;
  take: (entry: QueryEntry) => void;
  finish: () => void;
}

/**
 * The queries this node has in flight, by id. Each has a deadline, an optional tag to cancel it
 * by, and its own rule for when it is complete; a reply to a query that finished, or never was,
 * is dropped. Bounded: past `max` open queries a new one fails with ERR_TOO_MANY_QUERIES.
 */
export class QueryTable {
  readonly #open = new Map<number, Open>();
  readonly #max: number;
  #next = 1;

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#open.size;
  }

  /**
   * Open a query. `take` sees each reply and says whether the query is complete; the returned
   * promise resolves when it is, or at the deadline, or when it is cancelled, with
   * whether it completed.
   */
  open(options: {
    timeoutMs: number;
    tag?: string | undefined;
    /** The peers asked: a reply from anyone else is dropped, so no peer can end another's query. Default: anyone. */
    from?: ReadonlySet<string>;
    take: (entry: QueryEntry) => boolean;
  }): { id: number; done: Promise<boolean> } {
    if (this.#open.size >= this.#max) throw new MyDhtError('ERR_TOO_MANY_QUERIES', `${this.#max} queries already in flight`);
    const id = this.#next++;
    let resolveDone!: (complete: boolean) => void;
    const done = new Promise<boolean>((resolve) => (resolveDone = resolve));
    const end = (complete: boolean): void => {
      if (this.#open.get(id) !== entry) return;
      clearTimeout(timer);
      this.#open.delete(id);
      resolveDone(complete);
    };
    const timer = setTimeout(() => end(false), options.timeoutMs);
    const entry: Open = {
      tag: options.tag,
      from: options.from,
      take: (reply) => {
        if (options.take(reply)) end(true);
      },
      finish: () => end(false),
    };
    this.#open.set(id, entry);
    return { id, done };
  }

  /** A reply arrived for query `id`. */
  reply(id: number, entry: QueryEntry): void {
    const open = this.#open.get(id);
    if (open !== undefined && (open.from === undefined || open.from.has(entry.from))) open.take(entry);
  }

  /** End a query early with what it has (false if it had ended already). */
  end(id: number): boolean {
    const entry = this.#open.get(id);
    entry?.finish();
    return entry !== undefined;
  }

  /** End every query with this tag; returns how many. */
  cancel(tag: string): number {
    let cancelled = 0;
    for (const entry of [...this.#open.values()]) {
      if (entry.tag === tag) {
        entry.finish();
        cancelled++;
      }
    }
    return cancelled;
  }

  endAll(): void {
    for (const entry of [...this.#open.values()]) entry.finish();
  }
}
