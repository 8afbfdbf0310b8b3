import { Deque } from './deque.ts';
import { DEFAULT_MAX_WAITING_SENDERS } from './mailbox.ts';
import type { PendingCall } from './reply.ts';

interface Unsent {
  bytes: Uint8Array;
  call: PendingCall | undefined;
  resume: () => void;
  refuse: (error: unknown) => void;
}

/**
 * Encoded commands waiting for credit (or for a restart) before they can go to a worker or
 * child: the waiting senders of a linked service, in order. Bounded like a mailbox's waiters.
 */
export class UnsentQueue {
  readonly #items = new Deque<Unsent>();
  #emptied: (() => void)[] = [];

  get size(): number {
    return this.#items.size;
  }

  get full(): boolean {
    return this.#items.size >= DEFAULT_MAX_WAITING_SENDERS;
  }

  /** Wait for a turn; resolves when the command has been handed on, rejects if refused. */
  wait(bytes: Uint8Array, call: PendingCall | undefined): Promise<void> {
    return new Promise((resume, refuse) => this.#items.push({ bytes, call, resume, refuse }));
  }

  /**
   * Hand on commands while `room()` says so: `transmit` the live ones; a call whose caller gave
   * up meanwhile is dropped instead (`awaited` says a call's caller waits for the reply).
   * Returns how many were dropped.
   */
  pump(room: () => boolean, transmit: (bytes: Uint8Array, awaited: boolean) => void): number {
    let dropped = 0;
    while (this.#items.size > 0 && room()) {
      const next = this.#items.shift()!;
      if (next.call?.abandoned) dropped++;
      else transmit(next.bytes, next.call !== undefined);
      next.resume();
    }
    if (this.#items.size === 0) this.#wakeEmptied();
    return dropped;
  }

  /** Fail everything waiting with `error`; returns how many there were. */
  refuseAll(error: unknown): number {
    let refused = 0;
    while (this.#items.size > 0) {
      const next = this.#items.shift()!;
      next.call?.reject(error);
      next.refuse(error);
      refused++;
    }
    this.#wakeEmptied();
    return refused;
  }

  /** The calls still waiting: they have not been sent, so a crash does not lose them. */
  calls(): Set<PendingCall> {
    const calls = new Set<PendingCall>();
    for (let i = 0; i < this.#items.size; i++) {
      const next = this.#items.shift()!;
      if (next.call !== undefined) calls.add(next.call);
      this.#items.push(next);
    }
    return calls;
  }

  whenEmpty(): Promise<void> {
    if (this.#items.size === 0) return Promise.resolve();
    return new Promise((wake) => this.#emptied.push(wake));
  }

  #wakeEmptied(): void {
    const waiters = this.#emptied;
    this.#emptied = [];
    for (const wake of waiters) wake();
  }
}
