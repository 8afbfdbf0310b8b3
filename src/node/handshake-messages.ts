import { MyDhtError } from '../runtime/errors.ts';
import { MAC_BYTES, TICKET_BYTES } from './resumption.ts';

/**
 * The handshake's three messages (src/node/handshake.ts), the checks each one from the wire
 * passes before any of it is used, and the typed error of every refusal.
 */
export const NONCE_BYTES = 32;
export const EPHEMERAL_KEY_BYTES = 32;
const MAX_ADDRESS_LENGTH = 256;

export interface PingMessage {
  type: 'ping';
  /** A's record, in its wire form (PeerRecord.wire). */
  record: Uint8Array;
  nonce: Uint8Array;
  ephemeral: Uint8Array;
  /** The address A dialed B at. */
  dialed: string;
  /** The ticket of a resumption secret A holds for B, offered to skip the signatures. */
  resume?: Uint8Array;
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
  /** A full handshake: B's signature over the transcript. */
  signature?: Uint8Array;
  /** A resumed one, in place of the signature: B's HMAC of the transcript under the secret. */
  mac?: Uint8Array;
}

export interface PongBackMessage {
  type: 'pong-back';
  /** Nonce B, so B finds its handshake. */
  echo: Uint8Array;
  /** A's proof, of the kind B's PONG used: a signature, or a MAC when B resumed. */
  signature?: Uint8Array;
  mac?: Uint8Array;
}

export type HandshakeMessage = PingMessage | PongMessage | PongBackMessage;

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

export function checkPing(message: unknown): PingMessage {
  const m = message as Partial<PingMessage> | null;
  if (typeof m !== 'object' || m === null || m.type !== 'ping') throw malformed('PING');
  if (!isBytes(m.nonce, NONCE_BYTES) || !isBytes(m.ephemeral, EPHEMERAL_KEY_BYTES) || !isAddress(m.dialed)) throw malformed('PING');
  if (m.resume !== undefined && !isBytes(m.resume, TICKET_BYTES)) throw malformed('PING');
  return m as PingMessage;
}

export function checkPong(message: unknown): PongMessage {
  const m = message as Partial<PongMessage> | null;
  if (typeof m !== 'object' || m === null || m.type !== 'pong') throw malformed('PONG');
  if (!isBytes(m.nonce, NONCE_BYTES) || !isBytes(m.echo, NONCE_BYTES) || !isBytes(m.ephemeral, EPHEMERAL_KEY_BYTES)) throw malformed('PONG');
  if (!isAddress(m.observed) || !isProof(m)) throw malformed('PONG');
  return m as PongMessage;
}

export function checkPongBack(message: unknown): PongBackMessage {
  const m = message as Partial<PongBackMessage> | null;
  if (typeof m !== 'object' || m === null || m.type !== 'pong-back') throw malformed('final PONG');
  if (!isBytes(m.echo, NONCE_BYTES) || !isProof(m)) throw malformed('final PONG');
  return m as PongBackMessage;
}

/** Exactly one proof: a signature (its length is the verifier's to judge) or a MAC. */
function isProof(m: { signature?: unknown; mac?: unknown }): boolean {
  return m.signature === undefined ? isBytes(m.mac, MAC_BYTES) : m.signature instanceof Uint8Array && m.mac === undefined;
}
