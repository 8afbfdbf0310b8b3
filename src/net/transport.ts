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
  /**
   * Set by a transport whose own channel already authenticates and encrypts (libp2p's Noise).
   * The node's handshake binds to it, checks that the peer it authenticates holds the key the
   * channel proved, and frames then travel unsealed: no second encryption.
   */
  readonly channel?: SecureChannel;
  /**
   * Set by a transport that seals each datagram itself (UDP). The node calls it once the session
   * is open on its side, after its last handshake frame is written. From then on the transport
   * seals all it sends with `sendKey` and accepts only what opens with `receiveKey`. Frames then
   * travel unsealed at the node's level: the transport's seal covers them and its own headers.
   */
  seal?(keys: SessionKeys): void;
}

/** What a transport's authenticated channel proved about both ends. */
export interface SecureChannel {
  /** This end's id in the transport's own terms (a libp2p peer id). */
  readonly localId: string;
  /** The other end's id in the transport's own terms. */
  readonly remoteId: string;
  /** The raw Ed25519 public key the other end proved it holds. */
  readonly remoteKey: Uint8Array;
}

/** The two keys of a session, from this end's side. */
export interface SessionKeys {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
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
  /**
   * Whether `address` is one this transport can dial (`purpose` 'dial', for addresses from peer
   * records and bootstrap lists) or listen on ('listen'); either, when no purpose is given. The
   * node gives an address to the first of its transports that handles it.
   */
  handles(address: string, purpose?: 'listen' | 'dial'): boolean;
  listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener>;
  dial(address: string, options?: DialOptions): Promise<Connection>;
  /** Close every listener and connection. */
  close(): Promise<void>;
}

/** Buffered bytes past which `write` asks the caller to wait: 1 MiB, one maximum frame. */
export const WRITE_HIGH_WATER_MARK = 1024 * 1024;
