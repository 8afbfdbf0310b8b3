import { addExtension, Decoder, Encoder } from 'cbor-x';
import { scanCbor } from './cbor-scan.ts';
import { DecodeError, EncodeError, FrameTooLargeError, messageOf } from './errors.ts';

export interface CodecLimits {
  /** Largest encoded value or batch accepted, in bytes. 1 MiB: the wire protocol's frame cap. */
  maxBytes: number;
  /** Deepest nesting of arrays, maps and tags. 64 is far above any message of ours. */
  maxDepth: number;
}

export const DEFAULT_CODEC_LIMITS: CodecLimits = { maxBytes: 1024 * 1024, maxDepth: 64 };

/**
 * The CBOR tags our encoder writes, and so the only ones a decoder accepts: dates (1), bignums
 * (2, 3), typed arrays (64-87, RFC 8746; cbor-x tags every Uint8Array 64), sets (258), maps
 * (259), and shared refs (40000-49999, see shared-ref.ts).
 */
export function isAcceptedTag(tag: number): boolean {
  return (
    tag === 1 || tag === 2 || tag === 3 || (tag >= 64 && tag <= 87) || tag === 258 || tag === 259 || (tag >= 40_000 && tag <= 49_999)
  );
}

/**
 * cbor-x with limits. Every decode first runs the structural scan (depth, lengths, trailing bytes)
 * so hostile bytes give a DecodeError with a stable code, never a crash, a stack overflow or a
 * huge allocation. Shared refs (see shared-ref.ts) are cbor-x tag extensions and so travel
 * through every Codec without any per-message code.
 */
/**
 * One cbor-x encoder and decoder per thread, shared by every Codec: they differ only in their
 * limits, which are checked around the calls. cbor-x keeps its working buffer per module anyway,
 * and an Encoder is ~1.5 KiB of closures, four of them per node.
 */
const encoder = new Encoder({ useRecords: false });
const decoder = new Decoder({ useRecords: false, copyBuffers: true });
/**
 * Decoded byte strings are copies, never views of the bytes decoded: a decoded message then
 * holds nothing of its frame or batch, which can be freed at once (the wire releases each
 * opened frame), and a 32-byte id kept in a table does not pin a 64 KiB socket read. A copy of
 * up to 64 bytes (ids, keys, signatures) lives on V8's heap, not in a block of its own.
 * cbor-x's own tag-64 handler would copy the copy, through an ArrayBuffer that moves even a
 * small one off the heap; with copyBuffers the content is already fresh.
 */
const decodeTag64 = {
  tag: 64,
  decode: (bytes: unknown): Uint8Array => {
    if (!(bytes instanceof Uint8Array)) throw new DecodeError('ERR_DECODE_MALFORMED', 'tag 64 must hold a byte string');
    return bytes;
  },
};
// A decode-only extension: cbor-x takes one (it registers an encoder only when given a Class),
// its typings do not. The encoder keeps writing Uint8Arrays as tag 64 itself.
addExtension(decodeTag64 as unknown as Parameters<typeof addExtension>[0]);

export class Codec {
  readonly limits: CodecLimits;

  constructor(limits: Partial<CodecLimits> = {}) {
    this.limits = { ...DEFAULT_CODEC_LIMITS, ...limits };
  }

  /**
   * Encode one value. The result is a view into the encoder's reusable block: it stays valid,
   * but it shares its ArrayBuffer with other results, so copy it before transferring it.
   */
  encode(value: unknown): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = encoder.encode(value);
    } catch (err) {
      throw new EncodeError(`cannot encode value: ${messageOf(err)}`, { cause: err });
    }
    if (bytes.length > this.limits.maxBytes) throw new FrameTooLargeError(bytes.length, this.limits.maxBytes);
    return bytes;
  }

  /** Decode exactly one CBOR item; trailing bytes are an error. */
  decode(bytes: Uint8Array): unknown {
    this.#check(bytes, 1);
    return this.#run(() => decoder.decode(plainBytes(bytes)));
  }

  /** Decode a CBOR sequence (several items back to back), as batches travel. */
  decodeSequence(bytes: Uint8Array): unknown[] {
    const count = this.#check(bytes, Number.POSITIVE_INFINITY);
    if (count === 0) return [];
    return this.#run(() => decoder.decodeMultiple(plainBytes(bytes)) as unknown[]);
  }

  #check(bytes: Uint8Array, maxItems: number): number {
    if (bytes.length > this.limits.maxBytes) throw new FrameTooLargeError(bytes.length, this.limits.maxBytes);
    const count = scanCbor(bytes, this.limits.maxDepth, maxItems, isAcceptedTag);
    if (maxItems === 1 && count !== 1) throw new DecodeError('ERR_DECODE_MALFORMED', 'expected exactly one CBOR item');
    return count;
  }

  #run<T>(decode: () => T): T {
    try {
      return decode();
    } catch (err) {
      if (err instanceof DecodeError) throw err;
      // A structurally valid item can still be semantically bad (an unknown record, a tag whose
      // content is wrong, a shared ref that fails to rebuild): all of it is a decode error.
      throw new DecodeError('ERR_DECODE_MALFORMED', `cannot decode: ${messageOf(err)}`, { cause: err });
    }
  }
}

/**
 * The same bytes as a plain Uint8Array (a view, no copy). cbor-x copies byte strings with the
 * source's own constructor, so a Buffer source would make every decoded byte string a Buffer;
 * and it encodes a Buffer untagged but a Uint8Array as tag 64, so bytes that are signed or
 * hashed pass through this first, or a Buffer would sign to other bytes than its decoded copy.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}
