import type { UdpLimits } from './limits.ts';

/**
 * The retransmission timeout of one connection, from its measured round trips (RFC 6298):
 * a smoothed round trip plus four deviations, clamped, and doubled for each time the same
 * datagram was sent already.
 */
export class RetransmitClock {
  readonly #limits: UdpLimits;
  #smoothed: number | undefined;
  #deviation = 0;
  #rto: number;

  constructor(limits: UdpLimits) {
    this.#limits = limits;
    this.#rto = limits.initialRtoMs;
  }

  sample(roundTripMs: number): void {
    if (this.#smoothed === undefined) {
      this.#smoothed = roundTripMs;
      this.#deviation = roundTripMs / 2;
    } else {
      this.#deviation = 0.75 * this.#deviation + 0.25 * Math.abs(this.#smoothed - roundTripMs);
      this.#smoothed = 0.875 * this.#smoothed + 0.125 * roundTripMs;
    }
    this.#rto = Math.min(this.#limits.maxRtoMs, Math.max(this.#limits.minRtoMs, this.#smoothed + 4 * this.#deviation));
  }

  /** How long to wait for the acknowledgement of a datagram sent for the `retries`+1-th time. */
  timeout(retries: number): number {
    return Math.min(this.#limits.maxRtoMs, this.#rto * 2 ** retries);
  }
}
