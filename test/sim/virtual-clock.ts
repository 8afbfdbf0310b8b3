/**
 * A virtual clock for the whole process: it replaces the global timers (setTimeout, setInterval,
 * setImmediate and their clears), `Date.now` and `performance.now`, so that time passes only
 * when the simulator says. It must be installed before any mydht module loads: some take the
 * timer functions when they load (src/runtime/deadlines.ts does, to survive test frameworks'
 * fake timers), and they must take these.
 *
 * Timers fire in order of due time, then of creation, each from a real immediate of its own:
 * Node drains nextTicks and microtasks after every immediate, so every promise and nextTick a
 * callback caused has run before the next fires, as in Node. With no real I/O left (in-memory transport, in-memory stores,
 * same-loop spawner), the run is a function of the code and the seed.
 */

interface Entry {
  id: number;
  at: number;
  callback: (...args: unknown[]) => void;
  args: unknown[];
  /** The delay asked for, ms (a refresh starts it again). */
  delay: number;
  /** Repeat every this many ms (setInterval), else once. */
  every: number | undefined;
  refed: boolean;
  cancelled: boolean;
}

/** What setTimeout returns here: enough of Node's Timeout for the code that runs under it. */
class VirtualTimer {
  readonly entry: Entry;
  readonly #clock: VirtualClock;
  constructor(entry: Entry, clock: VirtualClock) {
    this.entry = entry;
    this.#clock = clock;
  }
  ref(): this {
    this.entry.refed = true;
    return this;
  }
  unref(): this {
    this.entry.refed = false;
    return this;
  }
  hasRef(): boolean {
    return this.entry.refed;
  }
  refresh(): this {
    this.#clock.reschedule(this.entry);
    return this;
  }
  [Symbol.toPrimitive](): number {
    return this.entry.id;
  }
}

/** A binary min-heap of entries by (at, id). */
class TimerHeap {
  readonly #items: Entry[] = [];
  get size(): number {
    return this.#items.length;
  }
  push(entry: Entry): void {
    const items = this.#items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }
  peek(): Entry | undefined {
    return this.#items[0];
  }
  pop(): Entry | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && before(items[left]!, items[smallest]!)) smallest = left;
        if (right < items.length && before(items[right]!, items[smallest]!)) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.id < b.id);
}

/** The real event loop's turn, taken before the globals are replaced. */
const realSetImmediate = globalThis.setImmediate;
/** Callbacks fired per turn of the real event loop at most. */
const BATCH = 64;

export class VirtualClock {
  /** Virtual ms since the start of the run. */
  #now = 0;
  /** What Date.now() says at virtual time 0: a fixed date, so records' timestamps repeat too. */
  readonly epoch: number;
  readonly #heap = new TimerHeap();
  #nextId = 1;
  /** Callbacks fired: with the virtual time, the simulator's measure of work. */
  fired = 0;

  constructor(epoch = Date.UTC(2026, 0, 1)) {
    this.epoch = epoch;
  }

  get now(): number {
    return this.#now;
  }

  /** Replace the process's clocks and timers with this one's. */
  install(): void {
    const schedule = (every: number | undefined) => (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
      this.#add(callback, Math.max(0, Number(ms ?? 0) || 0), args, every === undefined ? undefined : Math.max(1, Number(ms ?? 1) || 1));
    const clear = (timer: unknown): void => {
      if (timer instanceof VirtualTimer) timer.entry.cancelled = true;
    };
    const g = globalThis as unknown as Record<string, unknown>;
    g.setTimeout = schedule(undefined);
    g.setInterval = schedule(1);
    g.setImmediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => this.#add(callback, 0, args, undefined);
    g.clearTimeout = clear;
    g.clearInterval = clear;
    g.clearImmediate = clear;
    Date.now = () => this.epoch + Math.floor(this.#now);
    performance.now = () => this.#now;
  }

  /** @internal */
  reschedule(entry: Entry): void {
    entry.cancelled = true;
    const copy: Entry = { ...entry, id: this.#nextId++, at: this.#now + entry.delay, cancelled: false };
    this.#heap.push(copy);
  }

  /**
   * Run timers in order until `done()` holds after a callback, or virtual time would pass
   * `untilMs`, or nothing is left to run. Returns whether `done` was met.
   */
  async run(untilMs: number, done: () => boolean = () => false): Promise<boolean> {
    await turn();
    if (done()) return true;
    return new Promise<boolean>((resolve) => {
      let over = false;
      // Each step fires the next callback due. Node drains nextTicks and microtasks after every
      // immediate, so each step starts with everything the one before caused done; queueing
      // BATCH steps at once runs them in one turn of the loop instead of one turn each.
      const step = (last: boolean): void => {
        if (over) return;
        const result = this.#fireNext(untilMs, done);
        if (result !== undefined) {
          over = true;
          resolve(result);
        } else if (last) {
          for (let i = 1; i <= BATCH; i++) realSetImmediate(step, i === BATCH);
        }
      };
      for (let i = 1; i <= BATCH; i++) realSetImmediate(step, i === BATCH);
    });
  }

  /** Fire the next callback due by `untilMs`; whether `done` held, or undefined to go on. */
  #fireNext(untilMs: number, done: () => boolean): boolean | undefined {
    if (done()) return true;
    for (;;) {
      const next = this.#heap.peek();
      if (next === undefined) return false;
      if (next.cancelled) {
        this.#heap.pop();
        continue;
      }
      if (next.at > untilMs) {
        this.#now = Math.max(this.#now, untilMs);
        return false;
      }
      this.#heap.pop();
      this.#now = Math.max(this.#now, next.at);
      if (next.every !== undefined) this.#heap.push({ ...next, id: this.#nextId++, at: this.#now + next.every });
      this.fired++;
      next.callback(...next.args);
      return undefined;
    }
  }

  /** Let virtual time pass by `ms`, running everything due meanwhile. */
  async advance(ms: number): Promise<void> {
    await this.run(this.#now + ms);
  }

  /** Run until `promise` settles (it is awaited by timers firing), or fail past `withinMs` of virtual time. */
  async settle<T>(promise: Promise<T>, withinMs = 600_000): Promise<T> {
    let settled = false;
    const watched = promise.finally(() => {
      settled = true;
    });
    watched.catch(() => {});
    if (!(await this.run(this.#now + withinMs, () => settled))) {
      if (!settled) throw new Error(`still pending after ${withinMs} ms of virtual time`);
    }
    return watched;
  }

  #add(callback: (...args: unknown[]) => void, ms: number, args: unknown[], every: number | undefined): VirtualTimer {
    const entry: Entry = { id: this.#nextId++, at: this.#now + ms, delay: ms, callback, args, every, refed: true, cancelled: false };
    this.#heap.push(entry);
    return new VirtualTimer(entry, this);
  }
}

/** One real turn of the event loop: every microtask and nextTick queued so far has run after it. */
function turn(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}
