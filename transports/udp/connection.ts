import { AbortedError } from '../../src/runtime/errors.ts';
import { WRITE_HIGH_WATER_MARK, type Connection, type SessionKeys } from '../../src/net/transport.ts';
import { TransportError } from '../transport-error.ts';
import { DATA_SACK_BYTES, decodeBody, encodeBody, HEADER_BYTES, MAX_SACK_BYTES, plainDatagram, readHeader, type Body, type DataBody, type Header } from './packet.ts';
import { DatagramSeal } from './seal.ts';
import type { UdpLimits } from './limits.ts';
import { Dial } from './dial.ts';
import { ReceiveWindow } from './receive-window.ts';
import { SendWindow, type Outgoing } from './send-window.ts';

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

/** Sealed datagrams held while this end still waits for its session keys (see `seal`). */
const MAX_EARLY_SEALED = 64;

let nextId = 1;

/**
 * One connection over UDP: a reliable, ordered stream of the node's bytes, from a sending half
 * (send-window.ts: messages, datagrams, retransmission) and a receiving half
 * (receive-window.ts: order, duplicates, reassembly). This file opens the connection (HELLO,
 * cookie, ACCEPT), carries acknowledgements (cumulative plus a bitmap, piggybacked on DATA or
 * in an ACK sent once per turn), seals, and closes.
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
  #state: 'dialing' | 'open' | 'closing' | 'closed';
  #seal: DatagramSeal | undefined;
  #earlySealed: Uint8Array[] = [];
  /** Dialer, until ACCEPT: the opening exchange, and the promise `open` returned. */
  #dial: { exchange: Dial; resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Listener: when ACCEPT went out; -1 once it went out twice or the round trip was measured. */
  #acceptedAt: number | undefined;

  readonly #sending: SendWindow;
  /** Writes of this turn, cut into datagrams at its end. */
  #pending: Uint8Array[] = [];
  #flushScheduled = false;
  /** Bytes written and not yet acknowledged: what `write` compares with the high-water mark. */
  #unacknowledged = 0;
  #blocked = false;

  readonly #receiving: ReceiveWindow;
  #ackOwed = false;
  #ackScheduled = false;

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
    this.#state = direction === 'outbound' ? 'dialing' : 'open';
    this.#sending = new SendWindow(env.limits, {
      transmit: (outgoing) => this.#transmit(outgoing),
      retransmitted: () => env.retransmitted(),
      fail: (code, reason) => this.fail(code, `${this.remoteAddress}: ${reason}`),
    });
    this.#receiving = new ReceiveWindow(env.limits, {
      deliver: (message) => {
        if (this.#state !== 'closed') this.onData?.(message);
      },
      drop: (code) => env.drop(code),
      fail: (code, reason) => this.fail(code, reason),
    });
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
        this.#dial?.exchange.stop();
        this.#dial = undefined;
      };
      this.#dial = {
        exchange: new Dial(this.#connectionId, (datagram) => this.#env.send(datagram)),
        resolve: () => (done(), resolve()),
        reject: (error) => (done(), reject(error)),
      };
    });
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
      if (body.type === 'data' && body.seq < this.#receiving.next) return this.#oweAck();
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
        return this.#dial?.exchange.cookie(body.cookie);
      case 'accept': {
        const dial = this.#dial;
        if (this.#state !== 'dialing' || dial === undefined) return;
        this.#state = 'open';
        const roundTrip = dial.exchange.accepted();
        if (roundTrip !== undefined) this.#sending.clock.sample(roundTrip);
        return dial.resolve();
      }
      case 'data':
        if (this.#acceptedAt !== undefined) {
          if (this.#acceptedAt >= 0) this.#sending.clock.sample(performance.now() - this.#acceptedAt);
          this.#acceptedAt = -1;
        }
        this.#acknowledged(body.ack, body.sack);
        if (this.closed) return;
        this.#receiving.take(body);
        if (!this.closed) this.#oweAck();
        return;
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

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0) return;
    const bytes = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#sending.push(bytes, this.#seal === undefined);
  }

  #transmit(outgoing: Outgoing): void {
    const body: DataBody = {
      type: 'data',
      seq: outgoing.seq,
      fragment: outgoing.fragment,
      fragments: outgoing.fragments,
      ack: this.#receiving.next,
      sack: this.#receiving.sack(DATA_SACK_BYTES),
      payload: outgoing.payload,
    };
    this.#env.send(this.#datagram(body, outgoing.plain));
    // A DATA's 32 bits tell all only when nothing early lies beyond them.
    if (!this.#receiving.holdsEarly) this.#ackOwed = false;
  }

  #datagram(body: Body, plain = false): Uint8Array {
    return this.#seal === undefined || plain
      ? plainDatagram(body, this.#connectionId, this.#fromDialer)
      : this.#seal.seal(body.type, this.#connectionId, this.#fromDialer, encodeBody(body));
  }

  #acknowledged(ack: number, sack: Uint8Array): void {
    this.#unacknowledged -= this.#sending.acknowledged(ack, sack);
    if (this.#blocked && this.#unacknowledged < WRITE_HIGH_WATER_MARK) {
      this.#blocked = false;
      this.onDrain?.();
    }
    this.#closeIfDrained();
  }

  #closeIfDrained(): void {
    if (this.#state === 'closing' && this.#sending.idle && this.#pending.length === 0) this.#end(undefined);
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
      this.#env.send(this.#datagram({ type: 'ack', ack: this.#receiving.next, sack: this.#receiving.sack(MAX_SACK_BYTES) }));
    });
  }

  #end(error: Error | undefined): void {
    if (this.#state === 'closed') return;
    const wasOpen = this.#state !== 'dialing';
    // Twice: a CLOSE is not retransmitted, and one lost leaves the other end to find out by timeout.
    if (wasOpen) for (let i = 0; i < 2; i++) this.#env.send(this.#datagram({ type: 'close' }));
    this.#state = 'closed';
    this.#sending.close();
    this.#receiving.close();
    this.#pending = [];
    this.#earlySealed = [];
    this.#env.forget();
    this.#dial?.reject(error ?? new TransportError('ERR_DIAL_FAILED', `the connection to ${this.remoteAddress} closed while dialing`));
    if (wasOpen) this.onClose?.(error);
  }
}
