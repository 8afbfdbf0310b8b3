import { MyDhtError } from '../../src/runtime/errors.ts';

/**
 * The datagrams of the UDP transport. Every one starts with the same 10-byte header:
 *
 *   0      version (high nibble, 1) and type (low nibble)
 *   1..8   connection id, chosen at random by the dialer
 *   9      flags: FROM_DIALER, SEALED
 *
 * A sealed datagram then carries its 64-bit seal counter, and its body is AES-256-GCM sealed
 * with the header and counter as associated data (see seal.ts). A plain one carries its body
 * as is. Bodies, by type:
 *
 *   HELLO   cookie length (u8), cookie, zero padding up to HELLO_BYTES in all
 *   COOKIE  the cookie (COOKIE_BYTES)
 *   ACCEPT  nothing
 *   DATA    seq (u32), fragment (u16), fragments (u16), ack (u32), sack (4 bytes), payload
 *   ACK     ack (u32), sack (0 to MAX_SACK_BYTES bytes)
 *   CLOSE   nothing
 *
 * `ack` is the next sequence number the sender of the datagram expects (all below it arrived),
 * and bit i of `sack` (bit i % 8 of byte i / 8) says that `ack + 1 + i` arrived too. A DATA
 * carries 32 such bits, an ACK up to a whole receive window's.
 */
export const VERSION = 1;
export const HEADER_BYTES = 10;
export const COUNTER_BYTES = 8;
export const TAG_BYTES = 16;
export const COOKIE_BYTES = 16;
/**
 * A HELLO is padded to this size, more than a COOKIE datagram (26 bytes): whoever forges a
 * sender's address gets back less than it sent, never more (discv5's WHOAREYOU rule).
 */
export const HELLO_BYTES = 64;
export const DATA_HEAD_BYTES = 16;
export const DATA_SACK_BYTES = 4;
/** 512 datagrams: twice the default receive window. */
export const MAX_SACK_BYTES = 64;

export const TYPE = { hello: 1, cookie: 2, accept: 3, data: 4, ack: 5, close: 6 } as const;
export type PacketType = keyof typeof TYPE;
const TYPE_NAMES = new Map<number, PacketType>(Object.entries(TYPE).map(([name, value]) => [value, name as PacketType]));

export const FLAG_FROM_DIALER = 1;
export const FLAG_SEALED = 2;

export class UdpPacketError extends MyDhtError {}

/** The parts every datagram has, read without trusting anything else in it. */
export interface Header {
  type: PacketType;
  /** The connection id as 16 hex digits: the key of the connection's table entry. */
  connection: string;
  fromDialer: boolean;
  sealed: boolean;
}

export interface DataBody {
  type: 'data';
  seq: number;
  fragment: number;
  fragments: number;
  ack: number;
  sack: Uint8Array;
  payload: Uint8Array;
}

export type Body =
  | { type: 'hello'; cookie: Uint8Array | undefined }
  | { type: 'cookie'; cookie: Uint8Array }
  | { type: 'accept' }
  | DataBody
  | { type: 'ack'; ack: number; sack: Uint8Array }
  | { type: 'close' };

function malformed(what: string): UdpPacketError {
  return new UdpPacketError('ERR_UDP_MALFORMED', what);
}

export function readHeader(datagram: Uint8Array): Header {
  if (datagram.length < HEADER_BYTES) throw malformed(`a ${datagram.length}-byte datagram is shorter than the header`);
  const first = datagram[0]!;
  if (first >> 4 !== VERSION) throw malformed(`unknown version ${first >> 4}`);
  const type = TYPE_NAMES.get(first & 0x0f);
  if (type === undefined) throw malformed(`unknown type ${first & 0x0f}`);
  const flags = datagram[9]!;
  if ((flags & ~(FLAG_FROM_DIALER | FLAG_SEALED)) !== 0) throw malformed(`unknown flags ${flags}`);
  return {
    type,
    connection: Buffer.from(datagram.buffer, datagram.byteOffset + 1, 8).toString('hex'),
    fromDialer: (flags & FLAG_FROM_DIALER) !== 0,
    sealed: (flags & FLAG_SEALED) !== 0,
  };
}

export function writeHeader(target: Uint8Array, type: PacketType, connection: Uint8Array, fromDialer: boolean, sealed: boolean): void {
  target[0] = (VERSION << 4) | TYPE[type];
  target.set(connection, 1);
  target[9] = (fromDialer ? FLAG_FROM_DIALER : 0) | (sealed ? FLAG_SEALED : 0);
}

/** The body's bytes, for any type; DATA's payload is copied in after its head. */
export function encodeBody(body: Body): Uint8Array {
  switch (body.type) {
    case 'hello': {
      const out = new Uint8Array(HELLO_BYTES - HEADER_BYTES);
      const cookie = body.cookie ?? new Uint8Array(0);
      out[0] = cookie.length;
      out.set(cookie, 1);
      return out;
    }
    case 'cookie':
      return body.cookie;
    case 'accept':
    case 'close':
      return new Uint8Array(0);
    case 'data': {
      const out = new Uint8Array(DATA_HEAD_BYTES + body.payload.length);
      const view = new DataView(out.buffer);
      view.setUint32(0, body.seq);
      view.setUint16(4, body.fragment);
      view.setUint16(6, body.fragments);
      view.setUint32(8, body.ack);
      out.set(body.sack.subarray(0, DATA_SACK_BYTES), 12);
      out.set(body.payload, DATA_HEAD_BYTES);
      return out;
    }
    case 'ack': {
      const out = new Uint8Array(4 + Math.min(body.sack.length, MAX_SACK_BYTES));
      new DataView(out.buffer).setUint32(0, body.ack);
      out.set(body.sack.subarray(0, MAX_SACK_BYTES), 4);
      return out;
    }
  }
}

/** A body read back; every length is checked before it is used. */
export function decodeBody(type: PacketType, bytes: Uint8Array): Body {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'hello': {
      if (bytes.length !== HELLO_BYTES - HEADER_BYTES) throw malformed(`a HELLO must be ${HELLO_BYTES} bytes`);
      const length = bytes[0]!;
      if (length !== 0 && length !== COOKIE_BYTES) throw malformed(`a HELLO cookie of ${length} bytes`);
      return { type, cookie: length === 0 ? undefined : bytes.subarray(1, 1 + length) };
    }
    case 'cookie':
      if (bytes.length !== COOKIE_BYTES) throw malformed(`a COOKIE of ${bytes.length} bytes`);
      return { type, cookie: bytes };
    case 'accept':
    case 'close':
      if (bytes.length !== 0) throw malformed(`a ${type.toUpperCase()} carries nothing`);
      return { type };
    case 'data': {
      if (bytes.length < DATA_HEAD_BYTES) throw malformed('a DATA shorter than its head');
      const fragment = view.getUint16(4);
      const fragments = view.getUint16(6);
      if (fragments === 0 || fragment >= fragments) throw malformed(`fragment ${fragment} of ${fragments}`);
      return {
        type,
        seq: view.getUint32(0),
        fragment,
        fragments,
        ack: view.getUint32(8),
        sack: bytes.subarray(12, 12 + DATA_SACK_BYTES),
        payload: bytes.subarray(DATA_HEAD_BYTES),
      };
    }
    case 'ack':
      if (bytes.length < 4 || bytes.length > 4 + MAX_SACK_BYTES) throw malformed(`an ACK of ${bytes.length} bytes`);
      return { type, ack: view.getUint32(0), sack: bytes.subarray(4) };
  }
}

/** A whole plain datagram. */
export function plainDatagram(body: Body, connection: Uint8Array, fromDialer: boolean): Uint8Array {
  const encoded = encodeBody(body);
  const out = new Uint8Array(HEADER_BYTES + encoded.length);
  writeHeader(out, body.type, connection, fromDialer, false);
  out.set(encoded, HEADER_BYTES);
  return out;
}
