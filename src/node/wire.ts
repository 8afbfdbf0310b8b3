import { Codec } from '../runtime/codec.ts';
import { onLink, type SharedRefTable } from '../runtime/shared-ref.ts';
import { MyDhtError } from '../runtime/errors.ts';
import { LENGTH_PREFIX_BYTES, writeLengthPrefix } from '../runtime/frames.ts';
import { release, TAG_BYTES, type SessionCipher } from './session-cipher.ts';
// Session messages carry peer records as shared refs: their tag must be declared wherever frames
// are encoded or decoded, which may be a thread or process of its own (the read or write service).
import './peer-record.ts';

/**
 * The wire: every frame is `u32 big-endian length | body`, at most `maxFrame` bytes of body
 * (1 MiB by default), checked on the prefix before anything is allocated (FrameDecoder).
 * The body is the CBOR array `[version, message]`; before the handshake completes it travels
 * in the clear (the handshake messages are signed), after it the body is AEAD-sealed with the
 * session's key for that direction. A message is an object with a string `type`.
 */
/** 2: peer records travel as shared refs, by index once sent on the session (SharedRefTable). */
export const PROTOCOL_VERSION = 2;
export const DEFAULT_MAX_FRAME = 1024 * 1024;

export class WireError extends MyDhtError {}

export interface WireMessage {
  type: string;
}

export class Wire {
  readonly codec: Codec;
  readonly maxFrame: number;

  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.maxFrame = maxFrame;
    this.codec = new Codec({ maxBytes: maxFrame });
  }

  /**
   * A whole frame, prefix included; sealed when a session cipher is given. `refs` is the table of
   * shared objects sent on this session (see SharedRefTable): those sent lately go as an index.
   */
  encode(message: WireMessage, cipher?: SessionCipher, refs?: SharedRefTable): Uint8Array {
    const plain = onLink(refs, () => {
      const plain = this.codec.encode([PROTOCOL_VERSION, message]);
      // Checked before sealing: a refused frame must not use up a nonce, or the peer could not
      // open the next one; nor may it leave back-references the peer never saw.
      const bodyBytes = plain.length + (cipher === undefined ? 0 : TAG_BYTES);
      if (bodyBytes > this.maxFrame) throw new WireError('ERR_FRAME_TOO_LARGE', `a ${bodyBytes}-byte frame exceeds ${this.maxFrame}`);
      return plain;
    });
    const frame = cipher === undefined ? copyAfterPrefix(plain) : cipher.sealAfter(plain, LENGTH_PREFIX_BYTES);
    writeLengthPrefix(frame, 0, frame.length - LENGTH_PREFIX_BYTES);
    return frame;
  }

  /**
   * The message in a frame's body (without its prefix), opened when a cipher is given, with
   * back-references resolved in `refs`, the table of what this session received. Throws
   * ERR_AUTH_FRAME (tampered, replayed), ERR_DECODE_* (bad CBOR, a record that does not verify,
   * ERR_DECODE_UNKNOWN_REF), ERR_PROTOCOL_VERSION or ERR_WIRE_MALFORMED; every one of them ends
   * the connection.
   */
  decode(body: Uint8Array, cipher?: SessionCipher, refs?: SharedRefTable): WireMessage {
    const plain = cipher === undefined ? body : cipher.open(body);
    const decoded = onLink(refs, () => this.codec.decode(plain));
    // The message holds copies of its byte strings (Codec), so the opened frame is garbage now.
    if (cipher !== undefined) release(plain);
    if (!Array.isArray(decoded) || decoded.length !== 2) throw new WireError('ERR_WIRE_MALFORMED', 'a frame must be [version, message]');
    const [version, message] = decoded as [unknown, unknown];
    if (version !== PROTOCOL_VERSION) {
      throw new WireError('ERR_PROTOCOL_VERSION', `protocol version ${String(version)} is not ${PROTOCOL_VERSION}`);
    }
    if (typeof message !== 'object' || message === null || typeof (message as { type?: unknown }).type !== 'string') {
      throw new WireError('ERR_WIRE_MALFORMED', 'a message must be an object with a string "type"');
    }
    return message as WireMessage;
  }
}

function copyAfterPrefix(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(LENGTH_PREFIX_BYTES + body.length);
  frame.set(body, LENGTH_PREFIX_BYTES);
  return frame;
}
