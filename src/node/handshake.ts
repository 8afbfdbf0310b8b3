import { createHash, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { Codec } from '../runtime/codec.ts';
import { MyDhtError } from '../runtime/errors.ts';
import { ChallengeCache, type ChallengeCacheOptions } from './challenge-cache.ts';
import { NodeIdentity, verifySignature } from './identity.ts';
import { equalBytes, PeerRecord, PeerRecordError } from './peer-record.ts';
import { SESSION_KEY_BYTES } from './session-cipher.ts';
import type { SecureChannel } from '../net/transport.ts';

/**
 * ping - pong - pong: MyDHT's three-message challenge handshake, without its weak points.
 *
 *   A -> B  PING  A's record, nonce A, ephemeral key A, the address A dialed
 *   B -> A  PONG  B's record, nonce B, ephemeral key B, the address B sees A at, nonce A echoed,
 *                 B's signature over the transcript under the responder label
 *   A -> B  PONG  nonce B echoed, A's signature over the same transcript under the initiator label
 *
 * The transcript names both ids, both nonces, both ephemeral keys and both addresses. Each side
 * is authenticated only by signing a fresh nonce the *other* side chose and consumes once, so a
 * recorded message replayed later, or to another node, finds no nonce to match. The two labels
 * differ, so B's signature reflected back as A's never verifies. Session keys come from the
 * ephemeral X25519 exchange through HKDF, one key per direction.
 *
 * Over a transport whose channel already authenticates both ends (libp2p's Noise), the
 * transcript also names both channel ids, initiator's first, and each side checks that the
 * record it authenticates carries the very key the channel proved. The handshake is then a
 * binding between the two identities, and the session keys go unused: the channel encrypts.
 */
export const NONCE_BYTES = 32;
export const EPHEMERAL_KEY_BYTES = 32;
const RESPONDER_LABEL = 'mydht/handshake/v1/responder';
const INITIATOR_LABEL = 'mydht/handshake/v1/initiator';
const SESSION_INFO = 'mydht/session/v1';
const MAX_ADDRESS_LENGTH = 256;

export interface PingMessage {
  type: 'ping';
  /** A's record, in its wire form (PeerRecord.wire). */
  record: Uint8Array;
  nonce: Uint8Array;
  ephemeral: Uint8Array;
  /** The address A dialed B at. */
  dialed: string;
}

export interface PongMessage {
  type: 'pong';
  /** B's record, in its wire form (PeerRecord.wire). */
  record: Uint8Array;
  nonce: Uint8Array;
  ephemeral: Uint8Array;
  /** The address B sees A at. */
  observed: string;
  /** Nonce A, so A finds its handshake. */
  echo: Uint8Array;
  signature: Uint8Array;
}

export interface PongBackMessage {
  type: 'pong-back';
  /** Nonce B, so B finds its handshake. */
  echo: Uint8Array;
  signature: Uint8Array;
}

export type HandshakeMessage = PingMessage | PongMessage | PongBackMessage;

/** An authenticated peer and the keys of the session with it. */
export interface Session {
  peer: PeerRecord;
  /** Seals what we send. */
  sendKey: Uint8Array;
  /** Opens what we receive. */
  receiveKey: Uint8Array;
  /** A short id for logs: the first 8 bytes of the transcript's hash, hex. */
  id: string;
  initiator: boolean;
}

/** Every way a handshake is refused, with its stable code. Counted by code, never a crash. */
export type AuthFailure =
  | 'ERR_AUTH_MALFORMED'
  | 'ERR_AUTH_REPLAY'
  | 'ERR_AUTH_SIGNATURE'
  | 'ERR_AUTH_PEER_RECORD'
  | 'ERR_AUTH_PINNED'
  | 'ERR_AUTH_UNEXPECTED_PEER'
  | 'ERR_AUTH_SELF'
  | 'ERR_AUTH_CHANNEL'
  | 'ERR_HANDSHAKE_BUSY';

export class AuthError extends MyDhtError {
  declare readonly code: AuthFailure;
  constructor(code: AuthFailure, message: string) {
    super(code, message);
  }
}

export interface HandshakeOptions {
  identity: NodeIdentity;
  /** Our current record, sent in PING and PONG. */
  record: () => PeerRecord;
  /** A pinned peer's known public key: a known id answering with another key is refused. */
  pinnedKey?: (peerIdHex: string) => Uint8Array | undefined;
  cache?: Partial<ChallengeCacheOptions>;
}

/** Pending handshakes at most, per side; matches js-libp2p's order of magnitude for pending inbound. */
export const DEFAULT_PENDING_HANDSHAKES = 1024;
export const DEFAULT_HANDSHAKE_TTL_MS = 10_000;

interface Initiated {
  nonce: Uint8Array;
  ephemeral: KeyObject;
  ephemeralPublic: Uint8Array;
  dialed: string;
  expectedPeer: string | undefined;
  binding: unknown;
  channel: SecureChannel | undefined;
}

interface Responded {
  peer: PeerRecord;
  transcript: Uint8Array;
  secret: Uint8Array;
  binding: unknown;
}

const codec = new Codec();

/**
 * Both sides of the handshake for one node: pure message in, message out, with the nonces in
 * two bounded, expiring challenge caches. `binding` ties a pending handshake to its connection:
 * an answer that arrives on another connection finds no handshake.
 */
export class Handshaker {
  readonly #options: HandshakeOptions;
  readonly #initiated: ChallengeCache<Initiated>;
  readonly #responded: ChallengeCache<Responded>;

  constructor(options: HandshakeOptions) {
    this.#options = options;
    const cache = { capacity: DEFAULT_PENDING_HANDSHAKES, ttlMs: DEFAULT_HANDSHAKE_TTL_MS, ...options.cache };
    this.#initiated = new ChallengeCache(cache);
    this.#responded = new ChallengeCache(cache);
  }

  /** Handshakes in progress, both directions. */
  get pending(): number {
    return this.#initiated.size + this.#responded.size;
  }

  /**
   * A starts: the PING for a connection it dialed at `dialed`, optionally expecting a peer id;
   * `channel` when the connection's transport authenticated it already.
   */
  initiate(dialed: string, binding: unknown, expectedPeer?: string, channel?: SecureChannel): PingMessage {
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const ephemeralPublic = rawX25519(publicKey);
    if (!this.#initiated.put(nonce, { nonce, ephemeral: privateKey, ephemeralPublic, dialed, expectedPeer, binding, channel })) {
      throw new AuthError('ERR_HANDSHAKE_BUSY', 'too many handshakes in progress');
    }
    return { type: 'ping', record: this.#options.record().wire, nonce, ephemeral: ephemeralPublic, dialed };
  }

  /** B answers a PING that arrived on a connection from `observed` (over `channel`, if the transport has one). */
  respond(message: unknown, observed: string, binding: unknown, channel?: SecureChannel): PongMessage {
    const ping = checkPing(message);
    const peer = this.#verifyPeer(ping.record, undefined, channel);
    const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    const ephemeral = rawX25519(publicKey);
    const own = this.#options.identity;
    const transcript = transcriptOf(peer.id, own.id, ping.nonce, nonce, ping.ephemeral, ephemeral, ping.dialed, observed, channel && [channel.remoteId, channel.localId]);
    const secret = exchange(privateKey, ping.ephemeral);
    if (!this.#responded.put(nonce, { peer, transcript, secret, binding })) {
      throw new AuthError('ERR_HANDSHAKE_BUSY', 'too many handshakes in progress');
    }
    const signature = own.sign(labelled(RESPONDER_LABEL, transcript));
    return { type: 'pong', record: this.#options.record().wire, nonce, ephemeral, observed, echo: ping.nonce, signature };
  }

  /** A checks B's PONG and answers with its own; the session is then open on A's side. */
  confirm(message: unknown, binding: unknown): { reply: PongBackMessage; session: Session } {
    const pong = checkPong(message);
    const initiated = this.#initiated.take(pong.echo, (entry) => entry.binding === binding);
    if (initiated === undefined) {
      throw new AuthError('ERR_AUTH_REPLAY', 'PONG for a nonce that is unknown, already used or expired');
    }
    const { channel } = initiated;
    const peer = this.#verifyPeer(pong.record, initiated.expectedPeer, channel);
    const own = this.#options.identity;
    const transcript = transcriptOf(
      own.id,
      peer.id,
      initiated.nonce,
      pong.nonce,
      initiated.ephemeralPublic,
      pong.ephemeral,
      initiated.dialed,
      pong.observed,
      channel && [channel.localId, channel.remoteId],
    );
    if (!verifySignature(peer.publicKey, labelled(RESPONDER_LABEL, transcript), pong.signature)) {
      throw new AuthError('ERR_AUTH_SIGNATURE', `PONG from ${peer.idHex} is not signed by its key`);
    }
    const secret = exchange(initiated.ephemeral, pong.ephemeral);
    const signature = own.sign(labelled(INITIATOR_LABEL, transcript));
    return { reply: { type: 'pong-back', echo: pong.nonce, signature }, session: sessionOf(peer, secret, transcript, true) };
  }

  /** B checks A's final PONG; the session is then open on B's side. */
  accept(message: unknown, binding: unknown): Session {
    const back = checkPongBack(message);
    const responded = this.#responded.take(back.echo, (entry) => entry.binding === binding);
    if (responded === undefined) {
      throw new AuthError('ERR_AUTH_REPLAY', 'final PONG for a nonce that is unknown, already used or expired');
    }
    if (!verifySignature(responded.peer.publicKey, labelled(INITIATOR_LABEL, responded.transcript), back.signature)) {
      throw new AuthError('ERR_AUTH_SIGNATURE', `final PONG from ${responded.peer.idHex} is not signed by its key`);
    }
    return sessionOf(responded.peer, responded.secret, responded.transcript, false);
  }

  /** The connection of a pending handshake closed: forget its nonce. */
  abandon(nonce: Uint8Array): void {
    this.#initiated.drop(nonce);
    this.#responded.drop(nonce);
  }

  #verifyPeer(wire: unknown, expected: string | undefined, channel: SecureChannel | undefined): PeerRecord {
    let peer: PeerRecord;
    try {
      peer = PeerRecord.fromWire(wire);
    } catch (err) {
      throw new AuthError('ERR_AUTH_PEER_RECORD', `bad peer record: ${(err as PeerRecordError).message}`);
    }
    if (equalBytes(peer.id, this.#options.identity.id)) throw new AuthError('ERR_AUTH_SELF', 'a node cannot connect to itself');
    if (expected !== undefined && peer.idHex !== expected) {
      throw new AuthError('ERR_AUTH_UNEXPECTED_PEER', `dialed ${expected} but ${peer.idHex} answered`);
    }
    if (channel !== undefined && !equalBytes(channel.remoteKey, peer.publicKey)) {
      throw new AuthError('ERR_AUTH_CHANNEL', `${peer.idHex} is not the peer the transport's channel authenticated (${channel.remoteId})`);
    }
    const pinned = this.#options.pinnedKey?.(peer.idHex);
    if (pinned !== undefined && !equalBytes(pinned, peer.publicKey)) {
      throw new AuthError('ERR_AUTH_PINNED', `${peer.idHex} answered with a key other than its pinned one`);
    }
    return peer;
  }
}

function transcriptOf(
  idA: Uint8Array,
  idB: Uint8Array,
  nonceA: Uint8Array,
  nonceB: Uint8Array,
  ephemeralA: Uint8Array,
  ephemeralB: Uint8Array,
  dialed: string,
  observed: string,
  /** The transport channel's ids of A and B, when the transport authenticated the connection. */
  channelIds: readonly [string, string] | undefined,
): Uint8Array {
  return Uint8Array.from(codec.encode([idA, idB, nonceA, nonceB, ephemeralA, ephemeralB, dialed, observed, channelIds ?? null]));
}

function labelled(label: string, transcript: Uint8Array): Uint8Array {
  return codec.encode([label, transcript]);
}

function sessionOf(peer: PeerRecord, secret: Uint8Array, transcript: Uint8Array, initiator: boolean): Session {
  const digest = createHash('sha256').update(transcript).digest();
  const keys = new Uint8Array(hkdfSync('sha256', secret, digest, SESSION_INFO, SESSION_KEY_BYTES * 2));
  const aToB = keys.subarray(0, SESSION_KEY_BYTES);
  const bToA = keys.subarray(SESSION_KEY_BYTES);
  return {
    peer,
    sendKey: initiator ? aToB : bToA,
    receiveKey: initiator ? bToA : aToB,
    id: digest.subarray(0, 8).toString('hex'),
    initiator,
  };
}

function exchange(privateKey: KeyObject, peerPublic: Uint8Array): Uint8Array {
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerPublic).toString('base64url') }, format: 'jwk' });
    return new Uint8Array(diffieHellman({ privateKey, publicKey }));
  } catch {
    // A low-order point makes the exchange fail: refuse like any other bad key.
    throw new AuthError('ERR_AUTH_MALFORMED', 'unusable ephemeral key');
  }
}

function rawX25519(publicKey: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
}

// ---- shape checks: everything from the wire is checked before use -------------------------

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

function isAddress(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ADDRESS_LENGTH;
}

function malformed(what: string): AuthError {
  return new AuthError('ERR_AUTH_MALFORMED', `malformed ${what}`);
}

function checkPing(message: unknown): PingMessage {
  const m = message as Partial<PingMessage> | null;
  if (typeof m !== 'object' || m === null || m.type !== 'ping') throw malformed('PING');
  if (!isBytes(m.nonce, NONCE_BYTES) || !isBytes(m.ephemeral, EPHEMERAL_KEY_BYTES) || !isAddress(m.dialed)) throw malformed('PING');
  return m as PingMessage;
}

function checkPong(message: unknown): PongMessage {
  const m = message as Partial<PongMessage> | null;
  if (typeof m !== 'object' || m === null || m.type !== 'pong') throw malformed('PONG');
  if (!isBytes(m.nonce, NONCE_BYTES) || !isBytes(m.echo, NONCE_BYTES) || !isBytes(m.ephemeral, EPHEMERAL_KEY_BYTES)) throw malformed('PONG');
  if (!isAddress(m.observed) || !(m.signature instanceof Uint8Array)) throw malformed('PONG');
  return m as PongMessage;
}

function checkPongBack(message: unknown): PongBackMessage {
  const m = message as Partial<PongBackMessage> | null;
  if (typeof m !== 'object' || m === null || m.type !== 'pong-back') throw malformed('final PONG');
  if (!isBytes(m.echo, NONCE_BYTES) || !(m.signature instanceof Uint8Array)) throw malformed('final PONG');
  return m as PongBackMessage;
}
