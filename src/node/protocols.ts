import type { DhtRecord } from '../dht/records.ts';
import type { SessionMessage } from './messages.ts';
import type { PeerRecord } from './peer-record.ts';
import type { WireMessage } from './wire.ts';

/** The command unions of the node's services, by service name. */
export interface NodeProtocols {
  'main-loop': MainLoopProtocol;
  read: ReadProtocol;
  write: WriteProtocol;
  'peer-store': PeerStoreProtocol;
  api: ApiProtocol;
  global: GlobalProtocol;
  events: EventsProtocol;
  listen: ListenProtocol;
}

/** Listen, both sides: subscriptions held for peers, and the keys this node listens to. */
export interface ListenProtocol {
  /** From the read service. */
  message: { command: { from: string; message: Extract<SessionMessage, { type: 'listen' | 'unlisten' | 'notify' | 'notify-ack' }> }; reply: void };
  /** From the key-value service: a record it accepted (new, or newer than the one it held). */
  accepted: { command: { record: DhtRecord }; reply: void };
  /** Listen to `key` at these holders (the closest now); holders registered before and not now are told to stop. */
  register: { command: { key: Uint8Array; holders: PeerRecord[]; ttlMs: number; timeoutMs: number }; reply: { registered: number; errors: string[] } };
  unregister: { command: { key: Uint8Array }; reply: void };
  stats: {
    command: object;
    reply: { subscriptions: number; listening: number; pushed: number; acked: number; lagged: number; duplicates: number; refused: number };
  };
}

/** What happens to a lookup as it goes, in order; `done` comes last, once. */
export type QueryEvent =
  /** A peer was asked (iterative) or forwarded to (by this node, for a forwarded query). */
  | { type: 'asked'; peer: string; hop: number }
  /** A peer answered: `learned` peers it named were new to the query. */
  | { type: 'answered'; peer: string; hop: number; learned: number }
  /** A peer answered with a record under the target (checked for shape, key and signature). */
  | { type: 'value'; peer: string; hop: number }
  | { type: 'failed'; peer: string; hop: number; error: string }
  /** An iterative lookup's peer has not answered in time: the lookup goes on without waiting for it, but takes its answer if it comes before the end. */
  | { type: 'slow'; peer: string; hop: number };

/** What a node tells its listeners: peers coming and going, and the progress of queries. */
export type NodeEvent =
  | { type: 'peer:connect'; peer: string; address: string }
  | { type: 'peer:disconnect'; peer: string }
  /** A peer this node had not known, named by another. */
  | { type: 'peer:discovery'; peer: string; addresses: readonly string[] }
  /** A record pushed under a key this node listens to (hex), or only a count of records lost before it. */
  | { type: 'listen'; key: string; record?: DhtRecord; lagged?: number }
  /** A step of the query with this tag (only queries that asked for progress). */
  | { type: 'query'; tag: string; event: QueryEvent };

/** The node's event outlet: always on the node's own loop, where its listeners are. */
export interface EventsProtocol {
  emit: { command: { event: NodeEvent }; reply: void };
}

export interface ConnectedPeer {
  id: string;
  conn: string;
  address: string;
  direction: 'inbound' | 'outbound';
}

export interface MainLoopStatus {
  connections: number;
  sessions: number;
  pendingHandshakes: number;
  /** Connections without a session yet (bounded by maxPendingConnections). */
  unauthenticated: number;
  /** Handshakes that opened a session (`resumed`: those of them proved by a resumption secret), and refusals by code. */
  handshakes: { ok: number; resumed: number; rejected: Record<string, number> };
  /** Connections ended for bad input, by code. */
  dropped: Record<string, number>;
}

export interface MainLoopProtocol {
  /** Listen on a multiaddr; returns the addresses actually bound. */
  listen: { command: { address: string }; reply: string[] };
  /** Dial, handshake, and return the peer's id (hex) once the session is open. */
  dial: { command: { address: string; peer?: string }; reply: string };
  /**
   * From the read service: one handshake message; the reply opens the session, or null to go on.
   * `receiveKey` is null when the connection's transport seals or encrypts by itself.
   */
  handshake: { command: { conn: string; message: WireMessage }; reply: { receiveKey: Uint8Array | null; peer: string } | null };
  /** From the write service: bytes for a connection. */
  write: { command: { conn: string; bytes: Uint8Array }; reply: void };
  /** End a connection for bad input; counted by code. */
  drop: { command: { conn: string; code: string; reason: string }; reply: void };
  /** The peer's id once a session with it is open: the existing one, or a new dial to the first of `addresses` a transport of this node handles (ERR_NO_TRANSPORT if none). */
  connect: { command: { peer: string; addresses: readonly string[] }; reply: string };
  /**
   * Close the session with a peer (liveness timed out, banned: at once; idle: `gentle`, after
   * what was written is delivered).
   */
  disconnect: { command: { peer: string; reason: string; gentle?: boolean }; reply: void };
  peers: { command: object; reply: ConnectedPeer[] };
  status: { command: object; reply: MainLoopStatus };
}

export interface ReadProtocol {
  open: { command: { conn: string }; reply: void };
  bytes: { command: { conn: string; chunk: Uint8Array }; reply: void };
  close: { command: { conn: string }; reply: void };
  connections: { command: object; reply: number };
  /** Session messages by type since start (read: received; write: sent). */
  messages: { command: object; reply: Record<string, number> };
  /** Session messages dropped for going over their peer's rate limit. */
  limited: { command: object; reply: number };
  /**
   * Peers whose sessions carried nothing but liveness pings for `olderThanMs` or more, the
   * longest idle first: what the peer store closes when it holds more sessions than it needs.
   */
  idle: { command: { olderThanMs: number }; reply: string[] };
}

/**
 * Session messages are sent to a peer through the write service, which knows each peer's
 * session: the main loop tells it. Nothing sent to a peer passes through the main loop, which
 * only receives bytes and control, so the two never wait on each other.
 */
export interface WriteProtocol {
  /** A new connection; `peer` when it was dialed to reach a known peer (messages to it wait for the session). */
  open: { command: { conn: string; peer?: string }; reply: void };
  /**
   * The session on `conn` is open; `primary` marks the one session kept with `peer`. `sendKey`
   * is null when the connection's transport seals or encrypts by itself.
   */
  session: { command: { conn: string; peer: string; sendKey: Uint8Array | null; primary: boolean }; reply: void };
  /**
   * Seal and send a message to a peer over its session; without one, through the peer known to
   * relay to it (proxying), and then reply with that peer's id; ERR_NO_ROUTE when neither exists.
   */
  send: { command: { peer: string; message: SessionMessage }; reply: string | undefined };
  /** `via` (a peer with a session) can relay to `peer`: used when there is no direct session. */
  route: { command: { peer: string; via: string }; reply: void };
  close: { command: { conn: string }; reply: void };
  connections: { command: object; reply: number };
  /** Session messages by type since start (read: received; write: sent). */
  messages: { command: object; reply: Record<string, number> };
}

export interface KnownPeer {
  id: string;
  addresses: readonly string[];
  connected: boolean;
  /** ms since the epoch; 0 if never. */
  lastSeen: number;
  offline: boolean;
}

export interface PeerStoreProtocol {
  connected: { command: { record: PeerRecord; conn: string }; reply: void };
  disconnected: { command: { peer: string }; reply: void };
  message: { command: { from: string; conn: string; message: SessionMessage }; reply: void };
  /** A peer's record, from what this node knows, or asked of its connected peers. */
  findPeer: { command: { id: string; timeoutMs?: number }; reply: PeerRecord | null };
  ban: { command: { peer: string; ms: number }; reply: void };
  /** The answered contacts of the routing table closest to `target`, as records. */
  closest: { command: { target: Uint8Array; count: number }; reply: PeerRecord[] };
  /** Records learned from other peers' answers: their addresses, for dialing them later. */
  learn: { command: { records: PeerRecord[] }; reply: void };
  routingTableSize: { command: object; reply: number };
  /** A contact failed to answer a request: out of the routing table (Kademlia drops unresponsive contacts). */
  unreachable: { command: { peer: string }; reply: void };
  /** A random id in each non-empty bucket not refreshed for `intervalMs`: the lookups that keep the table fresh. */
  refreshTargets: { command: { intervalMs: number }; reply: Uint8Array[] };
  isBanned: { command: { peer: string }; reply: boolean };
  list: { command: object; reply: KnownPeer[] };
}

export interface QueryResult {
  results: { from: string; ok: boolean; value?: unknown; code?: string; error?: string }[];
  /** Whether `expect` results arrived before the deadline. */
  complete: boolean;
}

/** What a query asks each peer. */
export type QueryRequest =
  /** A command for the global service, or with `service` for an application service of that name. */
  | { type: 'global'; command: { type: string }; service?: string }
  | { type: 'find-peer'; id: Uint8Array }
  | { type: 'find-node'; target: Uint8Array }
  | { type: 'listen'; key: Uint8Array; ttlMs: number };

export interface LookupReply {
  /** The closest peers that answered, closest first, as records. */
  closest: PeerRecord[];
  hops: number;
  queried: number;
  failed: number;
  /** With `want: 'value'`: the records peers answered with (checked for shape, key and signature). */
  values?: unknown[];
}

export interface ApiProtocol {
  /**
   * Ask each of `peers` (and, for a global command with `local`, this node's own global service),
   * and collect replies until `expect` have arrived or the deadline passes: MyDHT's "expect N".
   */
  query: {
    command: {
      peers: string[];
      request: QueryRequest;
      local?: boolean;
      expect: number;
      timeoutMs?: number;
      /** A name of the caller's choosing, to cancel the query by. */
      tag?: string;
    };
    reply: QueryResult;
  };
  /** Cancel the queries with this tag: each resolves at once with what it has. */
  cancel: { command: { tag: string }; reply: number };
  /** From the read service: a reply to one of our queries. */
  reply: { command: { from: string; reply: Extract<SessionMessage, { type: 'reply' }> }; reply: void };
  /** An iterative Kademlia lookup of the peers closest to `target`. */
  lookup: {
    command: {
      target: Uint8Array;
      /** `value` makes each step a FIND_VALUE too: the lookup ends at the first valid immutable record. */
      want?: 'value' | 'nodes';
      /** This node's record, named in each step's request. */
      origin: PeerRecord;
      count?: number;
      alpha?: number;
      hopLimit?: number;
      /** Disjoint paths (S/Kademlia), 1 by default. */
      paths?: number;
      timeoutMs?: number;
      tag?: string;
      /** Send each step to the events service as a `query` event under `tag`. */
      progress?: boolean;
    };
    reply: LookupReply;
  };
  /** From the read service: a forwarded query for this node to work on as a hop. */
  seek: { command: { from: string; query: number; seek: unknown }; reply: void };
  /**
   * A forwarded query from this node (proxy, async and mixed modes): `proxyHops` hops answer the
   * hop before them, the rest answer this node. `origin` is this node's record, where they answer.
   */
  find: {
    command: {
      target: Uint8Array;
      want: 'value' | 'nodes';
      origin: PeerRecord;
      proxyHops: number;
      hopLimit?: number;
      fanout?: number;
      /** Peers wanted in the result (default k). */
      count?: number;
      timeoutMs?: number;
      tag?: string;
      /** Send each answer to the events service as a `query` event under `tag`. */
      progress?: boolean;
    };
    reply: FindReply;
  };
  pending: { command: object; reply: number };
  /** Forwarded queries this node worked on as a hop, answered empty as duplicates (seen by another path), and refused. */
  seekStats: { command: object; reply: { worked: number; duplicates: number; refused: number; remembered: number } };
}

export interface FindReply {
  /** The records found under the target, as answered: the caller checks them. */
  values: unknown[];
  /** The peers closest to the target among those that answered and those they named, closest first. */
  closest: PeerRecord[];
  /** The deepest hop that answered. */
  hops: number;
  answers: number;
  /** Whether every branch of the query answered before the deadline. */
  complete: boolean;
}

/** The application's global service: a command from this node, or from a peer. */
export interface GlobalProtocol {
  local: { command: { command: { type: string } }; reply: unknown };
  distant: { command: { from: string; command: { type: string } }; reply: unknown };
}
