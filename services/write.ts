import { messageOf } from '../src/runtime/errors.ts';
import { defineService } from '../src/runtime/service.ts';
import type { NodeProtocols } from '../src/node/protocols.ts';
import { SessionCipher } from '../src/node/session-cipher.ts';
import { DEFAULT_MAX_FRAME, Wire } from '../src/node/wire.ts';

export interface WriteConfig {
  maxFrame?: number;
  /** Messages held for a connection whose session is not open yet; past it the oldest is dropped. */
  maxBuffered?: number;
}

/** Messages a connection may hold before its session opens: a handshake takes one round trip. */
const DEFAULT_MAX_BUFFERED = 256;

/**
 * Writes every connection's frames (one pooled service, with per-connection state): handshake
 * messages go out in the clear at once; session messages wait until the session key arrives,
 * then are sealed and framed. The bytes go to the main loop, which owns the sockets; the
 * transport coalesces a burst of them into one system write.
 */
export default defineService<NodeProtocols['write'], WriteConfig | null>((ctx) => {
  const wire = new Wire(ctx.config?.maxFrame ?? DEFAULT_MAX_FRAME);
  const maxBuffered = ctx.config?.maxBuffered ?? DEFAULT_MAX_BUFFERED;
  const mainLoop = ctx.service<NodeProtocols['main-loop']>('main-loop');
  const writers = new Map<string, { cipher: SessionCipher | undefined; buffered: { type: string }[] }>();

  const out = (conn: string, bytes: Uint8Array): Promise<void> => mainLoop.send({ type: 'write', conn, bytes });

  return {
    handlers: {
      open: ({ conn }) => {
        writers.set(conn, { cipher: undefined, buffered: [] });
      },
      handshake: ({ conn, message }) => {
        if (!writers.has(conn)) return undefined;
        return out(conn, wire.encode(message));
      },
      session: ({ conn, sendKey }) => {
        const writer = writers.get(conn);
        if (writer === undefined) return undefined;
        writer.cipher = new SessionCipher(sendKey, undefined);
        const buffered = writer.buffered;
        writer.buffered = [];
        for (const message of buffered) void out(conn, wire.encode(message, writer.cipher));
        return undefined;
      },
      send: ({ conn, message }) => {
        const writer = writers.get(conn);
        if (writer === undefined) {
          throw Object.assign(new Error(`no connection ${conn}`), { code: 'ERR_NO_CONNECTION' });
        }
        if (writer.cipher === undefined) {
          if (writer.buffered.length >= maxBuffered) {
            writer.buffered.shift();
            ctx.log.warn({ conn }, 'dropped the oldest message waiting for a session');
          }
          writer.buffered.push(message);
          return undefined;
        }
        let frame: Uint8Array;
        try {
          frame = wire.encode(message, writer.cipher);
        } catch (err) {
          throw Object.assign(new Error(`cannot send: ${messageOf(err)}`), { code: 'ERR_ENCODE' });
        }
        return out(conn, frame);
      },
      close: ({ conn }) => {
        writers.delete(conn);
      },
      connections: () => writers.size,
    },
  };
});
