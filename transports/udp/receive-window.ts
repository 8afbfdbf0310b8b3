import type { DataBody } from './packet.ts';
import type { UdpLimits } from './limits.ts';

/** What the receiving half reports to its connection. */
export interface ReceiveEvents {
  /** A whole message, in order. */
  deliver(message: Uint8Array): void;
  /** Count a datagram dropped for `code`. */
  drop(code: string): void;
  /** The stream cannot go on (a fragment out of place, a gap never filled): fail the connection. */
  fail(code: string, reason: string): void;
}

/**
 * The receiving half of a UDP connection: DATA datagrams in, whole messages out, in order.
 * Datagrams that arrive early wait, at most a receive window of them; duplicates are known by
 * sequence number and dropped (the caller acknowledges them again). Fragments are joined into
 * their message, and a gap that stays unfilled past the reassembly timeout fails the stream,
 * freeing all it held.
 */
export class ReceiveWindow {
  readonly #limits: UdpLimits;
  readonly #events: ReceiveEvents;
  /** Every sequence number below this arrived and was passed on. */
  #next = 0;
  readonly #early = new Map<number, DataBody>();
  #partial: Uint8Array[] = [];
  #partialFragments = 0;
  #gapTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(limits: UdpLimits, events: ReceiveEvents) {
    this.#limits = limits;
    this.#events = events;
  }

  /** The next sequence number expected: the cumulative acknowledgement. */
  get next(): number {
    return this.#next;
  }

  /** Whether datagrams past a gap are held: then only a full bitmap acknowledges all that arrived. */
  get holdsEarly(): boolean {
    return this.#early.size > 0;
  }

  /** Whether `seq` arrived already (and should only be acknowledged again). */
  isDuplicate(seq: number): boolean {
    return seq < this.#next || this.#early.has(seq);
  }

  /** Take one DATA; returns false when it was dropped rather than taken or known. */
  take(body: DataBody): boolean {
    if (this.isDuplicate(body.seq)) return true;
    if (body.fragments > this.#limits.maxFragments) return this.#dropped('ERR_UDP_FRAGMENTS');
    if (body.seq >= this.#next + this.#limits.receiveWindow) return this.#dropped('ERR_UDP_WINDOW');
    this.#early.set(body.seq, body);
    let next = this.#early.get(this.#next);
    while (next !== undefined && !this.#closed) {
      this.#early.delete(this.#next++);
      this.#reassemble(next);
      next = this.#early.get(this.#next);
    }
    this.#watchGap();
    return true;
  }

  /** Which early datagrams arrived, as a bitmap of at most `bytes` bytes (see packet.ts). */
  sack(bytes: number): Uint8Array {
    const bits = new Uint8Array(bytes);
    let used = 0;
    for (const seq of this.#early.keys()) {
      const offset = seq - this.#next - 1;
      if (offset >= bytes * 8) continue;
      bits[offset >> 3]! |= 1 << (offset & 7);
      used = Math.max(used, (offset >> 3) + 1);
    }
    return bits.subarray(0, used);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#gapTimer);
    this.#early.clear();
    this.#partial = [];
  }

  #dropped(code: string): false {
    this.#events.drop(code);
    return false;
  }

  #reassemble(body: DataBody): void {
    if (this.#partial.length === 0) this.#partialFragments = body.fragments;
    if (body.fragment !== this.#partial.length || body.fragments !== this.#partialFragments) {
      return this.#events.fail('ERR_UDP_MALFORMED', `fragment ${body.fragment}/${body.fragments} out of place`);
    }
    this.#partial.push(body.payload);
    if (this.#partial.length < this.#partialFragments) return;
    const message = this.#partial.length === 1 ? this.#partial[0]! : Buffer.concat(this.#partial);
    this.#partial = [];
    this.#events.deliver(message);
  }

  /** Something waits for a missing datagram: if nothing moves for the reassembly timeout, give up. */
  #watchGap(): void {
    if (this.#closed || this.#gapTimer !== undefined || (this.#early.size === 0 && this.#partial.length === 0)) return;
    const mark = this.#next;
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = undefined;
      if (this.#next !== mark) return this.#watchGap();
      this.#events.fail('ERR_UDP_REASSEMBLY_TIMEOUT', `an unfinished message waited ${this.#limits.reassemblyTimeoutMs} ms for datagram ${mark}`);
    }, this.#limits.reassemblyTimeoutMs);
    this.#gapTimer.unref();
  }
}
