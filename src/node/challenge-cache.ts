/**
 * Single-use nonces of handshakes in progress: bounded and expiring. A nonce is taken (and so
 * removed) when its answer arrives; a second answer for it, an answer after it expired, or an
 * answer naming a nonce never issued here all find nothing, which the handshake counts and
 * refuses. Entries all live for the same time, so insertion order is expiry order and pruning
 * only ever looks at the oldest.
 */
export interface ChallengeCacheOptions {
  /** Handshakes in progress at most; past it new ones are refused (ERR_HANDSHAKE_BUSY). */
  capacity: number;
  /** How long a nonce stays answerable, ms. libp2p's upgrade timeout is 10-15 s. */
  ttlMs: number;
  now?: () => number;
}

export class ChallengeCache<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: ChallengeCacheOptions) {
    this.#capacity = options.capacity;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? (() => performance.now());
  }

  get size(): number {
    this.#prune();
    return this.#entries.size;
  }

  /** Remember a fresh nonce; false when the cache is full of live handshakes. */
  put(nonce: Uint8Array, value: V): boolean {
    this.#prune();
    if (this.#entries.size >= this.#capacity) return false;
    this.#entries.set(keyOf(nonce), { value, expires: this.#now() + this.#ttlMs });
    return true;
  }

  /**
   * Take a nonce's entry, once. Undefined if it was never issued, already taken, or expired, or
   * if `belongs` refuses it (an answer on the wrong connection), which leaves it in place.
   */
  take(nonce: Uint8Array, belongs: (value: V) => boolean = () => true): V | undefined {
    const key = keyOf(nonce);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    if (!belongs(entry.value)) return undefined;
    this.#entries.delete(key);
    return entry.value;
  }

  /** Forget a nonce without answering it (its connection closed). */
  drop(nonce: Uint8Array): void {
    this.#entries.delete(keyOf(nonce));
  }

  #prune(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (entry.expires > now) return;
      this.#entries.delete(key);
    }
  }
}

function keyOf(nonce: Uint8Array): string {
  // A copy, not a view of nonce.buffer, which would move an on-heap nonce off the heap (toHex).
  return Buffer.from(nonce).toString('base64');
}
