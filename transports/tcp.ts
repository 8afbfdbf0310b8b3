import { createServer, connect, type Server, type Socket } from 'node:net';
import { AbortedError } from '../src/runtime/errors.ts';
import { TransportError } from './transport-error.ts';
import { WRITE_HIGH_WATER_MARK, type Connection, type DialOptions, type Listener, type Transport } from '../src/net/transport.ts';
import { parseIpMultiaddr, toIpMultiaddr } from './ip-multiaddr.ts';


/** Dial timeout when the caller gives none: a handshake-sized 10 s. */
const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

let nextId = 1;

/**
 * TCP on IPv4 and IPv6 (`/ip4/127.0.0.1/tcp/4001`). Nagle is off (small request frames must not
 * wait 40 ms), and writes are coalesced instead: the first write of a burst corks the socket and
 * it is uncorked once the microtask queue has drained, so a burst of frames leaves as one writev.
 */
export class TcpTransport implements Transport {
  readonly name = 'tcp' as const;
  readonly duplex = true as const;
  readonly #servers = new Set<Server>();
  readonly #connections = new Set<TcpConnection>();

  handles(address: string): boolean {
    return /^\/ip[46]\/[^/]+\/tcp\/\d+$/.test(address);
  }

  async listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    const { host, port } = parseIpMultiaddr(address, 'tcp');
    const server = createServer({ noDelay: true }, (socket) => {
      const connection = this.#track(new TcpConnection(socket, 'inbound'));
      onConnection(connection);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {});
    this.#servers.add(server);
    const bound = server.address();
    const actual = typeof bound === 'object' && bound !== null ? toIpMultiaddr(bound.address, bound.port, 'tcp') : address;
    return {
      addresses: [actual],
      close: () => this.#closeServer(server),
    };
  }

  async dial(address: string, options: DialOptions = {}): Promise<Connection> {
    const { host, port } = parseIpMultiaddr(address, 'tcp');
    if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
    const socket = connect({ host, port, noDelay: true });
    const timeout = options.timeout ?? DEFAULT_DIAL_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error): void => {
        cleanup();
        socket.destroy();
        reject(error);
      };
      const onAbort = (): void => fail(new AbortedError(options.signal?.reason));
      const timer = setTimeout(() => fail(new TransportError('ERR_DIAL_TIMEOUT', `dialing ${address} timed out after ${timeout} ms`)), timeout);
      const onError = (err: Error): void => fail(new TransportError('ERR_DIAL_FAILED', `cannot dial ${address}: ${err.message}`));
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('error', onError);
        options.signal?.removeEventListener('abort', onAbort);
      };
      socket.once('connect', () => {
        cleanup();
        resolve();
      });
      socket.once('error', onError);
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.#track(new TcpConnection(socket, 'outbound'));
  }

  async close(): Promise<void> {
    for (const connection of this.#connections) connection.close(true);
    await Promise.all([...this.#servers].map((server) => this.#closeServer(server)));
  }

  #track(connection: TcpConnection): TcpConnection {
    this.#connections.add(connection);
    connection.closedBy = () => this.#connections.delete(connection);
    return connection;
  }

  #closeServer(server: Server): Promise<void> {
    this.#servers.delete(server);
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

/** The connection a socket belongs to, for the socket's listeners, which are shared by all sockets. */
const CONNECTION = Symbol('mydht.tcp-connection');
type OwnedSocket = Socket & { [CONNECTION]: TcpConnection };

// One set of listeners for every socket, not four closures and their context per connection.
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[CONNECTION].onData?.(chunk);
}
function onSocketDrain(this: OwnedSocket): void {
  this[CONNECTION].onDrain?.();
}
function onSocketError(): void {} // reported through 'close'
function onSocketClose(this: OwnedSocket, hadError: boolean): void {
  this[CONNECTION].socketClosed(hadError);
}

class TcpConnection implements Connection {
  readonly id = `tcp-${nextId++}`;
  readonly direction: 'inbound' | 'outbound';
  readonly remoteAddress: string;
  readonly localAddress: string;
  onData: ((chunk: Uint8Array) => void) | undefined;
  onClose: ((error?: Error) => void) | undefined;
  onDrain: (() => void) | undefined;
  closedBy: (() => void) | undefined;
  readonly #socket: Socket;
  #corked = false;
  #closed = false;

  constructor(socket: Socket, direction: 'inbound' | 'outbound') {
    this.#socket = socket;
    this.direction = direction;
    this.remoteAddress = toIpMultiaddr(socket.remoteAddress ?? '0.0.0.0', socket.remotePort ?? 0, 'tcp');
    this.localAddress = toIpMultiaddr(socket.localAddress ?? '0.0.0.0', socket.localPort ?? 0, 'tcp');
    socket.setNoDelay(true);
    (socket as OwnedSocket)[CONNECTION] = this;
    socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  /** The socket's 'close'. */
  socketClosed(hadError: boolean): void {
    this.#closed = true;
    this.closedBy?.();
    this.onClose?.(hadError ? new TransportError('ERR_CONNECTION_RESET', 'connection reset') : undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed || this.#socket.destroyed) return false;
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      queueMicrotask(() => process.nextTick(this.#uncork));
    }
    this.#socket.write(bytes);
    return this.#socket.writableLength < WRITE_HIGH_WATER_MARK;
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    if (!this.#socket.destroyed) this.#socket.uncork();
  };

  close(reset = false): void {
    if (this.#closed) return;
    if (reset) this.#socket.destroy();
    else this.#socket.end();
  }
}
