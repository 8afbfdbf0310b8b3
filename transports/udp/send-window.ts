import { Deque } from '../../src/runtime/deque.ts';
import type { UdpLimits } from './limits.ts';
import { RetransmitClock } from './retransmit-clock.ts';

/** A DATA datagram in flight or waiting for the send window. */
export interface Outgoing {
  seq: number;
  fragment: number;
  fragments: number;
  payload: Uint8Array;
  /** Made before the session was sealed: it goes out in the clear, even when sent again later. */
  plain: boolean;
  sentAt: number;
  retries: number;
  deadline: number;
  /** Sent again early for a gap the receiver reported; not again until its timer fires. */
  fast: boolean;
}

/** What the sending half needs from its connection. */
export interface SendEvents {
  /** Put one DATA on the wire (with the connection's current acknowledgement). */
  transmit(outgoing: Outgoing): void;
  /** Count a retransmission. */
  retransmitted(): void;
  /** The peer acknowledged nothing for too long: fail the connection. */
  fail(code: string, reason: string): void;
}

/** Later datagrams the receiver must hold before a missing one is sent again ahead of its timer: TCP's three. */
const FAST_RETRANSMIT_AFTER = 3;

/**
 * The sending half of a UDP connection: bytes in, cut into messages of at most `maxFragments`
 * DATA datagrams, sent within the window (no datagram beyond the oldest unacknowledged one
 * plus `sendWindow`), each sent again with exponential backoff until acknowledged, or until
 * `maxRetransmissions` went unanswered.
 */
export class SendWindow {
  readonly #limits: UdpLimits;
  readonly #events: SendEvents;
  readonly #clock: RetransmitClock;
  readonly #queue = new Deque<Outgoing>();
  readonly #inFlight = new Map<number, Outgoing>();
  #nextSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(limits: UdpLimits, events: SendEvents) {
    this.#limits = limits;
    this.#events = events;
    this.#clock = new RetransmitClock(limits);
  }

  /** The round-trip estimate, for a measure taken outside DATA (the cookie exchange). */
  get clock(): RetransmitClock {
    return this.#clock;
  }

  /** Nothing queued, nothing unacknowledged. */
  get idle(): boolean {
    return this.#inFlight.size === 0 && this.#queue.size === 0;
  }

  /** Cut `bytes` into messages and datagrams, and send what the window allows. */
  push(bytes: Uint8Array, plain: boolean): void {
    const payload = this.#limits.payloadBytes;
    const messageBytes = payload * this.#limits.maxFragments;
    for (let offset = 0; offset < bytes.length; offset += messageBytes) {
      const message = bytes.subarray(offset, offset + messageBytes);
      const fragments = Math.ceil(message.length / payload);
      for (let fragment = 0; fragment < fragments; fragment++) {
        const seq = this.#nextSeq++;
        const slice = message.subarray(fragment * payload, (fragment + 1) * payload);
        this.#queue.push({ seq, fragment, fragments, payload: slice, plain, sentAt: 0, retries: 0, deadline: 0, fast: false });
      }
    }
    if (this.#nextSeq >= 2 ** 32) return this.#events.fail('ERR_UDP_SEQUENCE', 'sequence numbers exhausted: 2^32 datagrams on one connection');
    this.#pump();
  }

  /**
   * An acknowledgement: everything below `ack`, and what `sack` marks beyond it. Returns the
   * payload bytes it acknowledged.
   */
  acknowledged(ack: number, sack: Uint8Array): number {
    let bytes = 0;
    let sample: number | undefined;
    for (const [seq, outgoing] of this.#inFlight) {
      const offset = seq - ack - 1;
      if (seq < ack || (offset >= 0 && offset < sack.length * 8 && (sack[offset >> 3]! & (1 << (offset & 7))) !== 0)) {
        this.#inFlight.delete(seq);
        bytes += outgoing.payload.length;
        // Karn: a datagram sent more than once says nothing certain about the round trip.
        if (outgoing.retries === 0) sample = performance.now() - outgoing.sentAt;
      }
    }
    if (sample !== undefined) this.#clock.sample(sample);
    // Fast retransmit (TCP's, with SACK): the receiver lacks `ack` but holds three or more after
    // it, so `ack` was lost, not delayed; send it now rather than stall the window until its timer.
    const missing = this.#inFlight.get(ack);
    if (missing !== undefined && !missing.fast && popcount(sack) >= FAST_RETRANSMIT_AFTER) {
      missing.fast = true;
      this.#again(missing);
    }
    this.#pump();
    return bytes;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#inFlight.clear();
    this.#queue.drain();
  }

  #pump(): void {
    const oldest = this.#oldestInFlight();
    let next = this.#queue.peek();
    while (next !== undefined && next.seq < oldest + this.#limits.sendWindow && !this.#closed) {
      this.#queue.shift();
      this.#inFlight.set(next.seq, next);
      this.#send(next);
      next = this.#queue.peek();
    }
    this.#arm();
  }

  #oldestInFlight(): number {
    for (const seq of this.#inFlight.keys()) return seq; // a Map keeps insertion order: ascending
    return this.#queue.peek()?.seq ?? this.#nextSeq;
  }

  #again(outgoing: Outgoing): void {
    outgoing.retries++;
    this.#events.retransmitted();
    this.#send(outgoing);
  }

  /** On the wire, and its timer set: the timeout doubles with each time it was sent already. */
  #send(outgoing: Outgoing): void {
    this.#events.transmit(outgoing);
    outgoing.sentAt = performance.now();
    outgoing.deadline = outgoing.sentAt + this.#clock.timeout(outgoing.retries);
  }

  #arm(): void {
    if (this.#inFlight.size === 0 || this.#closed) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#timer !== undefined) return; // firing early is harmless: it re-arms
    let due = Infinity;
    for (const outgoing of this.#inFlight.values()) due = Math.min(due, outgoing.deadline);
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, due - performance.now()));
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const outgoing of this.#inFlight.values()) {
      if (outgoing.deadline > now) continue;
      if (outgoing.retries >= this.#limits.maxRetransmissions) {
        return this.#events.fail('ERR_UDP_UNREACHABLE', `nothing acknowledged after ${outgoing.retries} retransmissions`);
      }
      outgoing.fast = false;
      this.#again(outgoing);
    }
    this.#arm();
  }
}

function popcount(bits: Uint8Array): number {
  let count = 0;
  for (const byte of bits) for (let rest = byte; rest !== 0; rest &= rest - 1) count++;
  return count;
}
