import { createHash } from 'node:crypto';
import { Codec, plainBytes } from '../runtime/codec.ts';
import { MyDhtError } from '../runtime/errors.ts';
import { NodeIdentity, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifySignature } from '../node/identity.ts';
import { ID_BYTES } from './xor.ts';

/**
 * What the DHT stores. Every record is checked by `validateRecord` when it is put and again
 * when it is read, on every node, so a bad record is refused wherever it shows up.
 *
 * - immutable: key = SHA-256(value); anyone can store it, nobody can change it.
 * - mutable (BEP 44): key = SHA-256(label, public key, salt); signed by that key over
 *   (label, salt, seq, value). A newer version needs a higher seq; the same seq with another
 *   value is refused, so nobody can roll a record back or fork it.
 * - plain: key = SHA-256(label, namespace, name); its namespace's validator decides.
 */
export type DhtRecord = ImmutableRecord | MutableRecord | PlainRecord;

export interface ImmutableRecord {
  kind: 'immutable';
  key: Uint8Array;
  value: Uint8Array;
}

export interface MutableRecord {
  kind: 'mutable';
  key: Uint8Array;
  value: Uint8Array;
  publicKey: Uint8Array;
  salt: Uint8Array;
  seq: number;
  signature: Uint8Array;
}

export interface PlainRecord {
  kind: 'plain';
  key: Uint8Array;
  value: Uint8Array;
  namespace: string;
  name: string;
}

export class RecordError extends MyDhtError {}

export interface RecordLimits {
  /** Largest value, bytes. 64 KiB by default (libp2p's and OpenDHT's order of magnitude). */
  maxValueBytes: number;
  /** Largest mutable salt, bytes (BEP 44 allows 64). */
  maxSaltBytes: number;
}

export const DEFAULT_RECORD_LIMITS: RecordLimits = { maxValueBytes: 64 * 1024, maxSaltBytes: 64 };

/** A namespace's rule for plain records: throw to refuse. */
export type NamespaceValidator = (record: PlainRecord) => void;

const MUTABLE_KEY_LABEL = 'mydht/record/mutable-key/v1';
const MUTABLE_SIGNATURE_LABEL = 'mydht/record/mutable/v1';
const PLAIN_KEY_LABEL = 'mydht/record/plain-key/v1';
const MAX_NAME_LENGTH = 256;
const codec = new Codec();

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest());

export function immutableKey(value: Uint8Array): Uint8Array {
  return sha256(value);
}

export function mutableKey(publicKey: Uint8Array, salt: Uint8Array = new Uint8Array(0)): Uint8Array {
  return sha256(codec.encode([MUTABLE_KEY_LABEL, plainBytes(publicKey), plainBytes(salt)]));
}

export function plainKey(namespace: string, name: string): Uint8Array {
  return sha256(codec.encode([PLAIN_KEY_LABEL, namespace, name]));
}

export function immutableRecord(value: Uint8Array): ImmutableRecord {
  return { kind: 'immutable', key: immutableKey(value), value };
}

/** Sign a mutable record with a node's (or a user's) identity. */
export function mutableRecord(identity: NodeIdentity, value: Uint8Array, seq: number, salt: Uint8Array = new Uint8Array(0)): MutableRecord {
  const signature = identity.sign(mutableSigned(salt, seq, value));
  return { kind: 'mutable', key: mutableKey(identity.publicKey, salt), value, publicKey: identity.publicKey, salt, seq, signature };
}

export function plainRecord(namespace: string, name: string, value: Uint8Array): PlainRecord {
  return { kind: 'plain', key: plainKey(namespace, name), value, namespace, name };
}

function mutableSigned(salt: Uint8Array, seq: number, value: Uint8Array): Uint8Array {
  return codec.encode([MUTABLE_SIGNATURE_LABEL, plainBytes(salt), seq, plainBytes(value)]);
}

/** Sizes were checked when the record was put; on the way back from a disk only integrity is. */
const ANY_SIZE: RecordLimits = { maxValueBytes: Number.MAX_SAFE_INTEGER, maxSaltBytes: 64 };

/**
 * Check a record read back from this node's own disk: shape, key and signature, whatever its
 * size (checked when it was put). A plain record's namespace rule is left to the next put or get:
 * here only its shape and the derivation of its key are checked. Throws a RecordError.
 */
export function validateStoredRecord(input: unknown): DhtRecord {
  const namespace = (input as { namespace?: unknown } | null)?.namespace;
  const anyRule = typeof namespace === 'string' ? new Map([[namespace, () => {}]]) : undefined;
  return validateRecord(input, ANY_SIZE, anyRule);
}

/**
 * Check a record from anywhere (a peer, a store, a user): shape, size, key, signature,
 * namespace. Returns it typed, or throws a RecordError with a stable code.
 */
export function validateRecord(
  input: unknown,
  limits: RecordLimits = DEFAULT_RECORD_LIMITS,
  validators: ReadonlyMap<string, NamespaceValidator> = new Map(),
): DhtRecord {
  const record = input as {
    kind?: unknown;
    key?: unknown;
    value?: unknown;
    publicKey?: unknown;
    salt?: unknown;
    seq?: unknown;
    signature?: unknown;
    namespace?: unknown;
    name?: unknown;
  } | null;
  if (typeof record !== 'object' || record === null) throw invalid('a record must be an object');
  const key = record.key;
  const value = record.value;
  if (!(key instanceof Uint8Array) || key.length !== ID_BYTES) throw invalid('the key must be 32 bytes');
  if (!(value instanceof Uint8Array)) throw invalid('the value must be bytes');
  if (value.length > limits.maxValueBytes) {
    throw new RecordError('ERR_RECORD_TOO_LARGE', `a ${value.length}-byte value exceeds ${limits.maxValueBytes} bytes`);
  }
  switch (record.kind) {
    case 'immutable':
      if (!equal(key, immutableKey(value))) throw new RecordError('ERR_RECORD_KEY_MISMATCH', 'an immutable key must be the hash of its value');
      return { kind: 'immutable', key: key, value: value };
    case 'mutable': {
      const { publicKey, salt, seq, signature } = record;
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) throw invalid('the public key must be 32 bytes');
      if (!(salt instanceof Uint8Array) || salt.length > limits.maxSaltBytes) throw invalid(`the salt must be at most ${limits.maxSaltBytes} bytes`);
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw invalid('seq must be a non-negative integer');
      if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) throw invalid('the signature must be 64 bytes');
      if (!equal(key, mutableKey(publicKey, salt))) throw new RecordError('ERR_RECORD_KEY_MISMATCH', 'a mutable key must derive from its public key and salt');
      if (!verifySignature(publicKey, mutableSigned(salt, seq, value), signature)) {
        throw new RecordError('ERR_RECORD_SIGNATURE', 'the record is not signed by its key');
      }
      return { kind: 'mutable', key: key, value: value, publicKey, salt, seq, signature };
    }
    case 'plain': {
      const { namespace, name } = record;
      if (typeof namespace !== 'string' || typeof name !== 'string' || namespace.length > MAX_NAME_LENGTH || name.length > MAX_NAME_LENGTH) {
        throw invalid('a plain record needs a namespace and a name');
      }
      if (!equal(key, plainKey(namespace, name))) throw new RecordError('ERR_RECORD_KEY_MISMATCH', 'a plain key must derive from its namespace and name');
      const validator = validators.get(namespace);
      if (validator === undefined) throw new RecordError('ERR_RECORD_NAMESPACE', `no validator for namespace ${JSON.stringify(namespace)}`);
      const plain: PlainRecord = { kind: 'plain', key: key, value: value, namespace, name };
      try {
        validator(plain);
      } catch (err) {
        throw new RecordError('ERR_RECORD_REFUSED', `namespace ${JSON.stringify(namespace)} refused the record: ${(err as Error).message}`);
      }
      return plain;
    }
    default:
      throw invalid(`unknown record kind ${JSON.stringify(record.kind)}`);
  }
}

/**
 * May `incoming` replace `current` under the same key? Immutable: only the same value. Mutable:
 * a higher seq; the same seq only with the same value (BEP 44's SEQ_TOO_LOW and SEQ_REUSED, as
 * hyperdht names them). Plain: a newer value replaces an older one.
 */
export function checkReplacement(current: DhtRecord, incoming: DhtRecord): 'replace' | 'same' {
  if (current.kind !== incoming.kind) throw new RecordError('ERR_RECORD_KIND', 'a record cannot change kind');
  if (current.kind === 'immutable') return 'same';
  if (current.kind === 'mutable' && incoming.kind === 'mutable') {
    if (incoming.seq < current.seq) throw new RecordError('ERR_RECORD_SEQ_TOO_LOW', `seq ${incoming.seq} is lower than the stored ${current.seq}`);
    if (incoming.seq === current.seq) {
      if (!equal(incoming.value, current.value)) throw new RecordError('ERR_RECORD_SEQ_REUSED', `seq ${incoming.seq} is already used by another value`);
      return 'same';
    }
    return 'replace';
  }
  return equal(current.value, incoming.value) ? 'same' : 'replace';
}

function invalid(detail: string): RecordError {
  return new RecordError('ERR_RECORD_INVALID', `invalid record: ${detail}`);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
