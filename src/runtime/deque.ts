/**
 * A ring grown past this many slots is replaced by a new one of the same size whenever it empties.
 * A new array sits in the young generation, and a message (young too) stored into it needs no
 * remembered-set entry; stored into a ring that has been promoted to old space, every message
 * took that slow write barrier: ~9% of the daisy chain's time. Small rings, those of services fed
 * one command at a time, are kept: replacing them would be garbage per command.
 */
const MIN_FRESH = 16;

/**
 * A FIFO ring buffer that grows by doubling and never shifts. `Array#shift` is O(n) on long
 * arrays; mailboxes sit on the hottest path of the runtime.
 *
 * Its methods are protected so that a class which is a queue but must not offer one to its
 * callers (the Mailbox, whose bound they would bypass) can inherit it and keep the ring in its
 * own object. With thousands of mailboxes taking turns, a queue held in an object of its own is
 * one more cache miss per command: ~10% of the same-loop fan-in figure. Deque is the public face.
 */
export class Ring<T> {
  #items: (T | undefined)[];
  #head = 0;
  #size = 0;

  constructor(initialCapacity = 16) {
    let capacity = 1;
    // Grows on demand past this; the cap only keeps the doubling from overflowing.
    while (capacity < initialCapacity && capacity < 1 << 30) capacity *= 2;
    this.#items = new Array<T | undefined>(capacity);
  }

  protected get ringSize(): number {
    return this.#size;
  }

  protected ringPush(item: T): void {
    if (this.#size === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#size) & (this.#items.length - 1)] = item;
    this.#size++;
  }

  protected ringShift(): T | undefined {
    if (this.#size === 0) return undefined;
    const items = this.#items;
    const head = this.#head;
    const item = items[head];
    items[head] = undefined;
    if (--this.#size === 0 && items.length > MIN_FRESH) {
      this.#head = 0;
      this.#items = new Array<T | undefined>(items.length);
    } else {
      this.#head = (head + 1) & (items.length - 1);
    }
    return item;
  }

  protected ringPeek(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  #grow(): void {
    const old = this.#items;
    const items = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.#size; i++) items[i] = old[(this.#head + i) & (old.length - 1)];
    this.#items = items;
    this.#head = 0;
  }
}

export class Deque<T> extends Ring<T> {
  get size(): number {
    return this.ringSize;
  }

  push(item: T): void {
    this.ringPush(item);
  }

  shift(): T | undefined {
    return this.ringShift();
  }

  peek(): T | undefined {
    return this.ringPeek();
  }

  /** Remove and return everything, oldest first. */
  drain(): T[] {
    const out: T[] = [];
    while (this.ringSize > 0) out.push(this.ringShift() as T);
    return out;
  }
}
