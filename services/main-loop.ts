import { AuthError, Handshaker, type Session } from '../src/node/handshake.ts';
import type { NodeIdentity } from '../src/node/identity.ts';
import type { PeerRecord } from '../src/node/peer-record.ts';
import type { ConnectedPeer, MainLoopStatus, NodeProtocols } from '../src/node/protocols.ts';
import type { Connection, Listener, Transport } from '../src/net/transport.ts';
import { codeOf, ConfigError, MyDhtError } from '../src/runtime/errors.ts';
import { hostOf } from '../src/dht/ip-diversity.ts';
import { Wire, type WireMessage } from '../src/node/wire.ts';
import { detached } from '../src/runtime/mailbox.ts';
import { defineService } from '../src/runtime/service.ts';

/**
 * The main loop's config holds live objects (the identity, the transports), so it runs on the
 * node's own loop: sockets cannot move into a worker thread.
 */
export interface MainLoopConfig {
  identity: NodeIdentity;
  /** The node's current record (its addresses change once it listens). */
  record: () => PeerRecord;
  transports: Transport[];
  /** A connection that has not finished its handshake after this long is closed, ms. */
  handshakeTimeoutMs?: number;
  /** Connections still in their handshake at most; an inbound one past it is refused at once. */
  maxPendingConnections?: number;
  /** Inbound connections from one IP at most (go-libp2p: 8); loopback and private ones are exempt with `exemptPrivate`. */
  maxConnectionsPerAddress?: number;
  /** Bytes a connection may hold unread past the transport's high-water mark before it is closed (ERR_PEER_NOT_READING). */
  maxUnreadBytes?: number;
  exemptPrivate?: boolean;
  /** Pinned keys: a known id answering with another key is refused. */
  pinnedKey?: (peer: string) => Uint8Array | undefined;
  /** Called once the node listens, with the bound addresses (to refresh the record). */
  onListening?: (addresses: string[]) => void;
}

/** Connections in their handshake at most (js-libp2p keeps 10 pending inbound per peer, 64 in all is go-libp2p's inbound limit). */
const DEFAULT_MAX_PENDING_CONNECTIONS = 1_024;
/** Inbound connections from one address at most: go-libp2p's default. */
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 8;
/** How long the losing connection of a duplicate pair stays open to deliver what was already on it, ms. */
const DUPLICATE_GRACE_MS = 2_000;
/** libp2p's upgrade timeout is 10-15 s; a handshake is one round trip and a half. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** 64 maximum frames past the high-water mark: a legitimate burst fits (400 frames of 60 KiB, tested). */
const DEFAULT_MAX_UNREAD_BYTES = 64 * 1024 * 1024;


interface Conn {
  connection: Connection;
  /** Bytes written since the transport last said it was over its high-water mark and has not drained since. */
  unread: number;
  peer: string | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** A dial waiting for this connection's session. */
  dialed: { resolve: (peer: string) => void; reject: (error: unknown) => void } | undefined;
}

/**
 * Owns the listeners and the connection table, runs the handshake's bookkeeping, chooses one
 * session per peer, and hands bytes between sockets and the read and write services.
 */
export default defineService<NodeProtocols['main-loop'], MainLoopConfig>((ctx) => {
  const config = ctx.config;
  if (config?.identity === undefined) throw new ConfigError('the main loop must run same-loop: its config holds the identity and transports');
  const read = ctx.service<NodeProtocols['read']>('read');
  const write = ctx.service<NodeProtocols['write']>('write');
  const peerStore = ctx.service<NodeProtocols['peer-store']>('peer-store');
  const handshakeTimeout = config.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  // A nonce stays answerable exactly as long as its connection may take to finish the handshake.
  const handshaker = new Handshaker({
    identity: config.identity,
    record: config.record,
    cache: { ttlMs: handshakeTimeout },
    ...(config.pinnedKey === undefined ? {} : { pinnedKey: config.pinnedKey }),
  });
  /** Handshake frames are small and in the clear: the main loop writes them itself (see `open`). */
  const handshakeWire = new Wire();
  const conns = new Map<string, Conn>();
  const sessions = new Map<string, string>(); // peer id -> conn id
  const listeners: Listener[] = [];
  const status: MainLoopStatus = { connections: 0, sessions: 0, pendingHandshakes: 0, unauthenticated: 0, handshakes: { ok: 0, resumed: 0, rejected: {} }, dropped: {} };

  const count = (table: Record<string, number>, code: string): void => void (table[code] = (table[code] ?? 0) + 1);

  const transportFor = (address: string, purpose: 'listen' | 'dial'): Transport => {
    const transport = config.transports.find((candidate) => candidate.handles(address, purpose));
    if (transport === undefined) throw new ConfigError(`no transport handles ${address}`);
    return transport;
  };

  /** Connections without a session yet: bounded, so a flood of silent or slow connections cannot pile up. */
  let unauthenticated = 0;
  const maxPending = config.maxPendingConnections ?? DEFAULT_MAX_PENDING_CONNECTIONS;
  /** Inbound connections by the host they come from (limited hosts only). */
  const perHost = new Map<string, number>();
  const maxPerHost = config.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
  const maxUnread = config.maxUnreadBytes ?? DEFAULT_MAX_UNREAD_BYTES;
  const accept = (connection: Connection): void => {
    const host = hostOf(connection.remoteAddress, config.exemptPrivate ?? true);
    const refusal =
      unauthenticated >= maxPending ? 'ERR_TOO_MANY_PENDING' : host !== undefined && (perHost.get(host) ?? 0) >= maxPerHost ? 'ERR_TOO_MANY_FROM_ADDRESS' : undefined;
    if (refusal !== undefined) {
      count(status.dropped, refusal);
      connection.close(true);
      return;
    }
    adopt(connection);
    if (host !== undefined) {
      perHost.set(host, (perHost.get(host) ?? 0) + 1);
      const forgetting = connection.onClose;
      connection.onClose = (error) => {
        const left = (perHost.get(host) ?? 1) - 1;
        if (left === 0) perHost.delete(host);
        else perHost.set(host, left);
        forgetting?.(error);
      };
    }
  };

  const adopt = (connection: Connection, dialed?: Conn['dialed'], expected?: string): Conn => {
    const conn: Conn = { connection, unread: 0, peer: undefined, timer: undefined, dialed };
    conns.set(connection.id, conn);
    unauthenticated++;
    conn.timer = setTimeout(() => close(connection.id, 'ERR_HANDSHAKE_TIMEOUT', 'handshake did not finish in time'), handshakeTimeout);
    detached(read.send({ type: 'open', conn: connection.id }));
    detached(write.send({ type: 'open', conn: connection.id, ...(expected === undefined ? {} : { peer: expected }) }));
    connection.onData = (chunk) => detached(read.send({ type: 'bytes', conn: connection.id, chunk }));
    connection.onClose = () => forget(connection.id);
    connection.onDrain = () => void (conn.unread = 0);
    return conn;
  };

  const forget = (id: string): void => {
    const conn = conns.get(id);
    if (conn === undefined) return;
    conns.delete(id);
    if (conn.peer === undefined) unauthenticated--;
    if (conn.timer !== undefined) clearTimeout(conn.timer);
    detached(read.send({ type: 'close', conn: id }));
    detached(write.send({ type: 'close', conn: id }));
    conn.dialed?.reject(new MyDhtError('ERR_CONNECTION_CLOSED', `connection to ${conn.connection.remoteAddress} closed before its session opened`));
    if (conn.peer !== undefined && sessions.get(conn.peer) === id) {
      sessions.delete(conn.peer);
      detached(peerStore.send({ type: 'disconnected', peer: conn.peer }));
    }
  };

  /** Close a connection: at once (`reset`, the default: bad input, timeouts), or after what was written is delivered. */
  const close = (id: string, code: string, reason: string, reset = true): void => {
    const conn = conns.get(id);
    if (conn === undefined) return;
    ctx.log.debug({ conn: id, code, reason }, 'closing connection');
    conn.dialed?.reject(new MyDhtError(code, reason));
    conn.dialed = undefined;
    conn.connection.close(reset);
    forget(id);
  };

  /**
   * The losing connection of a duplicate pair: both ends now write to the kept one, but messages
   * written on this one before they switched may still be on the way. Keep reading it for a
   * grace period, then close it gently, so none of them is lost.
   */
  const closeDuplicate = (id: string, reason: string): void => {
    const timer = setTimeout(() => close(id, 'ERR_DUPLICATE_SESSION', reason, false), DUPLICATE_GRACE_MS);
    timer.unref();
  };

  const writeHandshake = (connection: Connection, message: WireMessage): void => void connection.write(handshakeWire.encode(message));

  /**
   * The session is open on this connection: keep one session per peer, the same choice on both
   * sides. A transport that seals by itself takes the keys now, after the last handshake frame
   * this side writes and before any session frame: the write service hears of the session only
   * below. Frames are then sealed by the transport, or by the node's cipher, never both.
   */
  const open = (id: string, session: Session): { receiveKey: Uint8Array | null; peer: string } => {
    const conn = conns.get(id)!;
    const peer = session.peer.idHex;
    const { connection } = conn;
    connection.seal?.(session);
    const nodeSeals = connection.seal === undefined && connection.channel === undefined;
    const sendKey = nodeSeals ? session.sendKey : null;
    const receiveKey = nodeSeals ? session.receiveKey : null;
    if (conn.timer !== undefined) clearTimeout(conn.timer);
    conn.timer = undefined;
    if (conn.peer === undefined) unauthenticated--;
    conn.peer = peer;
    status.handshakes.ok++;
    if (session.resumed) status.handshakes.resumed++;
    const existing = sessions.get(peer);
    if (existing !== undefined && existing !== id && conns.has(existing)) {
      // Two connections between the same peers: keep the one dialed by the lower id. Both ends
      // compute the same answer, so they close the same connection.
      const selfLower = config.identity.idHex < peer;
      const keepNew = conn.connection.direction === 'outbound' ? selfLower : !selfLower;
      if (!keepNew) {
        detached(write.send({ type: 'session', conn: id, peer, sendKey, primary: false }));
        conn.dialed?.resolve(peer);
        conn.dialed = undefined;
        closeDuplicate(id, 'a session with this peer already exists');
        return { receiveKey, peer };
      }
      closeDuplicate(existing, 'replaced by a newer session with this peer');
    }
    sessions.set(peer, id);
    // Before the dial resolves: whoever dialed may send to the peer at once.
    detached(write.send({ type: 'session', conn: id, peer, sendKey, primary: true }));
    detached(peerStore.send({ type: 'connected', record: session.peer, conn: id }));
    conn.dialed?.resolve(peer);
    conn.dialed = undefined;
    return { receiveKey, peer };
  };

  const dial = (address: string, peer: string | undefined): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      transportFor(address, 'dial')
        .dial(address)
        .then((connection) => {
          adopt(connection, { resolve, reject }, peer);
          try {
            writeHandshake(connection, handshaker.initiate(address, connection.id, peer, connection.channel));
          } catch (err) {
            close(connection.id, codeOf(err), (err as Error).message);
          }
        }, reject);
    });
  /** Dials in progress to reach a known peer: a second connect to it waits for the same one. */
  const connecting = new Map<string, Promise<string>>();

  return {
    // A dial waits for its session while the handshake's own commands must get through; every
    // other handler is synchronous, so commands still start in order.
    concurrency: 4096,
    handlers: {
      listen: async ({ address }) => {
        const listener = await transportFor(address, 'listen').listen(address, accept);
        listeners.push(listener);
        config.onListening?.([...listener.addresses]);
        return [...listener.addresses];
      },
      dial: ({ address, peer }) => dial(address, peer),
      connect: ({ peer, addresses }) => {
        if (sessions.has(peer)) return peer;
        let pending = connecting.get(peer);
        if (pending === undefined) {
          // A peer may listen on several transports: dial the first address one of ours handles.
          const address = addresses.find((candidate) => config.transports.some((transport) => transport.handles(candidate, 'dial')));
          if (address === undefined) {
            throw new MyDhtError('ERR_NO_TRANSPORT', `no transport of this node dials any address of ${peer}: ${addresses.join(', ') || 'none known'}`);
          }
          pending = dial(address, peer);
          connecting.set(peer, pending);
          const done = (): void => void connecting.delete(peer);
          pending.then(done, done);
        }
        return pending;
      },
      handshake: ({ conn: id, message }) => {
        const conn = conns.get(id);
        if (conn === undefined) throw new MyDhtError('ERR_CONNECTION_CLOSED', `no connection ${id}`);
        try {
          switch (message.type) {
            case 'ping': {
              if (conn.connection.direction !== 'inbound') throw new AuthError('ERR_AUTH_MALFORMED', 'PING on a connection this node dialed');
              writeHandshake(conn.connection, handshaker.respond(message, conn.connection.remoteAddress, id, conn.connection.channel));
              return null;
            }
            case 'pong': {
              const { reply, session } = handshaker.confirm(message, id);
              writeHandshake(conn.connection, reply);
              return open(id, session);
            }
            case 'pong-back':
              return open(id, handshaker.accept(message, id));
            default:
              throw new AuthError('ERR_AUTH_MALFORMED', `unexpected ${JSON.stringify(message.type)} before the session`);
          }
        } catch (err) {
          const code = codeOf(err);
          count(status.handshakes.rejected, code);
          ctx.log.debug({ conn: id, code, err }, 'handshake refused');
          close(id, code, (err as Error).message);
          throw err;
        }
      },
      write: ({ conn, bytes }) => {
        const entry = conns.get(conn);
        if (entry === undefined) return;
        if (entry.connection.write(bytes)) {
          entry.unread = 0;
          return;
        }
        // Over the transport's mark: the peer reads slower than we write to it. Nothing waits for
        // it (one slow peer must not hold up the others), so what it leaves unread is bounded:
        // a peer that stops reading while it keeps asking would otherwise grow our memory
        // without limit (replies of 64 KiB at its rate limit of 1,024 a second).
        entry.unread += bytes.length;
        if (entry.unread > maxUnread) {
          count(status.dropped, 'ERR_PEER_NOT_READING');
          close(conn, 'ERR_PEER_NOT_READING', `the peer left more than ${maxUnread} bytes unread`);
        }
      },
      drop: ({ conn, code, reason }) => {
        if (!conns.has(conn)) return;
        count(status.dropped, code);
        close(conn, code, reason);
      },
      disconnect: ({ peer, reason, gentle }) => {
        const conn = sessions.get(peer);
        if (conn !== undefined) close(conn, 'ERR_DISCONNECTED', reason, gentle !== true);
      },
      peers: () => {
        const out: ConnectedPeer[] = [];
        for (const [id, connId] of sessions) {
          const conn = conns.get(connId);
          if (conn !== undefined) out.push({ id, conn: connId, address: conn.connection.remoteAddress, direction: conn.connection.direction });
        }
        return out;
      },
      status: () => ({ ...status, connections: conns.size, sessions: sessions.size, pendingHandshakes: handshaker.pending, unauthenticated }),
    },
    stop: async () => {
      // Stop accepting first, but do not wait there: a TCP listener's close completes only once
      // its accepted connections have ended, which is what the next line does (waiting first
      // kept a node stopping until its peers' liveness timeouts closed them, ~18 s).
      const closing = listeners.map((listener) => listener.close());
      for (const id of [...conns.keys()]) close(id, 'ERR_NODE_STOPPING', 'the node is stopping');
      await Promise.all(closing);
      await Promise.all(config.transports.map((transport) => transport.close()));
    },
  };
});
