import { EventEmitter } from 'node:events';
import { ConfigError } from '../runtime/errors.ts';
import { silentLogger } from '../runtime/logger.ts';
import type { ServiceHandle, ServiceStatus } from '../runtime/spawner.ts';
import type { ServiceSystem } from '../runtime/system.ts';
import type { NodeIdentity } from './identity.ts';
import { PeerRecord } from './peer-record.ts';
import type { ConnectedPeer, KnownPeer, LookupReply, MainLoopStatus, NodeEvent, NodeProtocols, QueryEvent, QueryRequest, QueryResult } from './protocols.ts';
import { DEFAULT_RECORD_LIMITS, type DhtRecord } from '../dht/records.ts';
import { DEFAULT_K } from '../dht/routing-table.ts';
import { DhtOperations, type QueryOptions } from './dht-operations.ts';
import type { ListenSubscription } from './listen-subscription.ts';
import { Listens } from './listens.ts';
import { loadValidators } from '../dht/namespace-validators.ts';
import { PublishedRecords } from '../dht/published.ts';

import type { ApplicationService, NodeEventMap, NodeParts, NodeServiceName, NodeStatus } from './node-options.ts';

export type { QueryOptions } from './dht-operations.ts';
export type { ApplicationService, NodeEventMap, NodeParts, NodeServiceName, NodeStatus, NodeTuning } from './node-options.ts';

/** kad-dht refreshes its buckets every 10 minutes. */
const DEFAULT_REFRESH_INTERVAL_MS = 10 * 60_000;
/**
 * Two disjoint paths: with the diversity limits they keep gets at 100% against Sybils spread one
 * per subnet (one path: 71%, test/sim eclipse scenario), for ~20% of get throughput.
 */
const DEFAULT_DISJOINT_PATHS = 2;
/** Kademlia's paper republishes hourly; records live 24 h, so a day without the originator loses nothing. */
const DEFAULT_REPUBLISH_INTERVAL_MS = 60 * 60_000;
const DEFAULT_REPUBLISH_MAX_BYTES = 64 * 1024 * 1024;
/** Kademlia's holders republish hourly too; a record stored again meanwhile is skipped. */
const DEFAULT_RECORD_REFRESH_INTERVAL_MS = 60 * 60_000;

export const NODE_SERVICES: readonly NodeServiceName[] = ['main-loop', 'read', 'write', 'peer-store', 'api', 'global', 'listen', 'events'];



/** An application service's name: short, lowercase, and none of the node's own. */
const APPLICATION_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * One mydht node: its services under the spawners its configuration picks, its identity, and
 * the operations a user calls. Build one with `createNode` (src/assemble.ts).
 */
export class MyDhtNode extends EventEmitter<NodeEventMap> {
  readonly identity: NodeIdentity;
  readonly system: ServiceSystem;
  readonly #parts: NodeParts;
  #record: PeerRecord;
  #addresses: string[] = [];
  #started = false;
  /** When start was called, ms since the epoch; 0 before. */
  #startedAt = 0;
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #republishTimer: ReturnType<typeof setInterval> | undefined;
  #recordRefreshTimer: ReturnType<typeof setInterval> | undefined;
  readonly #dht: DhtOperations;
  readonly #republishMaxBytes: number;
  /** In memory until start opens the kept set (publishedPath); what a put remembers goes here. */
  #published: PublishedRecords;
  readonly #listens: Listens;
  /** Listeners of queries in progress, by tag. */
  readonly #watchers = new Map<string, (event: QueryEvent) => void>();

  constructor(parts: NodeParts) {
    super();
    if (parts.spawners['main-loop'] !== 'same-loop') {
      throw new ConfigError('spawners.main-loop must be "same-loop": the main loop owns the sockets, which cannot move to a worker');
    }
    for (const name of Object.keys(parts.services ?? {})) {
      if (!APPLICATION_NAME.test(name) || (NODE_SERVICES as readonly string[]).includes(name)) {
        throw new ConfigError(`services.${name}: an application service needs a name of 1-32 of a-z, 0-9 and dash, starting with a letter, and none of ${NODE_SERVICES.join(', ')}`);
      }
    }
    if (parts.spawners.events !== 'same-loop') {
      throw new ConfigError("spawners.events must be \"same-loop\": it calls the node's listeners, which live on the node's loop");
    }
    this.identity = parts.identity;
    this.system = parts.system;
    this.#parts = parts;
    this.#addresses = [...(parts.announce ?? [])];
    this.#record = PeerRecord.create(parts.identity, this.#addresses, 0);
    this.#republishMaxBytes = parts.republishMaxBytes ?? DEFAULT_REPUBLISH_MAX_BYTES;
    this.#published = PublishedRecords.inMemory(this.#republishMaxBytes);
    this.#dht = new DhtOperations({
      service: (name) => this.#service(name),
      record: () => this.#record,
      self: parts.identity.id,
      k: parts.replication ?? DEFAULT_K,
      limits: { ...DEFAULT_RECORD_LIMITS, maxValueBytes: parts.maxValueBytes ?? DEFAULT_RECORD_LIMITS.maxValueBytes },
      queryMode: parts.queryMode ?? 'iterative',
      disjointPaths: parts.disjointPaths ?? DEFAULT_DISJOINT_PATHS,
      published: () => this.#published,
      validators: parts.recordValidators,
      observe: (lookup) => void this.emit('lookup', lookup),
      watch: (tag, listener) => {
        this.#watchers.set(tag, listener);
        return () => this.#watchers.delete(tag);
      },
    });
    this.#listens = new Listens({
      service: () => this.#service('listen'),
      lookup: (key) => this.#dht.lookup(key),
      refreshMs: parts.listenRefreshMs,
    });
  }

  get id(): string {
    return this.identity.idHex;
  }

  get addresses(): readonly string[] {
    return this.#addresses;
  }

  get record(): PeerRecord {
    return this.#record;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#startedAt = Date.now();
    const parts = this.#parts;
    const log = parts.log ?? silentLogger;
    const spec = (name: NodeServiceName, config: unknown) => ({
      name,
      module: parts.modules[name],
      spawner: parts.spawners[name],
      config,
    });
    // A bad validators module is a configuration error: say so before any service starts.
    await loadValidators(parts.recordValidators);
    if (parts.publishedPath !== undefined) this.#published = await PublishedRecords.open(parts.publishedPath, this.#republishMaxBytes);
    const wire = parts.maxFrame === undefined ? {} : { maxFrame: parts.maxFrame };
    await this.system.start([
      spec('events', { emit: (event: NodeEvent) => this.#dispatch(event) }),
      spec('main-loop', {
        identity: parts.identity,
        record: () => this.#record,
        transports: parts.transports,
        ...(parts.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: parts.handshakeTimeoutMs }),
        ...(parts.maxPendingConnections === undefined ? {} : { maxPendingConnections: parts.maxPendingConnections }),
        ...(parts.maxConnectionsPerAddress === undefined ? {} : { maxConnectionsPerAddress: parts.maxConnectionsPerAddress }),
        ...(parts.maxUnreadBytes === undefined ? {} : { maxUnreadBytes: parts.maxUnreadBytes }),
        ...(parts.exemptPrivateAddresses === undefined ? {} : { exemptPrivate: parts.exemptPrivateAddresses }),
        ...(parts.pinned === undefined ? {} : { pinnedKey: (peer: string) => parts.pinned![peer] }),
        onListening: (addresses: string[]) => {
          this.#addresses = [...this.#addresses, ...addresses];
          this.#record = PeerRecord.create(parts.identity, this.#addresses, this.#record.seq + 1);
        },
      }),
      spec('read', { ...wire, services: Object.keys(parts.services ?? {}), ...(parts.peerRateLimit === undefined ? {} : { peerRateLimit: parts.peerRateLimit }) }),
      spec('write', wire),
      spec('peer-store', {
        self: this.id,
        ...(parts.livenessIntervalMs === undefined ? {} : { livenessIntervalMs: parts.livenessIntervalMs }),
        ...(parts.livenessTimeoutMs === undefined ? {} : { livenessTimeoutMs: parts.livenessTimeoutMs }),
        ...(parts.targetPeers === undefined ? {} : { targetPeers: parts.targetPeers }),
        ...(parts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: parts.idleTimeoutMs }),
        ...(parts.replication === undefined ? {} : { k: parts.replication }),
        ...(parts.exemptPrivateAddresses === undefined ? {} : { exemptPrivate: parts.exemptPrivateAddresses }),
        ...(parts.ipDiversity === undefined ? {} : { diversity: parts.ipDiversity }),
      }),
      spec('api', {
        self: this.id,
        ...(parts.exemptPrivateAddresses === undefined ? {} : { exemptPrivate: parts.exemptPrivateAddresses }),
        ...(parts.ipDiversity?.perBucket === undefined ? {} : { perSubnet: parts.ipDiversity.perBucket }),
        ...(parts.replication === undefined ? {} : { k: parts.replication }),
        ...(parts.maxValueBytes === undefined ? {} : { maxValueBytes: parts.maxValueBytes }),
      }),
      spec('global', parts.globalConfig ?? null),
      spec('listen', { ...parts.listenLimits, self: this.id }),
      ...Object.entries(parts.services ?? {}).map(([name, service]) => ({
        name,
        module: service.module,
        spawner: service.spawner ?? 'same-loop',
        config: service.config ?? null,
      })),
    ]);
    for (const address of parts.listen) await this.#service('main-loop').call({ type: 'listen', address });
    log.info({ id: this.id, addresses: this.#addresses }, 'node started');
    await Promise.all(parts.bootstrap.map((address) => this.dial(address).catch((err: unknown) => log.warn({ address, err }, 'bootstrap dial failed'))));
    const interval = parts.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
    this.#refreshTimer = setInterval(() => void this.refresh(interval).catch(() => {}), interval);
    this.#refreshTimer.unref();
    this.#republishTimer = setInterval(() => void this.republish().catch(() => {}), parts.republishIntervalMs ?? DEFAULT_REPUBLISH_INTERVAL_MS);
    this.#republishTimer.unref();
    const recordRefresh = parts.recordRefreshIntervalMs ?? DEFAULT_RECORD_REFRESH_INTERVAL_MS;
    this.#recordRefreshTimer = setInterval(() => void this.refreshRecords(recordRefresh).catch(() => {}), recordRefresh);
    this.#recordRefreshTimer.unref();
  }

  /**
   * Put again every record held here that nobody stored again for `olderThanMs` (all of them
   * with 0) on the nodes now closest to it. Returns how many were put.
   */
  refreshRecords(olderThanMs = 0): Promise<number> {
    return this.#dht.refreshHeld(olderThanMs);
  }

  /**
   * Put again every record this node put (the newest version of each), on whichever nodes are
   * closest now. Returns how many records are stored somewhere afterwards.
   */
  republish(): Promise<number> {
    return this.#dht.republish();
  }

  /**
   * Kademlia's bucket refresh: look up a random id in every non-empty bucket not refreshed for
   * `intervalMs` (all of them with 0), which learns and keeps the peers around each. Returns the
   * number of lookups made.
   */
  async refresh(intervalMs = 0): Promise<number> {
    const targets = await this.#service('peer-store').call({ type: 'refreshTargets', intervalMs });
    // Iterative whatever the node's query mode: a refresh is for talking to the peers around each
    // target, which is what puts them in the routing table; a forwarded lookup would not.
    for (const target of targets) await this.lookup(target, { mode: 'iterative' }).catch(() => {});
    return targets.length;
  }

  /**
   * Stop the main loop first (no more connections, sessions closed), then the services behind
   * it, so nothing is still sending to a service that has stopped.
   */
  async stop(): Promise<void> {
    if (this.#refreshTimer !== undefined) clearInterval(this.#refreshTimer);
    if (this.#republishTimer !== undefined) clearInterval(this.#republishTimer);
    if (this.#recordRefreshTimer !== undefined) clearInterval(this.#recordRefreshTimer);
    this.#listens.stop();
    try {
      if (this.system.has('main-loop')) await this.system.get('main-loop').stop();
      await this.system.stop();
    } finally {
      await this.#published.close();
    }
  }

  /** Connect and authenticate; resolves with the peer's id. */
  dial(address: string, peer?: string): Promise<string> {
    return this.#service('main-loop').call({ type: 'dial', address, ...(peer === undefined ? {} : { peer }) }, { timeout: 15_000 });
  }

  /** A command for this node's global service, or with `service` for one of its application services. */
  local(command: { type: string }, options: { service?: string } = {}): Promise<unknown> {
    if (options.service === undefined) return this.#service('global').call({ type: 'local', command });
    return this.system.get<NodeProtocols['global']>(options.service).call({ type: 'local', command });
  }

  /** Ask peers (and this node, with `local`), collecting `expect` replies or what arrived by the deadline. */
  query(options: {
    peers: string[];
    command: { type: string };
    /** An application service by name; the global service without. */
    service?: string;
    local?: boolean;
    expect: number;
    timeoutMs?: number;
    signal?: AbortSignal;
  }): Promise<QueryResult> {
    const tag = `q-${Math.random().toString(36).slice(2)}`;
    const request: QueryRequest = { type: 'global', command: options.command, ...(options.service === undefined ? {} : { service: options.service }) };
    const api = this.#service('api');
    const onAbort = (): void => void api.call({ type: 'cancel', tag }).catch(() => {});
    options.signal?.addEventListener('abort', onAbort, { once: true });
    return api
      .call(
        {
          type: 'query',
          peers: options.peers,
          request,
          expect: options.expect,
          tag,
          ...(options.local === undefined ? {} : { local: options.local }),
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        },
        { timeout: (options.timeoutMs ?? 10_000) + 5_000 },
      )
      .finally(() => options.signal?.removeEventListener('abort', onAbort));
  }

  /**
   * The peers closest to `target`: by an iterative lookup, only peers that answered; by a
   * forwarded one, those that answered and the contacts they named.
   */
  lookup(target: Uint8Array, options: QueryOptions = {}): Promise<LookupReply> {
    return this.#dht.lookup(target, options);
  }

  /**
   * A lookup as it goes: an event as each peer is asked, answers, fails or holds a value (when
   * `want` is `value`), and last a `done` event with the result. Breaking out of the loop
   * cancels the lookup.
   */
  lookupEvents(target: Uint8Array, options: QueryOptions & { want?: 'value' | 'nodes' } = {}): AsyncIterable<QueryEvent | { type: 'done'; result: LookupReply }> {
    return this.#dht.lookupEvents(target, options);
  }

  #dispatch(event: NodeEvent): void {
    if (event.type === 'query') this.#watchers.get(event.tag)?.(event.event);
    else if (event.type === 'peer:connect') this.emit('peer:connect', { peer: event.peer, address: event.address });
    else if (event.type === 'peer:disconnect') this.emit('peer:disconnect', { peer: event.peer });
    else if (event.type === 'listen') this.#listens.deliver(event);
    else this.emit('peer:discovery', { peer: event.peer, addresses: event.addresses });
  }

  /**
   * Every new record under `key`, as the nodes responsible for it accept it: registers at the k
   * closest (and here), renews every `listenRefreshMs` with the closest of the moment, and
   * yields each record once (the highest seq so far for mutable records), in order. This
   * subscriber has its own queue of `queueLength` (default 256): when it falls that far behind,
   * its oldest entries go and it gets `{ type: 'lagged', lost }` first; other subscribers are not
   * held up. `ready` resolves once registered; the subscription ends when `signal` aborts, the
   * loop is left, or `close()` is called.
   */
  listen(key: Uint8Array, options: { signal?: AbortSignal; queueLength?: number } = {}): ListenSubscription {
    return this.#listens.subscribe(key, options);
  }

  /** The records of the k peers closest to `target`, by lookup (kad-dht's getClosestPeers). */
  async closestPeers(target: Uint8Array, options: QueryOptions = {}): Promise<PeerRecord[]> {
    return (await this.#dht.lookup(target, options)).closest;
  }

  /**
   * Store a record on the k nodes closest to its key (this one included, if it is among them).
   * Resolves with how many stored it; fails with ERR_PUT_FAILED if none did.
   */
  put(record: DhtRecord, options: QueryOptions = {}): Promise<{ stored: number; hops: number }> {
    return this.#dht.put(record, options);
  }

  /** The best valid record under `key` among the nodes a lookup reaches (and this one), or null. */
  get(key: Uint8Array, options: QueryOptions = {}): Promise<DhtRecord | null> {
    return this.#dht.get(key, options);
  }

  /** Ban a peer for `ms`: its session is closed, and closed again if it comes back before then. */
  ban(peer: string, ms: number): Promise<void> {
    return this.#service('peer-store').call({ type: 'ban', peer, ms });
  }

  /** A peer's record by id (hex), from what this node knows or asked of its peers. */
  findPeer(id: string, timeoutMs?: number): Promise<PeerRecord | null> {
    return this.#service('peer-store').call({ type: 'findPeer', id, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  }

  peers(): Promise<ConnectedPeer[]> {
    return this.#service('main-loop').call({ type: 'peers' });
  }

  knownPeers(): Promise<KnownPeer[]> {
    return this.#service('peer-store').call({ type: 'list' });
  }

  connectionStatus(): Promise<MainLoopStatus> {
    return this.#service('main-loop').call({ type: 'status' });
  }

  services(): ServiceStatus[] {
    return this.system.status();
  }

  /** Contacts in the routing table. */
  routingTableSize(): Promise<number> {
    return this.#service('peer-store').call({ type: 'routingTableSize' });
  }

  /**
   * Everything `mydht status` shows: id, addresses, routing table, connections, each service with
   * its spawner, queue and restarts, and the store (null when the global service is not the
   * key-value store).
   */
  async status(): Promise<NodeStatus> {
    const [routingTable, connections, store] = await Promise.all([
      this.routingTableSize(),
      this.connectionStatus(),
      this.local({ type: 'stats' }).then(
        (stats) => stats as NodeStatus['store'],
        () => null,
      ),
    ]);
    return {
      id: this.id,
      addresses: [...this.#addresses],
      uptimeMs: this.#startedAt === 0 ? 0 : Date.now() - this.#startedAt,
      routingTable,
      connections,
      services: this.services(),
      store,
      published: { ...this.#dht.published, maxBytes: this.#republishMaxBytes },
    };
  }

  #service<N extends NodeServiceName>(name: N): ServiceHandle<NodeProtocols[N]> {
    return this.system.get<NodeProtocols[N]>(name);
  }
}
