/**
 * One timer for every pending call's deadline, instead of a setTimeout per call (arming and
 * clearing one costs ~250 ns, half of a same-loop round trip). Deadlines are rounded up to 10 ms
 * buckets: a call never expires early, and at most 10 ms late.
 */
export interface Expirable {
  expire(): void;
}

/** Deadline resolution. */
const BUCKET_MS = 10;

// Taken when this module loads: timers faked later (by a test framework) cannot take the one
// shared timer with them, which would stall every deadline after it.
const setRealTimeout = globalThis.setTimeout;
const clearRealTimeout = globalThis.clearTimeout;
const realNow = performance.now.bind(performance);

export class DeadlineWheel {
  readonly #buckets = new Map<number, Set<Expirable>>();
  /** Bucket keys in ascending order; buckets are few (one per 10 ms that has a deadline in it). */
  readonly #order: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  /** Items registered and not yet removed or expired: the timer keeps the process alive only while some are. */
  #live = 0;

  /** Register `item` to expire after `ms`; returns the key to remove it with. */
  add(item: Expirable, ms: number): number {
    const key = Math.ceil((realNow() + ms) / BUCKET_MS);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(key, bucket);
      this.#insertKey(key);
      if (key < this.#armedFor) this.#arm(key);
    }
    bucket.add(item);
    if (this.#live++ === 0) this.#timer?.ref();
    return key;
  }

  remove(item: Expirable, key: number): void {
    // An emptied bucket stays until its time comes: re-arming the timer per call is what this avoids.
    if (this.#buckets.get(key)?.delete(item) === true && --this.#live === 0) this.#timer?.unref();
  }

  #insertKey(key: number): void {
    const order = this.#order;
    // New deadlines are almost always the latest: append, else binary insert.
    if (order.length === 0 || order[order.length - 1]! < key) {
      order.push(key);
      return;
    }
    let low = 0;
    let high = order.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (order[mid]! < key) low = mid + 1;
      else high = mid;
    }
    order.splice(low, 0, key);
  }

  #arm(key: number): void {
    if (this.#timer !== undefined) clearRealTimeout(this.#timer);
    this.#armedFor = key;
    this.#timer = setRealTimeout(this.#fire, Math.max(0, key * BUCKET_MS - realNow()));
    if (this.#live === 0) this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = realNow() / BUCKET_MS;
    const order = this.#order;
    let due = 0;
    while (due < order.length && order[due]! <= now) due++;
    for (const key of order.splice(0, due)) {
      const bucket = this.#buckets.get(key)!;
      this.#buckets.delete(key);
      this.#live -= bucket.size;
      for (const item of bucket) item.expire();
    }
    if (order.length > 0) this.#arm(order[0]!);
  };
}

/** The wheel of this thread: calls of every service share it. */
export const deadlines = new DeadlineWheel();
