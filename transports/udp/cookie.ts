import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { COOKIE_BYTES } from './packet.ts';

/** A cookie is good for the epoch it was made in and the next: 30 to 60 s, time for a HELLO to come back. */
export const COOKIE_EPOCH_MS = 30_000;

/**
 * Stateless address validation (DTLS's HelloVerifyRequest, QUIC's Retry, discv5's WHOAREYOU):
 * a listener answers an unknown sender's HELLO with a cookie, a MAC over the sender's address,
 * port and connection id, and keeps nothing. Only a sender that receives at that address can
 * echo it, and only then does the listener hold state for the connection. The secret is this
 * process's own, random at start: cookies do not outlive the listener.
 */
export class CookieJar {
  readonly #secret = randomBytes(32);
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  issue(host: string, port: number, connection: string): Uint8Array {
    return this.#mac(host, port, connection, Math.floor(this.#now() / COOKIE_EPOCH_MS));
  }

  check(cookie: Uint8Array, host: string, port: number, connection: string): boolean {
    const epoch = Math.floor(this.#now() / COOKIE_EPOCH_MS);
    return [epoch, epoch - 1].some((candidate) => timingSafeEqual(this.#mac(host, port, connection, candidate), cookie));
  }

  #mac(host: string, port: number, connection: string, epoch: number): Uint8Array {
    const mac = createHmac('sha256', this.#secret).update(`${host}|${port}|${connection}|${epoch}`).digest();
    return new Uint8Array(mac.buffer, mac.byteOffset, COOKIE_BYTES);
  }
}
