import type { Logger } from '../runtime/logger.ts';
import type { ServiceModule } from '../runtime/service.ts';
import type { ServiceStatus, SpawnerKind } from '../runtime/spawner.ts';
import type { ServiceSystem } from '../runtime/system.ts';
import type { Transport } from '../net/transport.ts';
import type { QueryMode } from '../dht/seek.ts';
import type { LookupObservation } from './dht-operations.ts';
import type { NodeIdentity } from './identity.ts';
import type { MainLoopStatus, NodeProtocols } from './protocols.ts';

/** The node's services by name. */
export type NodeServiceName = keyof NodeProtocols;

/** What a node emits (it is an EventEmitter): peers coming, going and being discovered. */
export interface NodeEventMap {
  'peer:connect': [{ peer: string; address: string }];
  'peer:disconnect': [{ peer: string }];
  'peer:discovery': [{ peer: string; addresses: readonly string[] }];
  /** Every lookup this node finished (gets and puts make one each), for metrics. */
  lookup: [LookupObservation];
}

/** The node's options that pass straight to its services. Every one has a default. */
export interface NodeTuning {
  /** The application's global service config. */
  globalConfig?: unknown;
  /** Session messages a peer may send a second, and save up; past it they are dropped (default 1,024/s, burst 8,192). */
  peerRateLimit?: { perSecond: number; burst: number };
  /** Largest frame body, bytes (default 1 MiB). */
  maxFrame?: number;
  /** Liveness ping interval, ms (default 5 s). */
  livenessIntervalMs?: number;
  /** A peer silent this long is offline, ms (default 15 s). */
  livenessTimeoutMs?: number;
  /** A connection has this long to authenticate, ms (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Connections still authenticating at most; inbound ones past it are refused at once (default 1,024). */
  maxPendingConnections?: number;
  /** Inbound connections from one IP at most; past it they are refused (default 8, go-libp2p's; loopback and private exempt with exemptPrivateAddresses). */
  maxConnectionsPerAddress?: number;
  /**
   * Bytes a peer may leave unread past the transport's high-water mark (1 MiB) before its
   * connection is closed with ERR_PEER_NOT_READING (default 64 MiB): a peer that asks without
   * reading cannot make this node buffer without limit.
   */
  maxUnreadBytes?: number;
  /** Pinned keys, peer id (hex) to raw Ed25519 public key: such a peer answering with another key is refused. */
  pinned?: Record<string, Uint8Array>;
  /** Connected peers the peer store keeps, dialing known ones below it (default 8). */
  targetPeers?: number;
  /** Past `targetPeers` sessions, one idle this long (nothing but liveness pings) is closed, ms; 0 never (default 5 min). */
  idleTimeoutMs?: number;
  /** Kademlia's k: replicas of each record, contacts per bucket, peers per answer (default 20). */
  replication?: number;
  /**
   * Loopback and private addresses are exempt from the routing table's IP diversity limits (2 per
   * /24 per bucket, 10 per table): default true, so local networks work; a node on the public
   * internet should turn it off.
   */
  exemptPrivateAddresses?: boolean;
  /**
   * IP diversity limits: contacts of one /24 (IPv6: /48) at most per bucket (default 2) and in the
   * whole routing table (default 10); `perBucket` also bounds the peers of one /24 among an
   * iterative lookup's candidates and results, so Sybils ground close to a key from a few subnets
   * cannot take all of its k places. Raising them weakens that defence (Sybil, eclipse); for
   * private clusters without private addresses.
   */
  ipDiversity?: { perBucket?: number; perTable?: number };
  /**
   * Addresses announced in this node's record ahead of those it listens on: where peers reach it
   * from outside (a NAT's public address, a forwarded port). Its /24 is the one the diversity
   * limits count. Dials use the first address of a record that one of the dialer's transports handles.
   */
  announce?: string[];
  /**
   * Disjoint paths of an iterative lookup (S/Kademlia), default 2: with d paths no peer is asked
   * by two paths, so a malicious peer that answers with fake closer peers captures one path, not
   * the lookup. The paths share alpha; each converges on its own k, so a lookup for the k closest
   * asks about d times the peers (a get that meets a value stops there).
   */
  disjointPaths?: number;
  /** Every bucket not refreshed for this long is looked up again, ms (default 10 min, as kad-dht). */
  refreshIntervalMs?: number;
  /** Records this node put are put again this often, so they outlive their holders, ms (default 1 h). */
  republishIntervalMs?: number;
  /**
   * The values of the records this node put that it keeps for republishing (in memory, and in
   * the data dir when it has one), bytes at most (default 64 MiB); past it the oldest put is
   * forgotten first (it lives on while its holders refresh it). 0 turns the originator's
   * republishing off.
   */
  republishMaxBytes?: number;
  /**
   * A record this node holds that nobody stored again for this long is put again on the nodes
   * now closest to it, ms (default 1 h: Kademlia's republish by every holder).
   */
  recordRefreshIntervalMs?: number;
  /**
   * The module (absolute file: URL) whose default export maps each plain-record namespace to its
   * validator; the key-value service and the node's gets both use it. None by default: plain
   * records are then refused (ERR_RECORD_NAMESPACE).
   */
  recordValidators?: string;
  /**
   * A listen is renewed this often, with a lookup: it then registers with the nodes closest to
   * its key at that moment, so a holder that died is replaced within one renewal, ms (default 30 s).
   */
  listenRefreshMs?: number;
  /** Bounds of listening (each with its default): see services/listen.ts. */
  listenLimits?: { queueLength?: number; window?: number; maxPerPeer?: number; maxPerNode?: number; maxListens?: number };
  /** Largest record value this node stores, passes on as a hop, or takes from a get, bytes (default 64 KiB). */
  maxValueBytes?: number;
  /** How lookups, gets and puts query the network unless a call says otherwise (default iterative). */
  queryMode?: QueryMode | string;
  log?: Logger;
}

export interface NodeParts extends NodeTuning {
  identity: NodeIdentity;
  transports: Transport[];
  /** Where each service's module is. */
  modules: Record<NodeServiceName, ServiceModule>;
  /** The spawner of each service; the main loop is always same-loop (it owns the sockets). */
  spawners: Record<NodeServiceName, SpawnerKind>;
  system: ServiceSystem;
  listen: string[];
  bootstrap: string[];
  /** The application's own services beside the global one, by name. */
  services?: Record<string, ApplicationService>;
  /**
   * Where the records this node put are kept for republishing, opened at start and closed at
   * stop (createNode: `<dataDir>/published`). Without it they are kept in memory only.
   */
  publishedPath?: string;
}

/**
 * An application service beside the key-value store (MyDHT's custom global commands): it speaks
 * the global service's protocol (`local` from this node, `distant` from a peer), and peers reach
 * it by its name.
 */
export interface ApplicationService {
  module: ServiceModule;
  /** Where it runs (default same-loop). */
  spawner?: SpawnerKind;
  config?: unknown;
}

export interface NodeStatus {
  id: string;
  addresses: string[];
  uptimeMs: number;
  /** Contacts in the routing table. */
  routingTable: number;
  connections: MainLoopStatus;
  services: ServiceStatus[];
  store: { records: number; bytes: number; quotaBytes: number; refused: Record<string, number> } | null;
  /**
   * The records this node put and keeps for republishing, the bytes of their values (at most
   * maxBytes), and how many of them could not be written to the data dir (kept for this run only).
   */
  published: { records: number; bytes: number; maxBytes: number; unsaved: number };
}
