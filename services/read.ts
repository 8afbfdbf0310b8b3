import { codeOf, messageOf, MyDhtError } from '../src/runtime/errors.ts';
import { FrameDecoder } from '../src/runtime/frames.ts';
import { ACCEPTED, detached } from '../src/runtime/mailbox.ts';
import { defineService } from '../src/runtime/service.ts';
import { ROUTES, type SessionMessage } from '../src/node/messages.ts';
import type { NodeProtocols } from '../src/node/protocols.ts';
import { SessionCipher } from '../src/node/session-cipher.ts';
import { SharedRefTable } from '../src/runtime/shared-ref.ts';
import { DEFAULT_MAX_FRAME, Wire, type WireMessage } from '../src/node/wire.ts';
import { DEFAULT_PEER_RATE_LIMIT, TokenBucket, type RateLimit } from '../src/node/rate-limit.ts';

export interface ReadConfig {
  maxFrame?: number;
  /** The application's own services, by name: peers reach them with `global` messages naming them. */
  services?: string[];
  /** Session messages each peer may send a second, and save up; past it they are dropped and counted. */
  peerRateLimit?: RateLimit;
}

/**
 * Reads every connection's bytes (one pooled service, with per-connection state): splits
 * frames, passes handshake frames to the main loop, then opens sealed frames with the session
 * key and routes each message to the service it is for. Anything that does not decode, open or
 * route ends its connection (the main loop counts it); the service itself goes on.
 */
export default defineService<NodeProtocols['read'], ReadConfig | null>((ctx) => {
  const wire = new Wire(ctx.config?.maxFrame ?? DEFAULT_MAX_FRAME);
  const mainLoop = ctx.service<NodeProtocols['main-loop']>('main-loop');
  const write = ctx.service<NodeProtocols['write']>('write');
  const ports = {
    global: ctx.service<NodeProtocols['global']>('global'),
    api: ctx.service<NodeProtocols['api']>('api'),
    'peer-store': ctx.service<NodeProtocols['peer-store']>('peer-store'),
    listen: ctx.service<NodeProtocols['listen']>('listen'),
  };
  const applications = new Map((ctx.config?.services ?? []).map((name) => [name, ctx.service<NodeProtocols['global']>(name)]));

  interface Reader {
    frames: FrameDecoder;
    /** Frames waiting while a handshake step is with the main loop. */
    waiting: Uint8Array[];
    busy: boolean;
    /** The session's seal; none when the transport seals or encrypts by itself. */
    cipher: SessionCipher | undefined;
    /** The peer, once the session is open: until then frames are handshake steps. */
    peer: string | undefined;
    /** This connection's peer's allowance of session messages. */
    bucket: TokenBucket;
    /** When the last session message other than a liveness ping came (Date.now()), or the connection opened. */
    lastActive: number;
    /** The peer records (shared refs) this session received lately, which the peer may name by index. */
    refs: SharedRefTable;
  }
  const readers = new Map<string, Reader>();
  const received: Record<string, number> = {};
  const limit = ctx.config?.peerRateLimit ?? DEFAULT_PEER_RATE_LIMIT;
  /** Session messages dropped for going over their peer's rate limit. */
  let limited = 0;

  const drop = (conn: string, err: unknown): void => {
    readers.delete(conn);
    detached(mainLoop.send({ type: 'drop', conn, code: codeOf(err), reason: messageOf(err) }));
  };

  /** Route one session message; returns the send to await when the target is full. */
  const route = (conn: string, peer: string, message: SessionMessage): Promise<void> | undefined => {
    switch (ROUTES[message.type]) {
      case 'global': {
        const { command, query, service } = message as Extract<SessionMessage, { type: 'global' }>;
        const target = service === undefined ? ports.global : applications.get(service);
        if (target === undefined) {
          // Not a protocol violation: this node just runs no such service. Say so, if asked.
          const error = new MyDhtError('ERR_NO_SUCH_SERVICE', `this node runs no application service ${JSON.stringify(service)}`);
          if (query !== undefined) detached(write.send({ type: 'send', peer, message: { type: 'reply', query, ok: false, code: error.code, error: error.message } }));
          return undefined;
        }
        if (query === undefined) return target.send({ type: 'distant', from: peer, command });
        target.call({ type: 'distant', from: peer, command }).then(
          (value) => detached(write.send({ type: 'send', peer, message: { type: 'reply', query, ok: true, value } })),
          (err: unknown) =>
            detached(
              write.send({ type: 'send', peer, message: { type: 'reply', query, ok: false, code: codeOf(err), error: messageOf(err) } }),
            ),
        );
        return undefined;
      }
      case 'api':
        if (message.type === 'seek') return ports.api.send({ type: 'seek', from: peer, query: message.query, seek: message.seek });
        return ports.api.send({ type: 'reply', from: peer, reply: message as Extract<SessionMessage, { type: 'reply' }> });
      case 'peer-store':
        return ports['peer-store'].send({ type: 'message', from: peer, conn, message });
      case 'listen':
        return ports.listen.send({ type: 'message', from: peer, message: message as Extract<SessionMessage, { type: 'listen' | 'unlisten' | 'notify' | 'notify-ack' }> });
      case 'proxy':
        return proxy(conn, peer, message as Extract<SessionMessage, { type: 'relay' | 'relayed' }>);
      default:
        drop(conn, Object.assign(new Error(`unknown message type ${JSON.stringify((message as WireMessage).type)}`), { code: 'ERR_WIRE_UNKNOWN_TYPE' }));
        return undefined;
    }
  };

  /** Proxying, one hop: pass a `relay` on; deliver a `relayed` as from its named sender. */
  const proxy = (
    conn: string,
    peer: string,
    message: Extract<SessionMessage, { type: 'relay' | 'relayed' }>,
  ): Promise<void> | undefined => {
    const inner = message.message;
    if (typeof inner !== 'object' || inner === null || !(inner.type in ROUTES) || inner.type === 'relay' || inner.type === 'relayed') {
      drop(conn, Object.assign(new Error('a relayed message must hold one plain session message'), { code: 'ERR_WIRE_MALFORMED' }));
      return undefined;
    }
    if (message.type === 'relay') {
      const forward = write.call({ type: 'send', peer: message.to, message: { type: 'relayed', from: peer, message: inner } });
      forward.then(undefined, (err: unknown) => {
        // Tell the asker when its query cannot go on, rather than let it wait for its deadline.
        if ('query' in inner && typeof inner.query === 'number' && inner.type !== 'reply') {
          detached(write.send({ type: 'send', peer, message: { type: 'reply', query: inner.query, ok: false, code: codeOf(err), error: messageOf(err) } }));
        }
      });
      return undefined;
    }
    // Answers to `from` go back the way this came, unless a direct session exists.
    detached(write.send({ type: 'route', peer: message.from, via: peer }));
    return route(conn, message.from, inner);
  };

  const pump = async (conn: string, reader: Reader): Promise<void> => {
    while (!reader.busy && reader.waiting.length > 0 && readers.get(conn) === reader) {
      const frame = reader.waiting.shift()!;
      let message: WireMessage;
      try {
        // Handshake steps name no shared refs: the table starts with the session.
        message = wire.decode(frame, reader.cipher, reader.peer === undefined ? undefined : reader.refs);
      } catch (err) {
        drop(conn, err);
        return;
      }
      if (reader.peer === undefined) {
        // A handshake step: the main loop answers, and says when the session opens.
        reader.busy = true;
        mainLoop.call({ type: 'handshake', conn, message }).then(
          (opened) => {
            reader.busy = false;
            if (opened !== null) {
              reader.cipher = opened.receiveKey === null ? undefined : new SessionCipher(undefined, opened.receiveKey);
              reader.peer = opened.peer;
            }
            // Started from a callback, not a handler: a refused route (a service stopping) ends
            // this connection rather than going unhandled.
            pump(conn, reader).catch((err: unknown) => drop(conn, err));
          },
          (err: unknown) => drop(conn, err),
        );
        return;
      }
      if (!(message.type in ROUTES)) {
        drop(conn, Object.assign(new Error(`unknown message type ${JSON.stringify(message.type)}`), { code: 'ERR_WIRE_UNKNOWN_TYPE' }));
        return;
      }
      // Over its allowance, a peer's message is dropped before any service does work for it:
      // quietly, as OpenDHT does, so that a flood costs the flooder more than it costs us.
      if (!reader.bucket.take()) {
        limited++;
        continue;
      }
      // Counted by type: the types are ROUTES' keys, a fixed set, so the table stays small.
      received[message.type] = (received[message.type] ?? 0) + 1;
      if (message.type !== 'alive' && message.type !== 'alive-ack') reader.lastActive = Date.now();
      const sent = route(conn, reader.peer!, message as SessionMessage);
      if (sent !== undefined && sent !== ACCEPTED) await sent;
    }
  };

  return {
    handlers: {
      open: ({ conn }) => {
        readers.set(conn, {
          frames: new FrameDecoder(wire.maxFrame),
          waiting: [],
          busy: false,
          cipher: undefined,
          peer: undefined,
          bucket: new TokenBucket(limit.perSecond, limit.burst),
          lastActive: Date.now(),
          refs: new SharedRefTable(),
        });
      },
      bytes: ({ conn, chunk }) => {
        const reader = readers.get(conn);
        if (reader === undefined) return undefined;
        try {
          for (const frame of reader.frames.push(chunk)) reader.waiting.push(frame);
        } catch (err) {
          drop(conn, err);
          return undefined;
        }
        return pump(conn, reader);
      },
      close: ({ conn }) => {
        readers.delete(conn);
      },
      connections: () => readers.size,
      messages: () => ({ ...received }),
      limited: () => limited,
      idle: ({ olderThanMs }) => {
        // A peer's latest activity over all its connections (a duplicate pair has two).
        const active = new Map<string, number>();
        for (const reader of readers.values()) {
          if (reader.peer !== undefined) active.set(reader.peer, Math.max(active.get(reader.peer) ?? 0, reader.lastActive));
        }
        const before = Date.now() - olderThanMs;
        return [...active].filter(([, at]) => at <= before).sort((a, b) => a[1] - b[1]).map(([peer]) => peer);
      },
    },
  };
});
