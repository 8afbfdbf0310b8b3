import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/** Each of a resumption's two keys, its ticket, and a MAC (HMAC-SHA256), in bytes. */
export const RESUMPTION_KEY_BYTES = 32;
export const TICKET_BYTES = 16;
export const MAC_BYTES = 32;

export interface ResumptionOptions {
  /** Peers remembered at most; past it, the oldest secret is forgotten first. */
  capacity: number;
  /** How long a chain of resumed sessions may run after the full handshake that began it, ms. */
  ttlMs: number;
  now?: () => number;
}

/**
 * Enough for every peer of a full routing table and then some. An entry holds ~1.3 KB of RSS
 * (measured over 10,000: 91 bytes of heap, the rest the MAC key's OpenSSL object), so ~1.3 MB
 * at capacity.
 */
export const DEFAULT_RESUMPTION_CAPACITY = 1024;
/** An hour: a peer met again within it (a bucket refresh, a republish) skips the signatures. Then a full handshake again. */
export const DEFAULT_RESUMPTION_TTL_MS = 3_600_000;

/** What a session with one peer left behind for the next handshake with it. */
export interface Resumption {
  /** The peer's id, hex. */
  peer: string;
  /** Names the secret in a PING, in the clear; derived apart from it, so it reveals nothing of it. */
  ticket: Uint8Array;
  /** Mixed into the next session's keys. */
  secret: Uint8Array;
  /** Proves each side, a key of its own (an HMAC keyed by raw bytes would import them every time). */
  macKey: KeyObject;
  /** The full handshake's deadline: resuming never extends it. */
  expires: number;
}

/**
 * The resumption secrets of one node, one per peer, newest wins: each session, full or resumed,
 * derives fresh ones from its own key exchange, so a secret is good until the next session with
 * that peer, and a chain of resumed sessions ends an hour after the full handshake that began it
 * (whoever stole a secret cannot renew it for ever). Found by peer when this side dials, by
 * ticket when it answers. Memory only: a restart forgets them all, and the next handshakes are
 * full ones. Copies are kept, never views of a buffer that holds session keys too.
 */
export class ResumptionCache {
  readonly #byPeer = new Map<string, Resumption>();
  readonly #byTicket = new Map<string, Resumption>();
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: ResumptionOptions) {
    this.#capacity = options.capacity;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#byPeer.size;
  }

  /**
   * Keep what a session with `peer` derived, in place of any older one: the key mixed into the
   * next session, the MAC key, and the ticket. `resumed` is the resumption the session was
   * proved with, whose deadline it keeps; a full handshake starts a new one.
   */
  store(peer: string, secret: Uint8Array, macKey: Uint8Array, ticket: Uint8Array, resumed?: Resumption): void {
    if (this.#capacity <= 0) return;
    this.#forget(this.#byPeer.get(peer));
    while (this.#byPeer.size >= this.#capacity) this.#forget(this.#byPeer.values().next().value);
    const expires = resumed?.expires ?? this.#now() + this.#ttlMs;
    const entry: Resumption = { peer, ticket: Uint8Array.from(ticket), secret: Uint8Array.from(secret), macKey: createSecretKey(macKey), expires };
    this.#byPeer.set(peer, entry);
    this.#byTicket.set(ticketKey(ticket), entry);
  }

  /** The secret to offer when dialing `peer`, if one is live. */
  forPeer(peer: string): Resumption | undefined {
    return this.#live(this.#byPeer.get(peer));
  }

  /** The secret a PING's ticket names, if it is live and was made with `peer`. */
  forTicket(ticket: Uint8Array, peer: string): Resumption | undefined {
    const entry = this.#live(this.#byTicket.get(ticketKey(ticket)));
    return entry?.peer === peer ? entry : undefined;
  }

  #live(entry: Resumption | undefined): Resumption | undefined {
    if (entry === undefined) return undefined;
    if (entry.expires <= this.#now()) {
      this.#forget(entry);
      return undefined;
    }
    return entry;
  }

  #forget(entry: Resumption | undefined): void {
    if (entry === undefined) return;
    if (this.#byPeer.get(entry.peer) === entry) this.#byPeer.delete(entry.peer);
    this.#byTicket.delete(ticketKey(entry.ticket));
  }
}

export function macOf(entry: Resumption, message: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', entry.macKey).update(message).digest());
}

/** Whether `mac` is the MAC of `message` under the entry's MAC key, compared in constant time. */
export function macVerifies(entry: Resumption, message: Uint8Array, mac: Uint8Array): boolean {
  return mac.length === MAC_BYTES && timingSafeEqual(macOf(entry, message), mac);
}

function ticketKey(ticket: Uint8Array): string {
  return Buffer.from(ticket).toString('base64');
}
