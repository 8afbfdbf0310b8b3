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
  /**
   * Bucket keys in ascending order, one per 10 ms that had a deadline in it. A key stays until its
   * time comes even when its bucket empties and is dropped: re-arming the timer on every removal
   * is what this wheel avoids, and a key is 8 bytes where an empty Set kept for 30 s was ~90.
   */
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
      this.#dropIfEmpty(this.#order.at(-1));
      this.#buckets.set(key, bucket);
      if (this.#insertKey(key) && key < this.#armedFor) this.#arm(key);
    }
    bucket.add(item);
    if (this.#live++ === 0) this.#timer?.ref();
    return key;
  }

  remove(item: Expirable, key: number): void {
    const bucket = this.#buckets.get(key);
    if (bucket?.delete(item) !== true) return;
    // The latest bucket is where new deadlines land, one call after another: it is kept while it
    // is the latest (add drops it once a later one is made). Any other is dropped once empty.
    if (bucket.size === 0 && key !== this.#order.at(-1)) this.#buckets.delete(key);
    if (--this.#live === 0) this.#timer?.unref();
  }

  /** Known buckets: how many deadlines' 10 ms slots hold a Set now. */
  get buckets(): number {
    return this.#buckets.size;
  }

  #dropIfEmpty(key: number | undefined): void {
    if (key !== undefined && this.#buckets.get(key)?.size === 0) this.#buckets.delete(key);
  }

  /** Put `key` in order; false if it was there already (its bucket emptied, and is back). */
  #insertKey(key: number): boolean {
    const order = this.#order;
    // New deadlines are almost always the latest: append, else binary insert.
    const last = order.length === 0 ? Number.NEGATIVE_INFINITY : order[order.length - 1]!;
    if (last < key) {
      order.push(key);
      return true;
    }
    if (last === key) return false;
    let low = 0;
    let high = order.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (order[mid]! < key) low = mid + 1;
      else high = mid;
    }
    if (order[low] === key) return false;
    order.splice(low, 0, key);
    return true;
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
      const bucket = this.#buckets.get(key);
      if (bucket === undefined) continue;
      this.#buckets.delete(key);
      this.#live -= bucket.size;
      for (const item of bucket) item.expire();
    }
    if (order.length > 0) this.#arm(order[0]!);
  };
}

/** The wheel of this thread: calls of every service share it. */
export const deadlines = new DeadlineWheel();
