import type { Connection as Libp2pLink, Stream, StreamCloseEvent } from '@libp2p/interface';
import { pipe } from 'it-pipe';
import { WRITE_HIGH_WATER_MARK, type Connection, type SecureChannel } from '../../src/net/transport.ts';
import { TransportError } from '../transport-error.ts';
import { withPeer } from './addresses.ts';

let nextId = 1;

export interface StreamLimits {
  closeTimeoutMs: number;
  maxWriteBufferBytes: number;
  maxReadBufferBytes: number;
}

/**
 * The secure channel of a libp2p connection: both peer ids and the remote's raw Ed25519 key, as
 * Noise proved it (the peer id of an Ed25519 key embeds the key). Undefined for a peer whose key
 * is of another type: mydht identities are Ed25519, so it cannot be a mydht node.
 */
export function channelOf(link: Libp2pLink, localId: string): SecureChannel | undefined {
  const remote = link.remotePeer;
  if (remote.type !== 'Ed25519') return undefined;
  return { localId, remoteId: remote.toString(), remoteKey: remote.publicKey.raw };
}

/**
 * One mydht connection as one libp2p stream of `/mydht/1.0.0`. The stream carries the node's
 * own frames unchanged; they are length-prefixed already, so a second, libp2p-style prefix would
 * only frame them twice. Reads come through it-pipe once the node sets `onData` (the stream holds
 * what arrives before, up to its read buffer limit); writes of one turn leave as one `send`.
 */
export class Libp2pConnection implements Connection {
  readonly id = `libp2p-${nextId++}`;
  readonly direction: 'inbound' | 'outbound';
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly channel: SecureChannel;
  onClose: ((error?: Error) => void) | undefined;
  onDrain: (() => void) | undefined;
  closedBy: (() => void) | undefined;
  readonly #stream: Stream;
  readonly #limits: StreamLimits;
  #onData: ((chunk: Uint8Array) => void) | undefined;
  #reading: Promise<void> | undefined;
  /** Writes of this turn, sent together once the microtasks have run. */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #flushScheduled = false;
  #needsDrain = false;
  /** close() was called: later writes are refused. */
  #closing = false;
  /** The stream is gone and onClose was called (or is about to be). */
  #finished = false;
  #resetByUs = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(stream: Stream, link: Libp2pLink, channel: SecureChannel, limits: StreamLimits) {
    this.#stream = stream;
    this.#limits = limits;
    this.direction = stream.direction;
    this.channel = channel;
    this.remoteAddress = withPeer(link.remoteAddr.toString(), channel.remoteId);
    // libp2p 3 does not expose a connection's local socket address: this end is named by its id.
    this.localAddress = `/p2p/${channel.localId}`;
    stream.maxWriteBufferLength = limits.maxWriteBufferBytes;
    stream.maxReadBufferLength = limits.maxReadBufferBytes;
    stream.addEventListener('close', (event) => this.#onStreamClose(event));
    // The other end closed its side: flush ours and close it too, so the stream ends both ways.
    stream.addEventListener('remoteCloseWrite', () => this.close());
    // libp2p sends the rest of its buffer in a microtask after 'drain': look after that.
    stream.addEventListener('drain', () => queueMicrotask(this.#checkDrain));
    stream.addEventListener('idle', this.#checkDrain);
  }

  get onData(): ((chunk: Uint8Array) => void) | undefined {
    return this.#onData;
  }

  set onData(handler: ((chunk: Uint8Array) => void) | undefined) {
    this.#onData = handler;
    if (handler !== undefined && this.#reading === undefined && !this.#finished) this.#reading = this.#read();
  }

  get closed(): boolean {
    return this.#closing || this.#finished;
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // After the microtasks: a burst of frames written from promise callbacks leaves together.
      queueMicrotask(() => process.nextTick(this.#flush));
    }
    const below = this.#buffered() < WRITE_HIGH_WATER_MARK;
    if (!below) this.#needsDrain = true;
    return below;
  }

  close(reset = false): void {
    if (this.#finished) return;
    if (reset) {
      this.#closing = true;
      this.#resetByUs = true;
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#stream.abort(new TransportError('ERR_CONNECTION_RESET', 'connection reset'));
      return;
    }
    if (this.#closing) return;
    this.#closing = true;
    this.#flush();
    this.#closeTimer = setTimeout(() => {
      this.#stream.abort(new TransportError('ERR_CLOSE_TIMEOUT', `the other end did not close within ${this.#limits.closeTimeoutMs} ms`));
    }, this.#limits.closeTimeoutMs);
    this.#closeTimer.unref();
    this.#stream.close().catch((err: unknown) => this.#stream.abort(err instanceof Error ? err : new Error(String(err))));
  }

  #buffered(): number {
    return this.#pendingBytes + this.#stream.writeBufferLength;
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#pending.length === 0) return;
    const chunks = this.#pending;
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#stream.writeStatus !== 'writable') return;
    try {
      this.#stream.send(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes));
    } catch (err) {
      this.#stream.abort(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.#checkDrain();
  };

  readonly #checkDrain = (): void => {
    if (!this.#needsDrain || this.#finished || this.#buffered() >= WRITE_HIGH_WATER_MARK) return;
    this.#needsDrain = false;
    this.onDrain?.();
  };

  /** Hand every chunk to the node, in order, until the stream ends. */
  async #read(): Promise<void> {
    try {
      await pipe(this.#stream, async (source) => {
        for await (const chunk of source) this.#onData?.(chunk.subarray());
      });
    } catch (err) {
      // A reset or failure ends the read, and the stream's 'close' event reports it. Anything
      // else (the node's handler threw) must not leave the stream open with nobody reading it.
      if (!this.#finished) this.#stream.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #onStreamClose(event: StreamCloseEvent): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    const error =
      event.error === undefined || this.#resetByUs
        ? undefined
        : new TransportError(event.local === true ? 'ERR_CONNECTION_FAILED' : 'ERR_CONNECTION_RESET', event.error.message, { cause: event.error });
    this.closedBy?.();
    // What was read before the end reaches the node before it hears of the close.
    const reported = (): void => this.onClose?.(error);
    if (this.#reading === undefined) reported();
    else void this.#reading.then(reported);
  }
}
