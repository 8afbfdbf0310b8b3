import { deadlines, type Expirable } from './deadlines.ts';
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
 * once, and releases its deadline and listener when it does.
 */
export class PendingCall implements ReplySink, Expirable {
  readonly promise: Promise<unknown>;
  #resolve!: (value: unknown) => void;
  #reject!: (error: unknown) => void;
  readonly #service: string;
  readonly #type: string;
  readonly #timeoutMs: number;
  #deadlineKey = -1;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;
  #settled = false;
  /** Called once when the call settles, however it does: owners drop their reference to it here. */
  onFinish: (() => void) | undefined;

  constructor(service: string, type: string, timeoutMs: number, signal: AbortSignal | undefined) {
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#service = service;
    this.#type = type;
    this.#timeoutMs = timeoutMs;
    if (signal?.aborted) {
      this.reject(new AbortedError(signal.reason));
      return;
    }
    this.#deadlineKey = deadlines.add(this, timeoutMs);
    if (signal !== undefined) {
      this.#signal = signal;
      this.#onAbort = () => this.reject(new AbortedError(signal.reason));
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  get abandoned(): boolean {
    return this.#settled;
  }

  expire(): void {
    this.#deadlineKey = -1;
    this.reject(new CallTimeoutError(this.#service, this.#type, this.#timeoutMs));
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
    if (this.#deadlineKey !== -1) deadlines.remove(this, this.#deadlineKey);
    if (this.#onAbort !== undefined) this.#signal!.removeEventListener('abort', this.#onAbort);
    this.onFinish?.();
    return true;
  }
}
