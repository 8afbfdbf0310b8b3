import { multiaddr } from '@multiformats/multiaddr';
import { Codec, plainBytes } from '../runtime/codec.ts';
import { MyDhtError } from '../runtime/errors.ts';
import { defineShared } from '../runtime/shared-ref.ts';
import {
  NodeIdentity,
  PEER_ID_BYTES,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  peerIdOf,
  toHex,
  verifySignature,
} from './identity.ts';

/** The context label of a peer record signature; no other signature of ours uses it. */
const RECORD_LABEL = 'mydht/peer-record/v1';
/** A record names at most this many addresses, each at most this long: enough for any real node. */
export const MAX_ADDRESSES = 16;
export const MAX_ADDRESS_LENGTH = 256;

export class PeerRecordError extends MyDhtError {}

export interface PeerRecordFields {
  id: Uint8Array;
  publicKey: Uint8Array;
  addresses: string[];
  seq: number;
  signature: Uint8Array;
}

const signingCodec = new Codec();

/**
 * Records verified lately, by id: a lookup receives the same records over and over (20 per
 * answer), and an Ed25519 verify costs ~50-100 us. A record byte-identical to one verified
 * before is that record. Bounded, oldest first out.
 */
const VERIFIED_CACHE_SIZE = 10_000;
const verified = new Map<string, PeerRecord>();

function cachedVerified(id: Uint8Array, seq: number, signature: Uint8Array, publicKey: Uint8Array, addresses: readonly string[]): PeerRecord | undefined {
  const known = verified.get(toHex(id));
  if (known === undefined || known.seq !== seq || !equalBytes(known.signature, signature) || !equalBytes(known.publicKey, publicKey)) return undefined;
  if (known.addresses.length !== addresses.length || known.addresses.some((address, i) => address !== addresses[i])) return undefined;
  return known;
}

function rememberVerified(record: PeerRecord): void {
  verified.delete(record.idHex);
  if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
  verified.set(record.idHex, record);
}

/**
 * A record's wire form, the one way a record crosses the network or a thread or process: one
 * CBOR byte string holding `[id, publicKey, addresses, seq, signature]`. A FIND_NODE answer names
 * 20 records, nearly always ones the asker verified before; as 20 CBOR maps they decoded into
 * ~1 KB of objects each (three byte strings, the address strings, the map) only to be found in
 * the cache and dropped, about a quarter of what 1,000 puts allocated (sampling heap profile). As byte strings, a record
 * seen before is recognised by comparing its bytes with the ones it was verified as, and only a
 * new one is decoded. The largest valid record (16 addresses of 256 UTF-16 units, at most 3
 * bytes each in UTF-8) takes ~12.5 KB.
 */
export const MAX_WIRE_BYTES = 16 * 1024;
const wireCodec = new Codec({ maxBytes: MAX_WIRE_BYTES });
/**
 * How every wire form starts (a list of 5, then the id as a 32-byte string with cbor-x's tag 64),
 * so the id of one seen before is read without decoding it. Bytes from another encoder that lay
 * it out otherwise are decoded and verified, as any new record is.
 */
const WIRE_ID_PREFIX = Uint8Array.of(0x85, 0xd8, 0x40, 0x58, PEER_ID_BYTES);

/** The wire form of a record's fields, as `PeerRecord.wire` writes it (signed or not: nothing is checked). */
export function peerRecordWire(fields: Readonly<PeerRecordFields>): Uint8Array {
  const fresh = wireCodec.encode([plainBytes(fields.id), plainBytes(fields.publicKey), fields.addresses, fields.seq, plainBytes(fields.signature)]);
  // The encoder's result is a view into its reusable block: the record keeps a copy of its own.
  return Uint8Array.from(fresh);
}

/** The verified record these exact bytes are the wire form of, if one is cached. */
function knownWire(wire: Uint8Array): PeerRecord | undefined {
  const start = WIRE_ID_PREFIX.length;
  if (wire.length < start + PEER_ID_BYTES) return undefined;
  for (let i = 0; i < start; i++) if (wire[i] !== WIRE_ID_PREFIX[i]) return undefined;
  const known = verified.get(Buffer.from(wire.buffer, wire.byteOffset + start, PEER_ID_BYTES).toString('hex'));
  return known !== undefined && equalBytes(known.wire, wire) ? known : undefined;
}

/**
 * A peer's self-signed description: its id, its public key, the multiaddrs it listens on, and a
 * sequence number that grows with each new version. Every record built from outside goes through
 * `PeerRecord.verify`, which checks id == SHA-256(key) and the signature, so a record in hand is
 * always authentic. Peer records are shared refs: they cross threads and processes by value and
 * are interned by id on arrival, the newest sequence winning.
 */
export class PeerRecord {
  readonly id: Uint8Array;
  readonly idHex: string;
  readonly publicKey: Uint8Array;
  addresses: readonly string[];
  seq: number;
  signature: Uint8Array;
  #wire: Uint8Array;

  private constructor(fields: PeerRecordFields) {
    this.id = fields.id;
    this.idHex = toHex(fields.id);
    this.publicKey = fields.publicKey;
    this.addresses = fields.addresses;
    this.seq = fields.seq;
    this.signature = fields.signature;
    // Made here, never on first use: an encode that starts inside another one (a record's wire
    // form made while a message naming it is encoded) would write into the same cbor-x block.
    this.#wire = peerRecordWire(fields);
  }

  /** Sign a new record for this node. */
  static create(identity: NodeIdentity, addresses: readonly string[], seq: number): PeerRecord {
    const checked = checkAddresses(addresses);
    if (!Number.isSafeInteger(seq) || seq < 0) throw new PeerRecordError('ERR_PEER_RECORD_INVALID', 'seq must be a non-negative integer');
    const signature = identity.sign(signedBytes(identity.id, identity.publicKey, checked, seq));
    return new PeerRecord({ id: identity.id, publicKey: identity.publicKey, addresses: checked, seq, signature });
  }

  /** Build a record from untrusted fields, or throw a PeerRecordError with a stable code. */
  static verify(fields: unknown): PeerRecord {
    const f = fields as Partial<PeerRecordFields> | null;
    if (typeof f !== 'object' || f === null) throw invalid('not an object');
    if (!(f.id instanceof Uint8Array) || f.id.length !== PEER_ID_BYTES) throw invalid('id must be 32 bytes');
    if (!(f.publicKey instanceof Uint8Array) || f.publicKey.length !== PUBLIC_KEY_BYTES) throw invalid('public key must be 32 bytes');
    if (!(f.signature instanceof Uint8Array) || f.signature.length !== SIGNATURE_BYTES) throw invalid('signature must be 64 bytes');
    if (!Number.isSafeInteger(f.seq) || (f.seq as number) < 0) throw invalid('seq must be a non-negative integer');
    if (!Array.isArray(f.addresses)) throw invalid('addresses must be a list');
    const seen = cachedVerified(f.id, f.seq as number, f.signature, f.publicKey, f.addresses as string[]);
    if (seen !== undefined) return seen;
    const addresses = checkAddresses(f.addresses);
    if (!equalBytes(peerIdOf(f.publicKey), f.id)) {
      throw new PeerRecordError('ERR_PEER_ID_MISMATCH', `peer id ${toHex(f.id)} is not the hash of its public key`);
    }
    if (!verifySignature(f.publicKey, signedBytes(f.id, f.publicKey, addresses, f.seq as number), f.signature)) {
      throw new PeerRecordError('ERR_SIGNATURE_INVALID', `peer record of ${toHex(f.id)} has a bad signature`);
    }
    const record = new PeerRecord({ id: f.id, publicKey: f.publicKey, addresses, seq: f.seq as number, signature: f.signature });
    rememberVerified(record);
    return record;
  }

  /**
   * Build a record from its wire form (see `wire`), or throw a PeerRecordError with a stable
   * code: the same bytes as a record verified before give that record, anything else is decoded
   * and verified in full.
   */
  static fromWire(wire: unknown): PeerRecord {
    if (!(wire instanceof Uint8Array)) throw invalid('a peer record travels as a byte string');
    if (wire.length > MAX_WIRE_BYTES) throw invalid(`${wire.length} bytes, more than ${MAX_WIRE_BYTES}`);
    const known = knownWire(wire);
    if (known !== undefined) return known;
    let fields: unknown;
    try {
      fields = wireCodec.decode(wire);
    } catch (err) {
      throw invalid(`not one CBOR item (${(err as Error).message})`);
    }
    if (!Array.isArray(fields) || fields.length !== 5) throw invalid('the wire form is a list of 5 fields');
    const [id, publicKey, addresses, seq, signature] = fields as unknown[];
    return PeerRecord.verify({ id, publicKey, addresses, seq, signature });
  }

  /**
   * A record as a message holds it: a PeerRecord (a shared ref, rebuilt through `fromWire` when it
   * crossed a session, thread or process, so verified), or a wire form, checked by `fromWire`.
   */
  static of(value: unknown): PeerRecord {
    return value instanceof PeerRecord ? value : PeerRecord.fromWire(value);
  }

  /** This record as it crosses the network or a thread or process (see MAX_WIRE_BYTES). */
  get wire(): Uint8Array {
    return this.#wire;
  }

  toFields(): PeerRecordFields {
    return { id: this.id, publicKey: this.publicKey, addresses: [...this.addresses], seq: this.seq, signature: this.signature };
  }

  /** Take a newer version of the same peer's record (higher seq); older or equal ones are ignored. */
  adopt(newer: PeerRecord): boolean {
    if (newer.idHex !== this.idHex || newer.seq <= this.seq) return false;
    this.addresses = newer.addresses;
    this.seq = newer.seq;
    this.signature = newer.signature;
    this.#wire = newer.wire;
    return true;
  }
}

export const PeerRecordShared = defineShared<PeerRecord, Uint8Array>({
  class: PeerRecord,
  tag: 40_001,
  id: (record) => record.idHex,
  toSendable: (record) => record.wire,
  fromSendable: (wire) => PeerRecord.fromWire(wire),
  update: (existing, incoming) => void existing.adopt(incoming),
});

function signedBytes(id: Uint8Array, publicKey: Uint8Array, addresses: readonly string[], seq: number): Uint8Array {
  return signingCodec.encode([RECORD_LABEL, plainBytes(id), plainBytes(publicKey), addresses, seq]);
}

function checkAddresses(addresses: readonly unknown[]): string[] {
  if (addresses.length > MAX_ADDRESSES) throw invalid(`more than ${MAX_ADDRESSES} addresses`);
  return addresses.map((address) => {
    if (typeof address !== 'string' || address.length > MAX_ADDRESS_LENGTH) throw invalid('an address must be a multiaddr string');
    try {
      return multiaddr(address).toString();
    } catch {
      throw new PeerRecordError('ERR_ADDRESS_INVALID', `not a multiaddr: ${JSON.stringify(address)}`);
    }
  });
}

function invalid(detail: string): PeerRecordError {
  return new PeerRecordError('ERR_PEER_RECORD_INVALID', `invalid peer record: ${detail}`);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
