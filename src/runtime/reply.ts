import { AbortedError, CallTimeoutError } from './errors.ts';

/** Where the outcome of one command goes: a local caller's promise, or a reply envelope. */
export interface ReplySink {
  /** True once the caller gave up (deadline, abort, stop): a queued command is then skipped. */
  readonly abandoned: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Default deadline of a call: long enough for a lookup across a slow network, never infinite. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/**
 * A call waiting for its reply, with its deadline and its caller's AbortSignal. Settles exactly
 * once, and releases its timer and listener when it does.
 */
export class PendingCall implements ReplySink {
  readonly promise: Promise<unknown>;
  #resolve!: (value: unknown) => void;
  #reject!: (error: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #signal: AbortSignal | undefined;
  #settled = false;
  readonly #onAbort = (): void => this.reject(new AbortedError(this.#signal?.reason));

  constructor(service: string, type: string, timeoutMs: number, signal: AbortSignal | undefined) {
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (signal?.aborted) {
      this.reject(new AbortedError(signal.reason));
      return;
    }
    this.#timer = setTimeout(() => this.reject(new CallTimeoutError(service, type, timeoutMs)), timeoutMs);
    if (signal !== undefined) {
      this.#signal = signal;
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  get abandoned(): boolean {
    return this.#settled;
  }

  resolve(value: unknown): void {
    if (this.#finish()) this.#resolve(value);
  }

  reject(error: unknown): void {
    if (this.#finish()) this.#reject(error);
  }

  #finish(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    return true;
  }
}
