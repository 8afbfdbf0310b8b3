import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MyDhtError } from '../runtime/errors.ts';
import type { Logger } from '../runtime/logger.ts';

/** Raw Ed25519 public keys and signatures, and SHA-256 peer ids, in bytes. */
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const PEER_ID_BYTES = 32;

/** The key file inside a node's data dir: PKCS#8 PEM, readable by its owner only. */
export const KEY_FILE = 'node.key';
const KEY_FILE_MODE = 0o600;

export class IdentityError extends MyDhtError {}

/** A peer id is the SHA-256 of the raw Ed25519 public key: a 256-bit Kademlia id. */
export function peerIdOf(publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKey).digest());
}

/**
 * Copies into Node's buffer pool rather than viewing `bytes.buffer`: reading `.buffer` of a small
 * Uint8Array that lives on V8's heap (a decoded id, see Codec) moves it to a block of its own.
 */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const ED25519_SEED_BYTES = 32;
/** PKCS#8 (RFC 8410) DER header of an Ed25519 private key: the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A node's own key pair and id. The private key never leaves this object. */
export class NodeIdentity {
  readonly publicKey: Uint8Array;
  readonly id: Uint8Array;
  readonly idHex: string;
  readonly #privateKey: KeyObject;

  private constructor(privateKey: KeyObject) {
    this.#privateKey = privateKey;
    this.publicKey = rawPublicKey(createPublicKey(privateKey));
    this.id = peerIdOf(this.publicKey);
    this.idHex = toHex(this.id);
  }

  static generate(): NodeIdentity {
    return new NodeIdentity(generateKeyPairSync('ed25519').privateKey);
  }

  /**
   * The identity whose Ed25519 private key is `seed` (32 bytes, RFC 8032's secret key): the same
   * seed gives the same id, for reproducible tests and simulations. Never for a real node's key
   * unless the seed is itself secret and random.
   */
  static fromSeed(seed: Uint8Array): NodeIdentity {
    if (seed.length !== ED25519_SEED_BYTES) throw new IdentityError('ERR_KEY_INVALID', `an Ed25519 seed is ${ED25519_SEED_BYTES} bytes, not ${seed.length}`);
    return new NodeIdentity(createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' }));
  }

  /** The PKCS#8 PEM form, as the key file holds it. */
  toPem(): string {
    return this.#privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  /**
   * The 32-byte Ed25519 seed (RFC 8032's secret key), for a transport that runs its own secure
   * channel under the node's key (libp2p: the node's key is its libp2p key, so Noise proves the
   * same identity). Nothing else should take it out of this object.
   */
  exportSeed(): Uint8Array {
    const der = this.#privateKey.export({ format: 'der', type: 'pkcs8' });
    return new Uint8Array(der.subarray(PKCS8_ED25519_PREFIX.length));
  }

  static fromPem(pem: string): NodeIdentity {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (err) {
      throw new IdentityError('ERR_KEY_INVALID', `the node key is not a valid private key: ${(err as Error).message}`);
    }
    if (key.asymmetricKeyType !== 'ed25519') {
      throw new IdentityError('ERR_KEY_INVALID', `the node key must be Ed25519, not ${key.asymmetricKeyType ?? 'unknown'}`);
    }
    return new NodeIdentity(key);
  }

  /**
   * The identity kept in `dataDir`, created on first start. The key file is written with mode
   * 0600; one found readable by others is tightened back to 0600, with a warning.
   */
  static async loadOrCreate(dataDir: string, log?: Logger): Promise<NodeIdentity> {
    const path = join(dataDir, KEY_FILE);
    let pem: string | undefined;
    try {
      pem = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (pem === undefined) {
      const identity = NodeIdentity.generate();
      await mkdir(dataDir, { recursive: true, mode: 0o700 });
      // Written whole to a file of its own, then linked into place: a crash mid-write leaves no
      // half key behind, and link() fails rather than overwrite a key another process made meanwhile.
      const pending = `${path}.${process.pid}.${randomUUID()}.tmp`;
      try {
        await writeFile(pending, identity.toPem(), { mode: KEY_FILE_MODE, flag: 'wx', flush: true });
        await link(pending, path);
      } finally {
        await unlink(pending).catch(() => {});
      }
      log?.info({ id: identity.idHex, path }, 'created node key');
      return identity;
    }
    const mode = (await stat(path)).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      log?.warn({ path, mode: mode.toString(8) }, 'node key was readable by others; set to 0600');
      await chmod(path, KEY_FILE_MODE);
    }
    return NodeIdentity.fromPem(pem);
  }

  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, message, this.#privateKey));
  }
}

/**
 * Verify an Ed25519 signature by a raw public key. Wrong lengths are a plain `false`, never a
 * throw: they come from the network.
 */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  const triple = createHash('sha256').update(publicKey).update(signature).update(message).digest('base64');
  if (verifiedTriples.has(triple)) return true;
  let valid: boolean;
  try {
    valid = verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
  if (valid) {
    if (verifiedTriples.size >= VERIFIED_CACHE_SIZE) verifiedTriples.delete(verifiedTriples.values().next().value!);
    verifiedTriples.add(triple);
  }
  return valid;
}

/**
 * (key, signature, message) triples that verified, by their SHA-256: the same record is often
 * checked several times on its way (validated on arrival, read back before a replacement, read
 * on a get), and an Ed25519 verify costs ~93 us where the hash costs ~1 us (measured). Only
 * successes are kept, and a hit needs the same key, signature and message, so a changed byte
 * anywhere is verified afresh. Bounded, oldest first out.
 */
const VERIFIED_CACHE_SIZE = 16_384;
const verifiedTriples = new Set<string>();

// Building a KeyObject from raw bytes costs more than the verify itself; keep the recent ones.
const KEY_CACHE_SIZE = 4096;
const keyCache = new Map<string, KeyObject>();

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const cacheKey = toHex(publicKey);
  let key = keyCache.get(cacheKey);
  if (key === undefined) {
    key = publicKeyFromRaw('ed25519', publicKey);
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(cacheKey, key);
  }
  return key;
}

/** SPKI (RFC 8410) DER headers of raw 32-byte public keys: the key follows. */
const SPKI_PREFIX = { ed25519: '302a300506032b6570032100', x25519: '302a300506032b656e032100' } as const;

/**
 * A KeyObject for a raw 32-byte Ed25519 or X25519 public key, imported from PEM: Node takes a
 * PEM string in 8 us where a JWK or DER options object costs 24-27 us (measured, Node 24), most
 * of it the checks it runs on an options object. Throws on a key OpenSSL refuses.
 */
export function publicKeyFromRaw(type: keyof typeof SPKI_PREFIX, raw: Uint8Array): KeyObject {
  const der = Buffer.concat([Buffer.from(SPKI_PREFIX[type], 'hex'), raw]);
  return createPublicKey(`-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`);
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new IdentityError('ERR_KEY_INVALID', 'cannot read the Ed25519 public key');
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}
