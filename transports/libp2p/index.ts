import { publicKeyFromRaw } from '@libp2p/crypto/keys';
import type { Connection as Libp2pLink, Listener as Libp2pListener, Stream } from '@libp2p/interface';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { NodeIdentity } from '../../src/node/identity.ts';
import type { Connection, DialOptions, Listener, Transport } from '../../src/net/transport.ts';
import { AbortedError } from '../../src/runtime/errors.ts';
import { TransportError } from '../transport-error.ts';
import { isLibp2pAddress, parseAddress } from './addresses.ts';
import { channelOf, Libp2pConnection, type StreamLimits } from './connection.ts';
import { startLibp2p, type MydhtLibp2p } from './node.ts';
import { MYDHT_PROTOCOL, resolveOptions, type Libp2pTransportOptions, type ResolvedOptions } from './options.ts';

export { MYDHT_PROTOCOL, type Libp2pTransportOptions } from './options.ts';
export type { MydhtLibp2p } from './node.ts';

/** What `listen()` needs of libp2p's transport manager (see `#transportManager`). */
interface TransportManager {
  listen(addresses: Multiaddr[]): Promise<void>;
  getListeners(): Libp2pListener[];
}

interface ListenEntry {
  accept: (connection: Connection) => void;
  listeners: Libp2pListener[];
}

/**
 * mydht over libp2p: TCP, Noise, yamux, and mydht as its own protocol, `/mydht/1.0.0`. Each mydht
 * connection is one stream of that protocol. The node's Ed25519 key is its libp2p key, so Noise
 * authenticates the same identity the handshake names: every connection carries that proof as
 * its `channel`, and the node binds its handshake to it instead of sealing frames a second time.
 *
 * The libp2p node starts with the first `listen()` or `dial()` and stops with `close()`; a later
 * call starts a new one. It runs identify and ping as well, which lets any libp2p node check it.
 */
export class Libp2pTransport implements Transport {
  readonly name = 'libp2p' as const;
  readonly duplex = true as const;
  /**
   * This node's libp2p peer id (`12D3KooW...`), known before the libp2p node starts: it is the
   * identity's Ed25519 key, so a configuration can name `/p2p/<peerId>` listen addresses.
   */
  readonly peerId: string;
  readonly #identity: NodeIdentity;
  readonly #options: ResolvedOptions;
  readonly #limits: StreamLimits;
  #starting: Promise<MydhtLibp2p> | undefined;
  #node: MydhtLibp2p | undefined;
  /** Open listeners, oldest first: inbound streams go to the oldest (see `#onStream`). */
  readonly #listens = new Set<ListenEntry>();
  readonly #connections = new Set<Libp2pConnection>();
  /** listen() tells its own listeners apart from the others by what it added: one at a time. */
  #listenLane: Promise<unknown> = Promise.resolve();

  constructor(options: Libp2pTransportOptions) {
    this.#identity = options.identity;
    this.peerId = publicKeyFromRaw(options.identity.publicKey).toString();
    this.#options = resolveOptions(options);
    const { closeTimeoutMs, maxWriteBufferBytes, maxReadBufferBytes } = this.#options;
    this.#limits = { closeTimeoutMs, maxWriteBufferBytes, maxReadBufferBytes };
  }

  /** The running libp2p node, to ping or inspect; undefined before the first listen or dial. */
  get node(): MydhtLibp2p | undefined {
    return this.#node;
  }

  /**
   * `/ip4|ip6/<host>/tcp/<port>/p2p/<peer id>`, and to listen on, the plain
   * `/ip4|ip6/<host>/tcp/<port>` too, so a node with only this transport can listen on
   * `/ip4/0.0.0.0/tcp/4001`. To dial, the node picks only `/p2p/` addresses: every libp2p
   * listener announces its addresses with its peer id, so a plain TCP address in a peer record is
   * a plain TCP listener's, which a libp2p dial would fail to speak to. (`dial()` itself takes a
   * plain address too: Noise learns the id.) In a node with TCP as well, list TCP first: the main
   * loop takes the first transport that handles an address, and TCP refuses `/p2p/` ones.
   */
  handles(address: string, purpose?: 'listen' | 'dial'): boolean {
    return isLibp2pAddress(address) && (purpose !== 'dial' || address.includes('/p2p/'));
  }

  /**
   * Listen on a TCP address; the addresses returned carry the real port and `/p2p/<our peer
   * id>`. A `/p2p/` in `address` must name our own id. Any number of listens may be open; closing
   * one also closes the libp2p connections it accepted (libp2p's listeners own their sockets).
   */
  async listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    const parsed = parseAddress(address);
    const own = this.peerId;
    if (parsed.peer !== undefined && parsed.peer !== own) {
      throw new TransportError('ERR_ADDRESS_INVALID', `${address} names peer ${parsed.peer}, but this node is ${own}`);
    }
    const node = await this.#start();
    // Accepting before libp2p listens: a connection may come through the new listener at once.
    const entry: ListenEntry = { accept: onConnection, listeners: [] };
    this.#listens.add(entry);
    const listening = this.#listenLane.then(async () => {
      const manager = this.#transportManager(node);
      const before = new Set(manager.getListeners());
      const added = (): Libp2pListener[] => manager.getListeners().filter((listener) => !before.has(listener));
      try {
        await manager.listen([parsed.transport]);
      } catch (err) {
        await Promise.all(added().map((listener) => listener.close()));
        throw new TransportError('ERR_LISTEN_FAILED', `cannot listen on ${address}: ${(err as Error).message}`, { cause: err });
      }
      return added();
    });
    this.#listenLane = listening.catch(() => {});
    const close = async (): Promise<void> => {
      if (!this.#listens.delete(entry)) return;
      await Promise.all(entry.listeners.map((listener) => listener.close()));
    };
    try {
      entry.listeners = await listening;
    } catch (err) {
      this.#listens.delete(entry);
      throw err;
    }
    const port = entry.listeners.flatMap((listener) => listener.getAddrs()).map(tcpPortOf).find((value) => value !== undefined);
    if (port === undefined) {
      await close();
      throw new TransportError('ERR_LISTEN_FAILED', `libp2p reports no address for ${address}`);
    }
    return { addresses: [`/${parsed.host.proto}/${parsed.host.value}/tcp/${port}/p2p/${own}`], close };
  }

  /**
   * Open a `/mydht/1.0.0` stream to `address`, over the libp2p connection to that peer if there
   * is one already. A peer that is unreachable, fails Noise, or does not speak the protocol is
   * ERR_DIAL_FAILED.
   */
  async dial(address: string, options: DialOptions = {}): Promise<Connection> {
    if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
    parseAddress(address);
    const timeout = options.timeout ?? this.#options.dialTimeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    const onAbort = (): void => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let link: Libp2pLink;
    let stream: Stream;
    try {
      const node = await this.#start();
      const { signal } = controller;
      link = await node.dial(multiaddr(address), { signal });
      stream = await link.newStream(MYDHT_PROTOCOL, { signal, maxOutboundStreams: this.#options.maxStreamsPerConnection });
    } catch (err) {
      if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
      if (timedOut) throw new TransportError('ERR_DIAL_TIMEOUT', `dialing ${address} timed out after ${timeout} ms`);
      throw new TransportError('ERR_DIAL_FAILED', `cannot dial ${address}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
    const channel = channelOf(link, this.peerId);
    if (channel === undefined) {
      stream.abort(new TransportError('ERR_PEER_KEY_UNSUPPORTED', 'not an Ed25519 peer'));
      throw new TransportError('ERR_PEER_KEY_UNSUPPORTED', `${link.remotePeer.toString()} has a ${link.remotePeer.type} key; mydht nodes are Ed25519`);
    }
    return this.#track(new Libp2pConnection(stream, link, channel, this.#limits));
  }

  /** Reset every connection and stop the libp2p node (its listeners with it). */
  async close(): Promise<void> {
    const starting = this.#starting;
    this.#starting = undefined;
    this.#node = undefined;
    this.#listens.clear();
    for (const connection of this.#connections) connection.close(true);
    const node = await starting?.catch(() => undefined);
    await node?.stop();
  }

  #start(): Promise<MydhtLibp2p> {
    if (this.#starting === undefined) {
      const starting = startLibp2p(this.#identity, this.#options).then(async (node) => {
        const limit = this.#options.maxStreamsPerConnection;
        await node.handle(MYDHT_PROTOCOL, this.#onStream, { maxInboundStreams: limit, maxOutboundStreams: limit });
        // Closed while starting: this node is nobody's any more.
        if (this.#starting !== starting) {
          await node.stop();
          throw new TransportError('ERR_TRANSPORT_CLOSED', 'the transport was closed while its libp2p node started');
        }
        this.#node = node;
        return node;
      });
      this.#starting = starting;
      // A failed start is not kept: the next call tries again.
      starting.catch(() => {
        if (this.#starting === starting) this.#starting = undefined;
      });
    }
    return this.#starting;
  }

  /**
   * An inbound `/mydht/1.0.0` stream. It may arrive over any libp2p connection, even one this
   * node dialed, so it cannot be told which listen address it came through: it goes to the oldest
   * open listener. With none open the node is not accepting, and the stream is refused, as a TCP
   * connection would be.
   */
  readonly #onStream = (stream: Stream, link: Libp2pLink): void => {
    const [entry] = this.#listens;
    const channel = channelOf(link, this.peerId);
    if (entry === undefined || channel === undefined) {
      const refusal =
        entry === undefined
          ? new TransportError('ERR_NOT_LISTENING', 'this node accepts no mydht streams now')
          : new TransportError('ERR_PEER_KEY_UNSUPPORTED', `${link.remotePeer.toString()} has a ${link.remotePeer.type} key; mydht nodes are Ed25519`);
      stream.abort(refusal);
      return;
    }
    entry.accept(this.#track(new Libp2pConnection(stream, link, channel, this.#limits)));
  };

  #track(connection: Libp2pConnection): Libp2pConnection {
    this.#connections.add(connection);
    connection.closedBy = () => this.#connections.delete(connection);
    return connection;
  }

  /**
   * libp2p 3 takes its listen addresses at creation and has no public call to add one later;
   * its transport manager (a public field of the Libp2p class, though not of the interface) does.
   * Checked here so a libp2p that moves it fails with a clear error, not a TypeError.
   */
  #transportManager(node: MydhtLibp2p): TransportManager {
    const manager = (node as unknown as { components?: { transportManager?: Partial<TransportManager> } }).components?.transportManager;
    if (typeof manager?.listen !== 'function' || typeof manager.getListeners !== 'function') {
      throw new TransportError('ERR_LISTEN_UNSUPPORTED', 'this libp2p version does not expose its transport manager: cannot add a listen address');
    }
    return manager as TransportManager;
  }
}

function tcpPortOf(address: Multiaddr): number | undefined {
  const tcp = address.getComponents().find((component) => component.name === 'tcp');
  return tcp?.value === undefined ? undefined : Number(tcp.value);
}
