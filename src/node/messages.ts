import type { SeekRequest } from '../dht/seek.ts';
import type { PeerRecord } from './peer-record.ts';

/**
 * What travels inside an authenticated session: the command union of the node protocol. Each
 * message names the service it is for, and the read service routes it there.
 */
export type SessionMessage =
  /**
   * For the global (key-value) service, or with `service` for one of the application's own
   * services beside it: a command, and the query it answers to, if any.
   */
  | { type: 'global'; command: { type: string }; query?: number; service?: string }
  /** A reply to a query this node sent. */
  | { type: 'reply'; query: number; ok: boolean; value?: unknown; code?: string; error?: string }
  /** Liveness: a ping is answered by a pong with the same number. */
  | { type: 'alive'; n: number }
  | { type: 'alive-ack'; n: number }
  /** Kademlia FIND_NODE: the peers the receiver knows closest to `target`, as `reply` (value: their PeerRecords). */
  | { type: 'find-node'; query: number; target: Uint8Array }
  /** Ask for a peer's record by id; answered with `reply` (value: its PeerRecord, or null). */
  | { type: 'find-peer'; query: number; id: Uint8Array }
  /**
   * A forwarded query (proxy, async and mixed modes): answered with `reply` (value: SeekAnswer),
   * to the sender under `query` or to the seek's origin under its own query id.
   */
  | { type: 'seek'; query: number; seek: SeekRequest }
  /** Listen: subscribe (or renew) to records accepted under `key`, for `ttlMs`; answered with `reply` (value: { ttlMs }). */
  | { type: 'listen'; query: number; key: Uint8Array; ttlMs: number }
  | { type: 'unlisten'; key: Uint8Array }
  /** A record the sender accepted under a key the receiver listens to: push number `n` of that subscription, and records dropped before it. */
  | { type: 'notify'; key: Uint8Array; n: number; record: unknown; lagged?: number }
  /** Every push of that subscription up to `n` arrived. */
  | { type: 'notify-ack'; key: Uint8Array; n: number }
  /** The sender's newer record (its addresses changed). */
  | { type: 'record'; record: PeerRecord }
  /**
   * Proxying, one hop: "pass this to `to`", sent to a peer that has a session with `to`, which
   * delivers it as `relayed`, naming the sender. The relay vouches for `from`; the final peer
   * cannot check it end to end (what must be, like DHT records, is signed by its author).
   */
  | { type: 'relay'; to: string; message: SessionMessage }
  | { type: 'relayed'; from: string; message: SessionMessage };

export type SessionMessageType = SessionMessage['type'];

/** Which local service handles each message type. */
export const ROUTES: Record<SessionMessageType, 'global' | 'api' | 'peer-store' | 'proxy' | 'listen'> = {
  global: 'global',
  reply: 'api',
  seek: 'api',
  alive: 'peer-store',
  'alive-ack': 'peer-store',
  'find-peer': 'peer-store',
  'find-node': 'peer-store',
  record: 'peer-store',
  listen: 'listen',
  unlisten: 'listen',
  notify: 'listen',
  'notify-ack': 'listen',
  relay: 'proxy',
  relayed: 'proxy',
};
