import { detached } from '../src/runtime/mailbox.ts';
import { MyDhtError } from '../src/runtime/errors.ts';
import { defineService } from '../src/runtime/service.ts';
import type { SessionMessage } from '../src/node/messages.ts';
import type { NodeProtocols } from '../src/node/protocols.ts';
import { SessionCipher } from '../src/node/session-cipher.ts';
import { SharedRefTable } from '../src/runtime/shared-ref.ts';
import { DEFAULT_MAX_FRAME, Wire, type WireMessage } from '../src/node/wire.ts';

export interface WriteConfig {
  maxFrame?: number;
  /** Messages held for a connection whose session is not open yet; past it the oldest is dropped. */
  maxBuffered?: number;
}

/** Messages a connection may hold before its session opens: a handshake takes one round trip. */
const DEFAULT_MAX_BUFFERED = 256;

interface Writer {
  peer: string | undefined;
  /** Whether the session is open: until then session messages wait. */
  open: boolean;
  /** The session's seal; none when the transport seals or encrypts by itself. */
  cipher: SessionCipher | undefined;
  /** Messages to the peer this connection was dialed for, held until its session opens. */
  buffered: WireMessage[];
  /** The peer records (shared refs) sent on this session lately: sent again by index. */
  refs: SharedRefTable;
}

/**
 * Writes every connection's session frames (one pooled service, with per-connection state);
 * the main loop writes the handshake's. Session messages are addressed to a peer: sealed with
 * the key of that peer's session and framed; while a connection dialed to reach the peer is
 * still authenticating, they wait for it. The bytes go to the main loop, which owns the sockets;
 * the transport coalesces a burst of them into one system write.
 */
export default defineService<NodeProtocols['write'], WriteConfig | null>((ctx) => {
  const wire = new Wire(ctx.config?.maxFrame ?? DEFAULT_MAX_FRAME);
  const maxBuffered = ctx.config?.maxBuffered ?? DEFAULT_MAX_BUFFERED;
  const mainLoop = ctx.service<NodeProtocols['main-loop']>('main-loop');
  const writers = new Map<string, Writer>();
  /** Session messages sent, by type (the types of SessionMessage: a fixed set). */
  const sent: Record<string, number> = {};
  /** The connection each peer's messages go on: its primary session, or a dial in progress. */
  const routes = new Map<string, string>();
  /** Peers reachable only through another peer's session, and that peer: proxying, one hop. */
  const proxies = new Map<string, string>();
  /** Proxy routes kept at most; the oldest goes first. */
  const MAX_PROXIES = 10_000;

  const out = (conn: string, bytes: Uint8Array): Promise<void> => mainLoop.send({ type: 'write', conn, bytes });

  return {
    handlers: {
      open: ({ conn, peer }) => {
        writers.set(conn, { peer, open: false, cipher: undefined, buffered: [], refs: new SharedRefTable() });
        if (peer !== undefined && !routes.has(peer)) routes.set(peer, conn);
      },
      session: ({ conn, peer, sendKey, primary }) => {
        const writer = writers.get(conn);
        if (writer === undefined) return undefined;
        writer.peer = peer;
        writer.open = true;
        writer.cipher = sendKey === null ? undefined : new SessionCipher(sendKey, undefined);
        if (primary) {
          // Messages held on another connection to the same peer move to this one.
          const previous = routes.get(peer);
          const held = previous !== undefined && previous !== conn ? (writers.get(previous)?.buffered.splice(0) ?? []) : [];
          routes.set(peer, conn);
          writer.buffered.push(...held);
        }
        const buffered = writer.buffered.splice(0);
        for (const message of buffered) detached(out(conn, wire.encode(message, writer.cipher, writer.refs)));
        return undefined;
      },
      send: ({ peer, message }) => {
        let conn = routes.get(peer);
        let relay: string | undefined;
        if (conn === undefined) {
          // No session with the peer: go through the one known to relay to it, if any.
          const via = proxies.get(peer);
          const viaConn = via === undefined ? undefined : routes.get(via);
          if (via === undefined || viaConn === undefined || message.type === 'relay' || message.type === 'relayed') {
            throw new MyDhtError('ERR_NO_ROUTE', `no session with peer ${peer}, and no peer known to relay to it`);
          }
          conn = viaConn;
          message = { type: 'relay', to: peer, message };
          relay = via;
        }
        const writer = writers.get(conn);
        if (writer === undefined) throw new MyDhtError('ERR_NO_ROUTE', `no session with peer ${peer}`);
        sent[message.type] = (sent[message.type] ?? 0) + 1;
        if (!writer.open) {
          if (writer.buffered.length >= maxBuffered) {
            writer.buffered.shift();
            ctx.log.warn({ conn, peer }, 'dropped the oldest message waiting for a session');
          }
          writer.buffered.push(message as SessionMessage);
          return undefined;
        }
        // Direct sends, the hot path, get no extra promise: theirs resolves to undefined already.
        const written = out(conn, wire.encode(message, writer.cipher, writer.refs)) as Promise<undefined>;
        return relay === undefined ? written : written.then(() => relay);
      },
      route: ({ peer, via }) => {
        if (peer === via) return;
        proxies.delete(peer);
        if (proxies.size >= MAX_PROXIES) proxies.delete(proxies.keys().next().value!);
        proxies.set(peer, via);
      },
      close: ({ conn }) => {
        const writer = writers.get(conn);
        writers.delete(conn);
        if (writer?.peer !== undefined && routes.get(writer.peer) === conn) {
          routes.delete(writer.peer);
          if (writer.buffered.length > 0) ctx.log.debug({ conn, dropped: writer.buffered.length }, 'connection closed before its session opened');
        }
      },
      connections: () => writers.size,
      messages: () => ({ ...sent }),
    },
  };
});
