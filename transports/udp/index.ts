import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { AbortedError } from '../../src/runtime/errors.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';
import type { Connection, DialOptions, Listener, Transport } from '../../src/net/transport.ts';
import { TransportError } from '../transport-error.ts';
import { UdpConnection, type ConnectionEnvironment } from './connection.ts';
import { CookieJar } from './cookie.ts';
import { resolveLimits, type UdpLimitOptions, type UdpLimits } from './limits.ts';
import { decodeBody, HEADER_BYTES, plainDatagram, readHeader, type Header } from './packet.ts';
import { parseIpMultiaddr, toIpMultiaddr } from '../ip-multiaddr.ts';

export interface UdpTransportOptions extends UdpLimitOptions {
  /** Dial timeout when the caller gives none, ms: as TCP's. */
  dialTimeoutMs?: number;
  /** Connections one listener holds at most; a validated HELLO past it gets no answer. */
  maxConnections?: number;
  /** Loss to inject for tests: the share of outgoing datagrams dropped on purpose, 0 to 1. Default 0. */
  lossRate?: number;
  /** Seed of the injected loss, so a lossy run reproduces. Default 1. */
  seed?: number;
}

/** What the transport counted since it was made. */
export interface UdpStats {
  /** Connections open now, both directions. */
  connections: number;
  datagramsSent: number;
  datagramsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  /** Outgoing datagrams dropped on purpose (`lossRate`). */
  injectedLoss: number;
  cookiesSent: number;
  /** Datagrams dropped and connections failed, by code. */
  dropped: Record<string, number>;
  /**
   * Bytes from senders whose address is not validated (no connection), and bytes sent back to
   * them: their ratio is the amplification a forged source address buys, at most 1.
   */
  unauthenticated: { requestBytes: number; responseBytes: number };
}

const DEFAULT_DIAL_TIMEOUT_MS = 10_000;
/**
 * Socket buffers asked for, bytes: a full send window of every connection sharing a listener's
 * socket must fit, or the kernel drops what the window allowed (Linux's default is 208 KiB, about
 * 100 datagrams with its bookkeeping). The kernel caps it at net.core.rmem_max / wmem_max.
 */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_CONNECTIONS = 4_096;

interface UdpListener {
  socket: Socket;
  address: string;
  accept: (connection: Connection) => void;
  /** Connections by `host|port|connection id`: a new address is a new connection, never an old one. */
  connections: Map<string, UdpConnection>;
}

/**
 * UDP on IPv4 and IPv6 (`/ip4/127.0.0.1/udp/4001`). A listener answers an unknown sender only
 * with a stateless cookie, and holds state for a connection once the cookie came back (see
 * cookie.ts); each dial uses its own connected socket, so an unreachable port fails it at once
 * (the ICMP error reaches a connected socket). Connections are reliable ordered streams with
 * their own retransmission, fragmentation and seal (connection.ts), so the node's framing,
 * handshake and messages run over UDP as over TCP.
 */
export class UdpTransport implements Transport {
  readonly name = 'udp' as const;
  readonly duplex = true as const;
  readonly limits: UdpLimits;
  readonly #options: UdpTransportOptions;
  readonly #cookies = new CookieJar();
  readonly #random: SeededRandom;
  readonly #listeners = new Set<UdpListener>();
  readonly #connections = new Set<UdpConnection>();
  readonly #stats: Omit<UdpStats, 'connections'> = {
    datagramsSent: 0,
    datagramsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    retransmits: 0,
    injectedLoss: 0,
    cookiesSent: 0,
    dropped: {},
    unauthenticated: { requestBytes: 0, responseBytes: 0 },
  };

  constructor(options: UdpTransportOptions = {}) {
    this.#options = options;
    this.limits = resolveLimits(options);
    this.#random = new SeededRandom(options.seed ?? 1);
  }

  handles(address: string): boolean {
    return /^\/ip[46]\/[^/]+\/udp\/\d+$/.test(address);
  }

  stats(): UdpStats {
    return {
      ...this.#stats,
      connections: this.#connections.size,
      dropped: { ...this.#stats.dropped },
      unauthenticated: { ...this.#stats.unauthenticated },
    };
  }

  async listen(address: string, accept: (connection: Connection) => void): Promise<Listener> {
    const { host, port } = parseIpMultiaddr(address, 'udp');
    const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER_BYTES, sendBufferSize: SOCKET_BUFFER_BYTES });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const bound = socket.address();
    const listener: UdpListener = { socket, address: toIpMultiaddr(bound.address, bound.port, 'udp'), accept, connections: new Map() };
    socket.on('error', () => {}); // a listener's socket errors are per datagram: nothing to do
    socket.on('message', (datagram, from) => this.#atListener(listener, datagram, from));
    this.#listeners.add(listener);
    return { addresses: [listener.address], close: () => this.#closeListener(listener) };
  }

  async dial(address: string, options: DialOptions = {}): Promise<Connection> {
    const { host, port } = parseIpMultiaddr(address, 'udp');
    if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
    const socket = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER_BYTES, sendBufferSize: SOCKET_BUFFER_BYTES });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => reject(new TransportError('ERR_DIAL_FAILED', `cannot dial ${address}: ${err.message}`)));
      socket.connect(port, host, () => resolve());
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    const local = socket.address();
    const connection: UdpConnection = new UdpConnection(
      'outbound',
      new Uint8Array(randomBytes(8)),
      { remote: address, local: toIpMultiaddr(local.address, local.port, 'udp') },
      this.#environment(
        (datagram) => socket.send(datagram),
        () => {
          this.#connections.delete(connection);
          socket.close();
        },
      ),
    );
    this.#connections.add(connection);
    socket.removeAllListeners('error');
    // An ICMP "port unreachable" comes back as ECONNREFUSED on a connected socket.
    socket.on('error', (err) => connection.fail('ERR_DIAL_FAILED', `cannot reach ${address}: ${err.message}`));
    socket.on('message', (datagram) => {
      const header = this.#header(datagram);
      if (header === undefined) return;
      if (header.fromDialer || header.connection !== connection.key) return this.#drop('ERR_UDP_UNKNOWN_SESSION');
      connection.receive(header, datagram);
    });
    await connection.open(options.timeout ?? this.#options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS, options.signal);
    return connection;
  }

  async close(): Promise<void> {
    for (const connection of this.#connections) connection.close(true);
    await Promise.all([...this.#listeners].map((listener) => this.#closeListener(listener)));
  }

  /** A datagram at a listener: a known connection's, or a stranger's HELLO, or dropped. */
  #atListener(listener: UdpListener, datagram: Buffer, from: RemoteInfo): void {
    const header = this.#header(datagram);
    if (header === undefined) return void (this.#stats.unauthenticated.requestBytes += datagram.length);
    const key = `${from.address}|${from.port}|${header.connection}`;
    const known = listener.connections.get(key);
    if (known !== undefined) {
      if (!header.fromDialer) return this.#drop('ERR_UDP_MALFORMED');
      return known.receive(header, datagram);
    }
    this.#stats.unauthenticated.requestBytes += datagram.length;
    // A CLOSE for a connection already gone is the second of the two every close sends: not bad input.
    if (header.type === 'close') return;
    if (header.type !== 'hello' || header.sealed || !header.fromDialer) return this.#drop('ERR_UDP_UNKNOWN_SESSION');
    let cookie: Uint8Array | undefined;
    try {
      cookie = (decodeBody('hello', datagram.subarray(HEADER_BYTES)) as { cookie: Uint8Array | undefined }).cookie;
    } catch {
      return this.#drop('ERR_UDP_MALFORMED');
    }
    const connectionId = new Uint8Array(datagram.subarray(1, 9));
    if (cookie === undefined || !this.#cookies.check(cookie, from.address, from.port, header.connection)) {
      // Stateless: the answer is a function of the datagram, and smaller than it.
      const reply = plainDatagram({ type: 'cookie', cookie: this.#cookies.issue(from.address, from.port, header.connection) }, connectionId, false);
      this.#stats.unauthenticated.responseBytes += reply.length;
      this.#stats.cookiesSent++;
      return this.#send(listener.socket, reply, from.port, from.address);
    }
    if (listener.connections.size >= (this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS)) return this.#drop('ERR_UDP_TOO_MANY_CONNECTIONS');
    const remote = toIpMultiaddr(from.address, from.port, 'udp');
    const connection: UdpConnection = new UdpConnection(
      'inbound',
      connectionId,
      { remote, local: listener.address },
      this.#environment(
        // The environment counts and may lose the datagram already: straight to the socket.
        (bytes) => listener.socket.send(bytes, from.port, from.address),
        () => {
          listener.connections.delete(key);
          this.#connections.delete(connection);
        },
      ),
    );
    listener.connections.set(key, connection);
    this.#connections.add(connection);
    connection.accept();
    listener.accept(connection);
  }

  #header(datagram: Buffer): Header | undefined {
    this.#stats.datagramsReceived++;
    this.#stats.bytesReceived += datagram.length;
    if (datagram.length > this.limits.maxDatagramBytes) return void this.#drop('ERR_UDP_OVERSIZE');
    try {
      return readHeader(datagram);
    } catch {
      return void this.#drop('ERR_UDP_MALFORMED');
    }
  }

  #environment(send: (datagram: Uint8Array) => void, forget: () => void): ConnectionEnvironment {
    return {
      limits: this.limits,
      send: (datagram) => {
        if (this.#lost()) return;
        this.#stats.datagramsSent++;
        this.#stats.bytesSent += datagram.length;
        sendQuietly(() => send(datagram));
      },
      drop: (code) => this.#drop(code),
      retransmitted: () => void this.#stats.retransmits++,
      forget,
    };
  }

  #send(socket: Socket, datagram: Uint8Array, port: number, host: string): void {
    if (this.#lost()) return;
    this.#stats.datagramsSent++;
    this.#stats.bytesSent += datagram.length;
    sendQuietly(() => socket.send(datagram, port, host));
  }

  #lost(): boolean {
    const rate = this.#options.lossRate ?? 0;
    if (rate <= 0 || this.#random.next() >= rate) return false;
    this.#stats.injectedLoss++;
    return true;
  }

  #drop(code: string): void {
    this.#stats.dropped[code] = (this.#stats.dropped[code] ?? 0) + 1;
  }

  async #closeListener(listener: UdpListener): Promise<void> {
    if (!this.#listeners.delete(listener)) return;
    for (const connection of listener.connections.values()) connection.close(true);
    await new Promise<void>((resolve) => listener.socket.close(() => resolve()));
  }
}

/** A datagram is best effort: a socket closed meanwhile just means it is not sent. */
function sendQuietly(send: () => void): void {
  try {
    send();
  } catch {
    // ERR_SOCKET_DGRAM_NOT_RUNNING: the connection or listener closed in the same turn.
  }
}
