import { plainDatagram } from './packet.ts';

/**
 * A HELLO unanswered is sent again after this, doubling each time up to the cap, ms. Short: a
 * dial needs two round trips to succeed in a row, so at 10% loss one in five dials loses one.
 */
const HELLO_RETRY_MS = 100;
const HELLO_RETRY_CAP_MS = 1_000;

/**
 * The dialer's side of opening a connection: HELLO until a COOKIE comes, HELLO with the cookie
 * until ACCEPT comes, each sent again on a doubling timer. The connection's dial timeout and
 * AbortSignal end it from outside.
 */
export class Dial {
  readonly #send: (datagram: Uint8Array) => void;
  readonly #connectionId: Uint8Array;
  #cookie: Uint8Array | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the HELLO carrying the cookie first went out, and whether it went out again. */
  #echoedAt: number | undefined;
  #echoedAgain = false;

  constructor(connectionId: Uint8Array, send: (datagram: Uint8Array) => void) {
    this.#connectionId = connectionId;
    this.#send = send;
    this.#hello(HELLO_RETRY_MS);
  }

  /** The listener's cookie: echo it at once. */
  cookie(cookie: Uint8Array): void {
    this.#cookie = cookie;
    this.#hello(HELLO_RETRY_MS);
  }

  /**
   * ACCEPT came: stop, and return the cookie's round trip, the first measure of this path, if
   * the echo went out once (Karn).
   */
  accepted(): number | undefined {
    this.stop();
    return this.#echoedAt !== undefined && !this.#echoedAgain ? performance.now() - this.#echoedAt : undefined;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #hello(retryMs: number): void {
    this.#send(plainDatagram({ type: 'hello', cookie: this.#cookie }, this.#connectionId, true));
    if (this.#cookie !== undefined) {
      if (this.#echoedAt === undefined) this.#echoedAt = performance.now();
      else this.#echoedAgain = true;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#hello(Math.min(HELLO_RETRY_CAP_MS, retryMs * 2)), retryMs);
  }
}
