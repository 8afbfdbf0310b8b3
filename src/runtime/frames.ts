import { FrameTooLargeError } from './errors.ts';

/** Bytes of the big-endian u32 length prefix in front of every frame. */
export const LENGTH_PREFIX_BYTES = 4;

/**
 * Splits a byte stream into u32-length-prefixed frames. The length is checked against `maxFrame`
 * as soon as its four bytes arrive, before anything is allocated for the frame, so a lying
 * prefix (2^32-1, or max+1) costs nothing but the error.
 */
export class FrameDecoder {
  readonly maxFrame: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #failedLength: number | undefined;

  constructor(maxFrame: number) {
    this.maxFrame = maxFrame;
  }

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Feed bytes; returns the complete frames they finish. Throws FrameTooLargeError on a length
   * over the cap; the stream is then unusable (frames completed in the same push are dropped
   * with it, as the connection is closed) and every later push throws too.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failedLength !== undefined) throw new FrameTooLargeError(this.#failedLength, this.maxFrame);
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Uint8Array[] = [];
    for (;;) {
      if (this.#buffered < LENGTH_PREFIX_BYTES) return frames;
      const length = this.#peekLength();
      if (length > this.maxFrame) {
        this.#failedLength = length;
        this.#chunks = [];
        this.#buffered = 0;
        throw new FrameTooLargeError(length, this.maxFrame);
      }
      if (this.#buffered < LENGTH_PREFIX_BYTES + length) return frames;
      this.#skip(LENGTH_PREFIX_BYTES);
      frames.push(this.#take(length));
    }
  }

  #peekLength(): number {
    const first = this.#chunks[0]!;
    if (first.length >= LENGTH_PREFIX_BYTES) {
      return ((first[0]! << 24) >>> 0) + (first[1]! << 16) + (first[2]! << 8) + first[3]!;
    }
    const head = this.#copyHead(LENGTH_PREFIX_BYTES);
    return ((head[0]! << 24) >>> 0) + (head[1]! << 16) + (head[2]! << 8) + head[3]!;
  }

  #copyHead(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let filled = 0;
    for (const chunk of this.#chunks) {
      const part = chunk.subarray(0, length - filled);
      out.set(part, filled);
      filled += part.length;
      if (filled === length) break;
    }
    return out;
  }

  #skip(length: number): void {
    this.#take(length);
  }

  /** Remove `length` bytes from the front: a view when one chunk holds them, else one copy. */
  #take(length: number): Uint8Array {
    this.#buffered -= length;
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= length) {
      if (first.length === length) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.#chunks[0]!;
      const need = length - filled;
      if (chunk.length <= need) {
        out.set(chunk, filled);
        filled += chunk.length;
        this.#chunks.shift();
      } else {
        out.set(chunk.subarray(0, need), filled);
        this.#chunks[0] = chunk.subarray(need);
        filled += need;
      }
    }
    return out;
  }
}

/** Write the u32 big-endian length of the frame that follows into `target` at `offset`. */
export function writeLengthPrefix(target: Uint8Array, offset: number, length: number): void {
  target[offset] = length >>> 24;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
}
