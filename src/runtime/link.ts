import type { Codec } from './codec.ts';
import { LENGTH_PREFIX_BYTES, writeLengthPrefix } from './frames.ts';

/**
 * The envelopes that travel between a parent and the host of a service in a worker or a child
 * process. Each is a small array whose first element is its kind: compact to encode, and one
 * batch of them is a CBOR sequence.
 *
 * parent -> host                         host -> parent
 *   [INIT, init]                           [READY] | [START_FAILED, code, message]
 *   [SEND, command]                        [REPLY, id, value] | [ERROR, id, code, message]
 *   [CALL, id, command]                    [PROCESSED, handled, failed]   (running totals)
 *   [OUT_REPLY, id, value]                 [OUT_SEND, target, command]
 *   [OUT_ERROR, id, code, message]         [OUT_CALL, id, target, command]
 *   [OUT_ACCEPTED, count]                  [LOG, level, fields, message]
 *   [STOP, drain]                          [STOPPED]
 */
export const Envelope = {
  INIT: 0,
  SEND: 1,
  CALL: 2,
  REPLY: 3,
  ERROR: 4,
  PROCESSED: 5,
  OUT_SEND: 6,
  OUT_CALL: 7,
  OUT_REPLY: 8,
  OUT_ERROR: 9,
  OUT_ACCEPTED: 10,
  LOG: 11,
  READY: 12,
  START_FAILED: 13,
  STOP: 14,
  STOPPED: 15,
} as const;

/** What the host needs to start a service: sent as the first envelope of every generation. */
export interface HostInit {
  name: string;
  module: { url: string; export?: string };
  config: unknown;
  queueCapacity: number;
  callTimeoutMs: number;
  codecLimits: { maxBytes: number; maxDepth: number };
}

/** Envelopes per batch: 256 is where batching cbor-x over postMessage or a socket levels off (limits.md). */
export const BATCH_MAX_MESSAGES = 256;
/** Bytes per batch before it is flushed, so one batch never nears the frame cap. */
export const BATCH_MAX_BYTES = 64 * 1024;

/**
 * Collects encoded envelopes and ships them as one batch: when 256 are waiting, when 64 KiB are,
 * or when the current burst of work is done. How soon "done" is depends on whether anyone waits
 * for what the batch holds:
 * - A call or a reply has a caller waiting on it, so its batch ships at the end of the current
 *   microtask. Calls and replies made in one burst are pushed before that microtask runs and
 *   share the batch; a caller that awaits each reply could not fill a batch anyway. Shipping
 *   then, rather than after the nextTick hop below, saves ~1 us of the ~9 us a worker round
 *   trip costs on each side (Node enters JS once more to run a nextTick queue).
 * - Plain sends and counters wait until the microtask queue drains, so a producer that never
 *   really waits (`await send()` in a loop) fills whole batches: a nextTick queued from inside a
 *   microtask runs only then. (A nextTick queued from an event callback would run *before* the
 *   promise continuations that callback released, shipping batches of one; hence the microtask
 *   hop.)
 * Each envelope is encoded when pushed, so a value that cannot travel fails its own sender at
 * once and never the batch.
 */
export class BatchWriter {
  readonly #codec: Codec;
  readonly #ship: (batch: Uint8Array) => void;
  readonly #prefix: number;
  readonly #maxBytes: number;
  #parts: Uint8Array[] = [];
  #bytes = 0;
  #scheduled = false;
  #scheduledSoon = false;
  /** True while beforeFlush runs: what it pushes ships in this very batch, so schedules nothing. */
  #collecting = false;
  #closed = false;
  /** Called just before a batch is shipped; may push more envelopes (running counters). */
  beforeFlush: (() => void) | undefined;

  /**
   * @param framed  prefix each batch with its u32 length (for sockets and pipes); a worker's
   *                batches travel as whole transferred buffers and need none.
   */
  constructor(codec: Codec, ship: (batch: Uint8Array) => void, framed: boolean) {
    this.#codec = codec;
    this.#ship = ship;
    this.#prefix = framed ? LENGTH_PREFIX_BYTES : 0;
    this.#maxBytes = Math.min(BATCH_MAX_BYTES, codec.limits.maxBytes);
  }

  /** Encode an envelope now; throws EncodeError or FrameTooLargeError if it cannot travel. */
  encode(envelope: unknown): Uint8Array {
    return this.#codec.encode(envelope);
  }

  /** @param awaited  a caller waits on this envelope (a call or a reply): ship it sooner. */
  push(envelope: unknown, awaited = false): void {
    this.pushEncoded(this.#codec.encode(envelope), awaited);
  }

  pushEncoded(bytes: Uint8Array, awaited = false): void {
    if (this.#closed) return;
    // A batch stays within both 64 KiB and the codec's cap, so the other side can always decode it.
    if (this.#bytes + bytes.length > this.#maxBytes && this.#parts.length > 0) this.flush();
    this.#parts.push(bytes);
    this.#bytes += bytes.length;
    if (this.#parts.length >= BATCH_MAX_MESSAGES) this.flush();
    else if (!this.#collecting) {
      if (awaited) this.#scheduleSoon();
      else this.schedule();
    }
  }

  readonly #flushScheduled = (): void => {
    this.#scheduled = false;
    this.flush();
  };

  /**
   * Make sure a flush happens after the current burst, even with nothing pushed (for beforeFlush).
   * A flush already due at the end of this microtask does: queueing a nextTick anyway would cost
   * its ~1 us for nothing.
   */
  schedule(): void {
    if (this.#scheduled || this.#scheduledSoon || this.#closed) return;
    this.#scheduled = true;
    queueMicrotask(() => process.nextTick(this.#flushScheduled));
  }

  readonly #flushSoon = (): void => {
    this.#scheduledSoon = false;
    this.flush();
  };

  #scheduleSoon(): void {
    if (this.#scheduledSoon || this.#closed) return;
    this.#scheduledSoon = true;
    queueMicrotask(this.#flushSoon);
  }

  flush(): void {
    if (this.#closed) return;
    if (this.beforeFlush !== undefined) {
      this.#collecting = true;
      try {
        this.beforeFlush();
      } finally {
        this.#collecting = false;
      }
    }
    if (this.#parts.length === 0) return;
    // One fresh buffer per batch: it is transferred (or handed to the socket) and never reused.
    const batch = new Uint8Array(this.#prefix + this.#bytes);
    if (this.#prefix > 0) writeLengthPrefix(batch, 0, this.#bytes);
    let offset = this.#prefix;
    for (const part of this.#parts) {
      batch.set(part, offset);
      offset += part.length;
    }
    this.#parts = [];
    this.#bytes = 0;
    this.#ship(batch);
  }

  /** Drop whatever is unsent and refuse more (the other side is gone). */
  close(): void {
    this.#closed = true;
    this.#parts = [];
    this.#bytes = 0;
  }
}
