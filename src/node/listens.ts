import { MyDhtError } from '../runtime/errors.ts';
import type { ServiceHandle } from '../runtime/spawner.ts';
import { ListenSubscription, type ListenConsumer } from './listen-subscription.ts';
import type { LookupReply, NodeEvent, NodeProtocols } from './protocols.ts';

/** A listen's local queue, per subscriber. */
export const DEFAULT_LISTEN_QUEUE = 256;
/** Listens are renewed (and re-registered with the closest nodes of the moment) this often, ms; they live twice as long. */
export const DEFAULT_LISTEN_REFRESH_MS = 30_000;

/**
 * The node's side of listen: per listened key, its local subscribers, its registration at the
 * closest nodes, and the renewal that keeps it there. The first subscriber of a key registers it;
 * the last one to leave ends it.
 */
export class Listens {
  readonly #service: () => ServiceHandle<NodeProtocols['listen']>;
  readonly #lookup: (key: Uint8Array) => Promise<LookupReply>;
  readonly #refreshMs: number;
  /** Local subscribers of each listened key (hex). */
  readonly #consumers = new Map<string, Set<ListenConsumer>>();
  /** The first registration of each key, which its later subscribers wait on too. */
  readonly #registrations = new Map<string, Promise<{ holders: number }>>();
  readonly #renewals = new Map<string, ReturnType<typeof setInterval>>();

  constructor(parts: { service: () => ServiceHandle<NodeProtocols['listen']>; lookup: (key: Uint8Array) => Promise<LookupReply>; refreshMs?: number | undefined }) {
    this.#service = parts.service;
    this.#lookup = parts.lookup;
    this.#refreshMs = parts.refreshMs ?? DEFAULT_LISTEN_REFRESH_MS;
  }

  subscribe(key: Uint8Array, options: { signal?: AbortSignal; queueLength?: number }): ListenSubscription {
    const id = Buffer.from(key).toString('hex');
    let consumers = this.#consumers.get(id);
    if (consumers === undefined) {
      consumers = new Set();
      this.#consumers.set(id, consumers);
    }
    const shared = consumers;
    let registration = this.#registrations.get(id);
    if (registration === undefined) {
      registration = this.#register(key).then((registered) => {
        const renewal = setInterval(() => void this.#register(key).catch(() => {}), this.#refreshMs);
        renewal.unref();
        this.#renewals.set(id, renewal);
        return registered;
      });
      this.#registrations.set(id, registration);
    }
    return new ListenSubscription({
      queueLength: options.queueLength ?? DEFAULT_LISTEN_QUEUE,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      attach: (consumer) => shared.add(consumer),
      detach: async (consumer) => {
        shared.delete(consumer);
        if (shared.size > 0 || this.#consumers.get(id) !== shared) return;
        this.#consumers.delete(id);
        this.#registrations.delete(id);
        clearInterval(this.#renewals.get(id));
        this.#renewals.delete(id);
        await this.#service().call({ type: 'unregister', key }).catch(() => {});
      },
      ready: registration,
    });
  }

  /** A push for a listened key, from the listen service: to each local subscriber. */
  deliver(event: Extract<NodeEvent, { type: 'listen' }>): void {
    for (const consumer of this.#consumers.get(event.key) ?? []) consumer(event);
  }

  stop(): void {
    for (const renewal of this.#renewals.values()) clearInterval(renewal);
    this.#renewals.clear();
  }

  /** Register at the k nodes closest to `key` now; ERR_LISTEN_FAILED (or the holders' code) if none took it, this node aside. */
  async #register(key: Uint8Array): Promise<{ holders: number }> {
    const { closest } = await this.#lookup(key);
    const { registered, errors } = await this.#service().call(
      { type: 'register', key, holders: closest, ttlMs: 2 * this.#refreshMs, timeoutMs: 5_000 },
      { timeout: 15_000 },
    );
    if (registered <= 1 && closest.length > 0) {
      throw new MyDhtError(errors[0] ?? 'ERR_LISTEN_FAILED', `no node closest to the key took the listen (${[...new Set(errors)].join(', ')})`);
    }
    return { holders: registered };
  }
}
