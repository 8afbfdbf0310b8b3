import type { Connection, DialOptions, Listener, Transport } from '../../src/net/transport.ts';

export interface Recording {
  connection: Connection;
  /** Each write this node made, in order (the write service writes one frame at a time). */
  sent: Uint8Array[];
  /** Every chunk this node received, in order. */
  received: Uint8Array[];
}

/**
 * Wraps a transport to record what its node sends and receives, and to tamper with a write on
 * demand: the test's man in the middle.
 */
export class RecordingTransport implements Transport {
  readonly name: Transport['name'];
  readonly duplex = true as const;
  readonly recordings: Recording[] = [];
  /** If set, called on every outgoing write; it may return other bytes to send instead. */
  tamper: ((bytes: Uint8Array, recording: Recording) => Uint8Array) | undefined;
  /**
   * If set and true for a connection, its writes are recorded but never sent, and `write` says
   * the buffer is over its mark: the other end has stopped reading.
   */
  holding: ((recording: Recording) => boolean) | undefined;
  readonly #inner: Transport;

  constructor(inner: Transport) {
    this.#inner = inner;
    this.name = inner.name;
  }

  handles(address: string): boolean {
    return this.#inner.handles(address);
  }

  listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    return this.#inner.listen(address, (connection) => onConnection(this.#wrap(connection)));
  }

  async dial(address: string, options?: DialOptions): Promise<Connection> {
    return this.#wrap(await this.#inner.dial(address, options));
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  #wrap(connection: Connection): Connection {
    const recording: Recording = { connection, sent: [], received: [] };
    this.recordings.push(recording);
    const wrapped: Connection = Object.create(connection) as Connection;
    Object.defineProperties(wrapped, {
      write: {
        value: (bytes: Uint8Array) => {
          const out = this.tamper === undefined ? bytes : this.tamper(bytes, recording);
          recording.sent.push(Uint8Array.from(out));
          if (this.holding?.(recording) === true) return false;
          return connection.write(out);
        },
      },
      close: { value: (reset?: boolean) => connection.close(reset) },
      closed: { get: () => connection.closed },
      onData: {
        set: (handler: ((chunk: Uint8Array) => void) | undefined) => {
          connection.onData =
            handler === undefined
              ? undefined
              : (chunk) => {
                  recording.received.push(Uint8Array.from(chunk));
                  handler(chunk);
                };
        },
        get: () => connection.onData,
      },
      onClose: { set: (handler) => (connection.onClose = handler), get: () => connection.onClose },
      onDrain: { set: (handler) => (connection.onDrain = handler), get: () => connection.onDrain },
    });
    return wrapped;
  }
}
