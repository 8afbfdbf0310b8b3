/**
 * A token bucket: `perSecond` tokens a second, up to `burst` saved. Each message takes one; a
 * message that finds the bucket empty is over the limit. OpenDHT allows a peer 1,024 requests a
 * second; the burst lets a peer catch up after a quiet spell without being cut off.
 */
export class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  constructor(perSecond: number, burst: number, now = performance.now()) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Take a token if there is one. */
  take(now = performance.now()): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** A peer's session messages per second, and how many it may save up. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** OpenDHT's per-peer request rate; the burst covers a peer's catching up (a put to many keys at once). */
export const DEFAULT_PEER_RATE_LIMIT: RateLimit = { perSecond: 1_024, burst: 8_192 };
