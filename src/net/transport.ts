/**
 * The Transport contract every transport in transports/ implements: listen, dial, connections
 * that carry bytes, and close. Framing, the handshake and sealing sit above it, the same for
 * every transport.
 */

export type TransportName = 'tcp' | 'memory' | 'udp' | 'libp2p';

/** One connection between two nodes, as bytes. */
export interface Connection {
  /** Unique among this node's connections, for logs and bookkeeping. */
  readonly id: string;
  readonly direction: 'inbound' | 'outbound';
  /** The other end's address as seen from here (a multiaddr). */
  readonly remoteAddress: string;
  /** This end's address (a multiaddr). */
  readonly localAddress: string;
  /**
   * Queue bytes for the other end. Writes made in one turn of the event loop are coalesced into
   * as few system writes as possible. Returns false once more than the high-water mark is
   * buffered: the caller should wait for `onDrain` before writing more.
   */
  write(bytes: Uint8Array): boolean;
  /** Close, now: buffered bytes are flushed first unless `reset` is set. */
  close(reset?: boolean): void;
  readonly closed: boolean;
  /** Bytes from the other end, in order; chunk boundaries mean nothing. Set once. */
  onData: ((chunk: Uint8Array) => void) | undefined;
  /** Called once when the connection is gone, whichever side closed it. */
  onClose: ((error?: Error) => void) | undefined;
  /** Called when the buffered bytes fell below the high-water mark again. */
  onDrain: (() => void) | undefined;
}

export interface Listener {
  /** The addresses it actually listens on (a port of 0 resolved to the real port). */
  readonly addresses: readonly string[];
  close(): Promise<void>;
}

export interface DialOptions {
  signal?: AbortSignal;
  /** Give up after this long, ms. */
  timeout?: number;
}

export interface Transport {
  readonly name: TransportName;
  /**
   * Whether one connection carries both directions. MyDHT also allowed one-way transports (a
   * socket per direction); every transport here is two-way, and the node relies on it.
   */
  readonly duplex: true;
  /** Whether `address` is one this transport can dial or listen on. */
  handles(address: string): boolean;
  listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener>;
  dial(address: string, options?: DialOptions): Promise<Connection>;
  /** Close every listener and connection. */
  close(): Promise<void>;
}

/** Buffered bytes past which `write` asks the caller to wait: 1 MiB, one maximum frame. */
export const WRITE_HIGH_WATER_MARK = 1024 * 1024;
