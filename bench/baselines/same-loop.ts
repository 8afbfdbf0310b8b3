import type { EchoMessage, PutMessage } from '../standard-message.ts';
import { POOL_MASK } from '../standard-message.ts';
import type { RawPath } from './raw-path.ts';

/** The producer awaits only when this many messages are queued (limits.md). */
const HIGH_WATER = 1024;

/**
 * A raw async channel on one loop: an array, one waiting consumer and one waiting producer. The
 * consumer takes everything queued per wake-up; the producer waits only at the high-water mark.
 */
class Channel<T> {
  #items: T[] = [];
  #head = 0;
  #reader: (() => void) | undefined;
  #writer: (() => void) | undefined;

  /** False when the producer should wait for `room()`. */
  push(item: T): boolean {
    this.#items.push(item);
    const reader = this.#reader;
    if (reader !== undefined) {
      this.#reader = undefined;
      reader();
    }
    return this.#items.length - this.#head < HIGH_WATER;
  }

  room(): Promise<void> {
    return new Promise((resolve) => (this.#writer = resolve));
  }

  /** Everything queued now, or wait for more. */
  async take(handle: (item: T) => void): Promise<void> {
    const items = this.#items;
    if (this.#head === items.length) {
      const writer = this.#writer;
      this.#writer = undefined;
      writer?.();
      await new Promise<void>((resolve) => (this.#reader = resolve));
    }
    while (this.#head < items.length) handle(items[this.#head++]!);
    items.length = 0;
    this.#head = 0;
  }
}

/**
 * Same-loop baselines: a raw async channel for one way, and a promise-based ping-pong through a
 * bare mailbox (an array and one microtask per drain) for round trips.
 */
export async function openSameLoopPath(): Promise<RawPath> {
  const channel = new Channel<PutMessage>();
  let counted = 0;
  let target = 0;
  let reached: (() => void) | undefined;
  let closed = false;
  const count = (message: PutMessage): void => {
    if (message.type === 'put' && ++counted === target) reached?.();
  };
  void (async () => {
    while (!closed) await channel.take(count);
  })();

  const mailbox: { message: EchoMessage; reply: (value: Uint8Array) => void }[] = [];
  let scheduled = false;
  const drain = (): void => {
    scheduled = false;
    for (const { message, reply } of mailbox) reply(message.value);
    mailbox.length = 0;
  };

  return {
    oneWayName: 'raw async channel, producer awaits at 1024 queued',
    roundTripName: 'promise ping-pong through a bare mailbox',
    async oneWay(messages, total) {
      target = counted + total;
      const done = new Promise<void>((resolve) => (reached = resolve));
      for (let i = 0; i < total; i++) {
        if (!channel.push(messages[i & POOL_MASK]!)) await channel.room();
      }
      await done;
    },
    roundTrip(message) {
      return new Promise((reply) => {
        mailbox.push({ message, reply });
        if (!scheduled) {
          scheduled = true;
          queueMicrotask(drain);
        }
      });
    },
    async close() {
      closed = true;
      channel.push({ type: 'put', key: new Uint8Array(0), value: new Uint8Array(0) });
    },
  };
}
