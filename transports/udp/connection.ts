import { AbortedError } from '../../src/runtime/errors.ts';
import { Deque } from '../../src/runtime/deque.ts';
import { WRITE_HIGH_WATER_MARK, type Connection, type SessionKeys } from '../../src/net/transport.ts';
import { TransportError } from '../tcp.ts';
import { DATA_SACK_BYTES, decodeBody, encodeBody, HEADER_BYTES, MAX_SACK_BYTES, plainDatagram, readHeader, type Body, type DataBody, type Header } from './packet.ts';
import { DatagramSeal } from './seal.ts';
import type { UdpLimits } from './limits.ts';
import { RetransmitClock } from './retransmit-clock.ts';

/** What a connection needs from its transport. */
export interface ConnectionEnvironment {
  limits: UdpLimits;
  /** Send one datagram to the other end (the transport counts it, and may lose it on purpose). */
  send(datagram: Uint8Array): void;
  /** Count a datagram dropped for `code`. */
  drop(code: string): void;
  /** Count a retransmission. */
  retransmitted(): void;
  /** The connection is gone: take it out of the tables. */
  forget(): void;
}

/** A DATA datagram in flight or waiting for the send window. */
interface Outgoing {
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

/** Sealed datagrams held while this end still waits for its session keys (see `seal`). */
const MAX_EARLY_SEALED = 64;
/** Later datagrams the receiver must hold before a missing one is sent again ahead of its timer: TCP's three. */
const FAST_RETRANSMIT_AFTER = 3;
/**
 * A HELLO unanswered is sent again after this, doubling each time up to the cap, ms. Short: a
 * dial needs two round trips to succeed in a row, so at 10% loss one in five dials loses one.
 */
const HELLO_RETRY_MS = 100;
const HELLO_RETRY_CAP_MS = 1_000;

let nextId = 1;

/**
 * One connection over UDP: a reliable, ordered stream of the node's bytes. Writes made in one
 * turn of the event loop are cut into messages of at most `maxFragments` datagrams; each DATA
 * datagram has a sequence number, is acknowledged (cumulatively, plus a 32-bit selective
 * bitmap, piggybacked on DATA or in an ACK sent once per turn), and is sent again with
 * exponential backoff until it is, or until `maxRetransmissions` have gone unanswered and the
 * connection fails. The receiver keeps a bounded window of early datagrams, drops duplicates by
 * sequence number, and reassembles messages in order; a gap that stays unfilled past the
 * reassembly timeout fails the connection and frees what it held.
 *
 * Once the node's handshake has opened the session, `seal` installs its keys: from then every
 * datagram this end makes is sealed, and only sealed ones are taken (a duplicate of what already
 * arrived in the clear is acknowledged, nothing more).
 */
export class UdpConnection implements Connection {
  readonly id = `udp-${nextId++}`;
  readonly direction: 'inbound' | 'outbound';
  readonly remoteAddress: string;
  readonly localAddress: string;
  /** The connection id as hex: with the remote address, the key of this connection. */
  readonly key: string;
  onData: ((chunk: Uint8Array) => void) | undefined;
  onClose: ((error?: Error) => void) | undefined;
  onDrain: (() => void) | undefined;

  readonly #connectionId: Uint8Array;
  readonly #env: ConnectionEnvironment;
  readonly #limits: UdpLimits;
  #state: 'dialing' | 'open' | 'closing' | 'closed';
  #seal: DatagramSeal | undefined;
  #earlySealed: Uint8Array[] = [];
  #dial:
    | {
        resolve: () => void;
        reject: (error: Error) => void;
        cookie: Uint8Array | undefined;
        timer: NodeJS.Timeout | undefined;
        /** When the HELLO carrying the cookie first went out, and whether it went out again. */
        echoedAt: number | undefined;
        echoedAgain: boolean;
      }
    | undefined;

  // Sending.
  #pending: Uint8Array[] = [];
  #flushScheduled = false;
  readonly #queue = new Deque<Outgoing>();
  readonly #inFlight = new Map<number, Outgoing>();
  #nextSeq = 0;
  /** Bytes written and not yet acknowledged: what `write` compares with the high-water mark. */
  #unacknowledged = 0;
  #blocked = false;
  readonly #clock: RetransmitClock;
  #timer: NodeJS.Timeout | undefined;

  // Receiving.
  #nextReceive = 0;
  readonly #early = new Map<number, DataBody>();
  #partial: Uint8Array[] = [];
  #partialFragments = 0;
  #ackOwed = false;
  #ackScheduled = false;
  #gapTimer: NodeJS.Timeout | undefined;
  /** Listener: when ACCEPT went out; -1 once it went out twice or the round trip was measured. */
  #acceptedAt: number | undefined;

  constructor(
    direction: 'inbound' | 'outbound',
    connectionId: Uint8Array,
    addresses: { remote: string; local: string },
    env: ConnectionEnvironment,
  ) {
    this.direction = direction;
    this.#connectionId = connectionId;
    this.key = Buffer.from(connectionId).toString('hex');
    this.remoteAddress = addresses.remote;
    this.localAddress = addresses.local;
    this.#env = env;
    this.#limits = env.limits;
    this.#clock = new RetransmitClock(env.limits);
    this.#state = direction === 'outbound' ? 'dialing' : 'open';
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  get #fromDialer(): boolean {
    return this.direction === 'outbound';
  }

  /** Dialer: HELLO, echo the cookie, and wait for ACCEPT. */
  open(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError(signal.reason));
      const onAbort = (): void => this.fail('ERR_ABORTED', 'dial aborted', new AbortedError(signal?.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      const deadline = setTimeout(() => this.fail('ERR_DIAL_TIMEOUT', `no answer from ${this.remoteAddress} in ${timeoutMs} ms`), timeoutMs);
      const done = (): void => {
        clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(this.#dial?.timer);
        this.#dial = undefined;
      };
      this.#dial = {
        resolve: () => (done(), resolve()),
        reject: (error) => (done(), reject(error)),
        cookie: undefined,
        timer: undefined,
        echoedAt: undefined,
        echoedAgain: false,
      };
      this.#hello(HELLO_RETRY_MS);
    });
  }

  #hello(retryMs: number): void {
    const dial = this.#dial;
    if (dial === undefined) return;
    this.#env.send(plainDatagram({ type: 'hello', cookie: dial.cookie }, this.#connectionId, true));
    if (dial.cookie !== undefined) {
      if (dial.echoedAt === undefined) dial.echoedAt = performance.now();
      else dial.echoedAgain = true;
    }
    clearTimeout(dial.timer);
    dial.timer = setTimeout(() => this.#hello(Math.min(HELLO_RETRY_CAP_MS, retryMs * 2)), retryMs);
  }

  /**
   * Listener: the dialer's address is validated; tell it so (again, if it asks again). The
   * dialer writes its first DATA the moment ACCEPT arrives, so ACCEPT to that DATA is this end's
   * first measure of the round trip, if ACCEPT went out once (Karn).
   */
  accept(): void {
    if (this.#seal !== undefined) return;
    this.#env.send(plainDatagram({ type: 'accept' }, this.#connectionId, false));
    this.#acceptedAt = this.#acceptedAt === undefined ? performance.now() : -1;
  }

  seal(keys: SessionKeys): void {
    if (this.#seal !== undefined || this.#state === 'closed') return;
    // What was written before this call was written before the session: it leaves in the clear.
    this.#flush();
    this.#seal = new DatagramSeal(keys);
    const early = this.#earlySealed.splice(0);
    for (const datagram of early) this.receive(readHeader(datagram), datagram);
  }

  write(bytes: Uint8Array): boolean {
    if (this.#state !== 'open') return false;
    if (bytes.length > 0) {
      this.#pending.push(bytes);
      this.#unacknowledged += bytes.length;
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => process.nextTick(() => this.#flush()));
      }
    }
    if (this.#unacknowledged < WRITE_HIGH_WATER_MARK) return true;
    this.#blocked = true;
    return false;
  }

  close(reset = false): void {
    if (this.#state === 'closed') return;
    if (reset || this.#state === 'dialing') return this.#end(undefined);
    if (this.#state === 'closing') return;
    this.#flush();
    this.#state = 'closing';
    this.#closeIfDrained();
  }

  /** A datagram for this connection, its header already read. */
  receive(header: Header, datagram: Uint8Array): void {
    if (this.#state === 'closed') return;
    let bytes: Uint8Array;
    if (header.sealed) {
      if (this.#seal === undefined) {
        // The other end opened its session first; ours opens once our node has checked the
        // handshake's last message, moments later.
        if (this.#earlySealed.length < MAX_EARLY_SEALED) this.#earlySealed.push(datagram);
        else this.#env.drop('ERR_UDP_EARLY_SEALED');
        return;
      }
      const opened = this.#seal.open(datagram);
      if (typeof opened === 'string') return this.#env.drop(opened);
      bytes = opened;
    } else {
      bytes = datagram.subarray(HEADER_BYTES);
    }
    let body: Body;
    try {
      body = decodeBody(header.type, bytes);
    } catch {
      return this.#env.drop('ERR_UDP_MALFORMED');
    }
    if (!header.sealed && this.#seal !== undefined) {
      // In the clear after the session opened: only a repeat of what came before it is answered.
      if (body.type === 'data' && body.seq < this.#nextReceive) return this.#oweAck();
      return this.#env.drop('ERR_UDP_UNSEALED');
    }
    this.#handle(body);
  }

  #handle(body: Body): void {
    switch (body.type) {
      case 'hello':
        if (this.direction === 'inbound') this.accept();
        return;
      case 'cookie':
        if (this.#dial !== undefined) {
          this.#dial.cookie = body.cookie;
          this.#hello(HELLO_RETRY_MS);
        }
        return;
      case 'accept':
        if (this.#state === 'dialing') {
          this.#state = 'open';
          // The cookie's round trip is the first measure of this path (Karn: only if sent once).
          const dial = this.#dial;
          if (dial?.echoedAt !== undefined && !dial.echoedAgain) this.#clock.sample(performance.now() - dial.echoedAt);
          dial?.resolve();
        }
        return;
      case 'data':
        if (this.#acceptedAt !== undefined) {
          if (this.#acceptedAt >= 0) this.#clock.sample(performance.now() - this.#acceptedAt);
          this.#acceptedAt = -1;
        }
        this.#acknowledged(body.ack, body.sack);
        return this.#data(body);
      case 'ack':
        return this.#acknowledged(body.ack, body.sack);
      case 'close':
        return this.#end(undefined);
    }
  }

  /** Close with an error: bad input, a dead peer, a failed dial. */
  fail(code: string, reason: string, error: Error = new TransportError(code, reason)): void {
    if (this.#state === 'closed') return;
    this.#env.drop(code);
    this.#end(error);
  }

  // ---- sending ---------------------------------------------------------------------------

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0) return;
    const bytes = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    const payload = this.#limits.payloadBytes;
    const messageBytes = payload * this.#limits.maxFragments;
    for (let offset = 0; offset < bytes.length; offset += messageBytes) {
      const message = bytes.subarray(offset, offset + messageBytes);
      const fragments = Math.ceil(message.length / payload);
      for (let fragment = 0; fragment < fragments; fragment++) {
        this.#queue.push({
          seq: this.#nextSeq++,
          fragment,
          fragments,
          payload: message.subarray(fragment * payload, (fragment + 1) * payload),
          plain: this.#seal === undefined,
          sentAt: 0,
          retries: 0,
          deadline: 0,
          fast: false,
        });
      }
    }
    if (this.#nextSeq >= 2 ** 32) this.fail('ERR_UDP_SEQUENCE', 'sequence numbers exhausted: 2^32 datagrams on one connection');
    this.#pump();
  }

  /** Send what the window allows: no datagram beyond the oldest unacknowledged one plus the window. */
  #pump(): void {
    const oldest = this.#oldestInFlight();
    let next = this.#queue.peek();
    while (next !== undefined && next.seq < oldest + this.#limits.sendWindow && this.#state !== 'closed') {
      this.#queue.shift();
      this.#inFlight.set(next.seq, next);
      this.#transmit(next);
      next = this.#queue.peek();
    }
    this.#arm();
  }

  #oldestInFlight(): number {
    for (const seq of this.#inFlight.keys()) return seq; // a Map keeps insertion order: ascending
    return this.#queue.peek()?.seq ?? this.#nextSeq;
  }

  #transmit(outgoing: Outgoing): void {
    const body: DataBody = {
      type: 'data',
      seq: outgoing.seq,
      fragment: outgoing.fragment,
      fragments: outgoing.fragments,
      ack: this.#nextReceive,
      sack: this.#sack(DATA_SACK_BYTES),
      payload: outgoing.payload,
    };
    this.#env.send(this.#datagram(body, outgoing.plain));
    outgoing.sentAt = performance.now();
    outgoing.deadline = outgoing.sentAt + this.#clock.timeout(outgoing.retries);
    // A DATA's 32 bits tell all only when nothing early lies beyond them.
    if (this.#early.size === 0) this.#ackOwed = false;
  }

  #datagram(body: Body, plain = false): Uint8Array {
    return this.#seal === undefined || plain
      ? plainDatagram(body, this.#connectionId, this.#fromDialer)
      : this.#seal.seal(body.type, this.#connectionId, this.#fromDialer, encodeBody(body));
  }

  #acknowledged(ack: number, sack: Uint8Array): void {
    let sample: number | undefined;
    for (const [seq, outgoing] of this.#inFlight) {
      const offset = seq - ack - 1;
      if (seq < ack || (offset >= 0 && offset < sack.length * 8 && (sack[offset >> 3]! & (1 << (offset & 7))) !== 0)) {
        this.#inFlight.delete(seq);
        this.#unacknowledged -= outgoing.payload.length;
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
      missing.retries++;
      this.#env.retransmitted();
      this.#transmit(missing);
    }
    this.#pump();
    if (this.#blocked && this.#unacknowledged < WRITE_HIGH_WATER_MARK) {
      this.#blocked = false;
      this.onDrain?.();
    }
    this.#closeIfDrained();
  }

  #arm(): void {
    if (this.#inFlight.size === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#timer !== undefined) return; // firing early is harmless: it re-arms
    let due = Infinity;
    for (const outgoing of this.#inFlight.values()) due = Math.min(due, outgoing.deadline);
    this.#timer = setTimeout(() => this.#retransmit(), Math.max(0, due - performance.now()));
  }

  #retransmit(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const outgoing of this.#inFlight.values()) {
      if (outgoing.deadline > now) continue;
      if (outgoing.retries >= this.#limits.maxRetransmissions) {
        return this.fail('ERR_UDP_UNREACHABLE', `${this.remoteAddress} acknowledged nothing after ${outgoing.retries} retransmissions`);
      }
      outgoing.retries++;
      outgoing.fast = false;
      this.#env.retransmitted();
      this.#transmit(outgoing);
    }
    this.#arm();
  }

  #closeIfDrained(): void {
    if (this.#state === 'closing' && this.#inFlight.size === 0 && this.#queue.size === 0 && this.#pending.length === 0) this.#end(undefined);
  }

  // ---- receiving -------------------------------------------------------------------------

  #data(body: DataBody): void {
    if (body.seq < this.#nextReceive || this.#early.has(body.seq)) return this.#oweAck(); // a duplicate
    if (body.fragments > this.#limits.maxFragments) return this.#env.drop('ERR_UDP_FRAGMENTS');
    if (body.seq >= this.#nextReceive + this.#limits.receiveWindow) return this.#env.drop('ERR_UDP_WINDOW');
    this.#early.set(body.seq, body);
    let next = this.#early.get(this.#nextReceive);
    while (next !== undefined) {
      this.#early.delete(this.#nextReceive++);
      this.#reassemble(next);
      if (this.#state === 'closed') return;
      next = this.#early.get(this.#nextReceive);
    }
    this.#oweAck();
    this.#watchGap();
  }

  #reassemble(body: DataBody): void {
    if (this.#partial.length === 0) this.#partialFragments = body.fragments;
    if (body.fragment !== this.#partial.length || body.fragments !== this.#partialFragments) {
      return this.fail('ERR_UDP_MALFORMED', `fragment ${body.fragment}/${body.fragments} out of place`);
    }
    this.#partial.push(body.payload);
    if (this.#partial.length < this.#partialFragments) return;
    const message = this.#partial.length === 1 ? this.#partial[0]! : Buffer.concat(this.#partial);
    this.#partial = [];
    if (this.#state !== 'closed') this.onData?.(message);
  }

  /** Something waits for a missing datagram: if nothing moves for the reassembly timeout, give up. */
  #watchGap(): void {
    if (this.#gapTimer !== undefined || (this.#early.size === 0 && this.#partial.length === 0)) return;
    const mark = this.#nextReceive;
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = undefined;
      if (this.#nextReceive === mark) {
        this.fail('ERR_UDP_REASSEMBLY_TIMEOUT', `an unfinished message waited ${this.#limits.reassemblyTimeoutMs} ms for datagram ${mark}`);
      } else this.#watchGap();
    }, this.#limits.reassemblyTimeoutMs);
    this.#gapTimer.unref();
  }

  /** Which early datagrams arrived, as a bitmap of at most `bytes` bytes (see packet.ts). */
  #sack(bytes: number): Uint8Array {
    const bits = new Uint8Array(bytes);
    if (this.#early.size === 0) return bits.subarray(0, 0);
    let used = 0;
    for (const seq of this.#early.keys()) {
      const offset = seq - this.#nextReceive - 1;
      if (offset >= bytes * 8) continue;
      bits[offset >> 3]! |= 1 << (offset & 7);
      used = Math.max(used, (offset >> 3) + 1);
    }
    return bits.subarray(0, used);
  }

  /** Acknowledge once per turn, unless a DATA datagram carries the acknowledgement first. */
  #oweAck(): void {
    this.#ackOwed = true;
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      if (!this.#ackOwed || this.#state === 'closed' || this.#state === 'dialing') return;
      this.#ackOwed = false;
      this.#env.send(this.#datagram({ type: 'ack', ack: this.#nextReceive, sack: this.#sack(MAX_SACK_BYTES) }));
    });
  }

  #end(error: Error | undefined): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state !== 'dialing';
    // Twice: a CLOSE is not retransmitted, and one lost leaves the other end to find out by timeout.
    if (wasOpen) for (let i = 0; i < 2; i++) this.#env.send(this.#datagram({ type: 'close' }));
    this.#state = 'closed';
    clearTimeout(this.#timer);
    clearTimeout(this.#gapTimer);
    this.#pending = [];
    this.#inFlight.clear();
    this.#early.clear();
    this.#partial = [];
    this.#earlySealed = [];
    this.#env.forget();
    this.#dial?.reject(error ?? new TransportError('ERR_DIAL_FAILED', `the connection to ${this.remoteAddress} closed while dialing`));
    if (wasOpen) this.onClose?.(error);
  }
}

function popcount(bits: Uint8Array): number {
  let count = 0;
  for (const byte of bits) for (let rest = byte; rest !== 0; rest &= rest - 1) count++;
  return count;
}
