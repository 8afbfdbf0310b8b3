/**
 * Erlang/OTP-style restart intensity: at most `maxRestarts` restarts within `windowMs`, each after
 * an exponential backoff. Past that the service is given up (ERR_SERVICE_FAILED), since a service
 * that crashes on every start would otherwise spin forever.
 */
export interface RestartPolicy {
  /** Restarts allowed inside one window. OTP's default intensity is 1 per 5 s; services here restart cheaply. */
  maxRestarts: number;
  windowMs: number;
  /** First backoff; doubles with each restart still inside the window. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { maxRestarts: 5, windowMs: 10_000, backoffMs: 50, maxBackoffMs: 2_000 };

export class RestartBudget {
  readonly #policy: RestartPolicy;
  readonly #recent: number[] = [];

  constructor(policy: RestartPolicy) {
    this.#policy = policy;
  }

  /** The delay before the next restart, or undefined when the budget is spent. */
  next(now = Date.now()): number | undefined {
    while (this.#recent.length > 0 && now - this.#recent[0]! > this.#policy.windowMs) this.#recent.shift();
    if (this.#recent.length >= this.#policy.maxRestarts) return undefined;
    // The exponent is capped so a zero backoff stays zero (0 * 2^1024 would be NaN).
    const delay = Math.min(this.#policy.maxBackoffMs, this.#policy.backoffMs * 2 ** Math.min(this.#recent.length, 30));
    this.#recent.push(now);
    return delay;
  }
}
