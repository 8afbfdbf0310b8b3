import type { DhtRecord } from '../dht/records.ts';
import type { NodeEvent } from './protocols.ts';

/** What a listen yields: a record, or how many records this subscriber lost for being slow. */
export type ListenItem = { type: 'record'; record: DhtRecord } | { type: 'lagged'; lost: number };

/** Where the node hands a listened key's pushes to each local subscriber. */
export type ListenConsumer = (event: Extract<NodeEvent, { type: 'listen' }>) => void;

/**
 * One local subscriber of a listened key: its own bounded queue (a slow reader loses its own
 * oldest entries and is told how many, nobody else waits), iterated once.
 */
export class ListenSubscription implements AsyncIterable<ListenItem> {
  /** Resolves once the listen is registered at the nodes closest to its key, with how many took it (this node among them). */
  readonly ready: Promise<{ holders: number }>;
  readonly #queue: ListenItem[] = [];
  readonly #capacity: number;
  readonly #detach: (consumer: ListenConsumer) => Promise<void>;
  readonly #consumer: ListenConsumer;
  readonly #signal: AbortSignal | undefined;
  #lost = 0;
  #closed = false;
  #wake: (() => void) | undefined;

  constructor(options: {
    queueLength: number;
    signal?: AbortSignal;
    attach: (consumer: ListenConsumer) => void;
    detach: (consumer: ListenConsumer) => Promise<void>;
    ready: Promise<{ holders: number }>;
  }) {
    this.#capacity = options.queueLength;
    this.#detach = options.detach;
    this.#signal = options.signal;
    this.#consumer = (event) => {
      this.#lost += event.lagged ?? 0;
      if (event.record !== undefined) {
        if (this.#queue.length >= this.#capacity) {
          this.#queue.shift();
          this.#lost++;
        }
        this.#queue.push({ type: 'record', record: event.record });
      }
      this.#wake?.();
    };
    options.attach(this.#consumer);
    this.ready = options.ready;
    // A failed registration ends the subscription; `ready` and the loop report it.
    this.ready.catch(() => void this.close());
    options.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  /** Stop listening (the key's registration ends with its last local subscriber). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    await this.#detach(this.#consumer);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ListenItem> {
    try {
      await this.ready;
      while (!this.#closed && this.#signal?.aborted !== true) {
        if (this.#lost > 0) {
          const lost = this.#lost;
          this.#lost = 0;
          yield { type: 'lagged', lost };
          continue;
        }
        const next = this.#queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    } finally {
      await this.close();
    }
  }
}
