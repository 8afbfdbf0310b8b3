import { AbortedError, ConfigError, MyDhtError } from '../runtime/errors.ts';
import { silentLogger, type Logger } from '../runtime/logger.ts';
import type { ServiceModule } from '../runtime/service.ts';
import type { ServiceHandle, ServiceStatus, SpawnerKind } from '../runtime/spawner.ts';
import { ServiceSystem } from '../runtime/system.ts';
import type { Transport } from '../net/transport.ts';
import { NodeIdentity } from './identity.ts';
import { PeerRecord } from './peer-record.ts';
import type { ConnectedPeer, FindReply, KnownPeer, LookupReply, MainLoopStatus, NodeProtocols, QueryRequest, QueryResult } from './protocols.ts';
import { DEFAULT_RECORD_LIMITS, validateRecord, type DhtRecord, type RecordLimits } from '../dht/records.ts';
import { DEFAULT_K } from '../dht/routing-table.ts';
import { compareDistance } from '../dht/xor.ts';
import { parseQueryMode, proxyHopsOf, type QueryMode } from '../dht/seek.ts';
import { DEFAULT_HOP_LIMIT } from '../dht/lookup.ts';

export type NodeServiceName = keyof NodeProtocols;

/** kad-dht refreshes its buckets every 10 minutes. */
const DEFAULT_REFRESH_INTERVAL_MS = 10 * 60_000;
/** Kademlia's paper republishes hourly; records live 24 h, so a day without the originator loses nothing. */
const DEFAULT_REPUBLISH_INTERVAL_MS = 60 * 60_000;
/** Records a node remembers for republishing at most; the oldest put goes first. */
const MAX_PUBLISHED = 100_000;

/** How a lookup, get or put queries the network. Every option has a default. */
export interface QueryOptions {
  /** iterative, proxy, async, mixed or mixed:N (default: the node's queryMode). */
  mode?: QueryMode | string;
  /**
   * Iterative: each step's deadline (connect, then ask), ms, default 5 s. Forwarded modes: the
   * whole query's deadline, ms, default 10 s.
   */
  timeoutMs?: number;
  /** Iterative: requests in flight (Kademlia's alpha). Forwarded: peers each hop forwards to. Default 3. */
  alpha?: number;
  /** Hops a query may go at most (default 20; forwarded queries at most 32). */
  hopLimit?: number;
  signal?: AbortSignal;
}

export const NODE_SERVICES: readonly NodeServiceName[] = ['main-loop', 'read', 'write', 'peer-store', 'api', 'global'];

/** The node's options that pass straight to its services. Every one has a default. */
export interface NodeTuning {
  /** The application's global service config. */
  globalConfig?: unknown;
  /** Largest frame body, bytes (default 1 MiB). */
  maxFrame?: number;
  /** Liveness ping interval, ms (default 5 s). */
  livenessIntervalMs?: number;
  /** A peer silent this long is offline, ms (default 15 s). */
  livenessTimeoutMs?: number;
  /** A connection has this long to authenticate, ms (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Pinned keys, peer id (hex) to raw Ed25519 public key: such a peer answering with another key is refused. */
  pinned?: Record<string, Uint8Array>;
  /** Connected peers the peer store keeps, dialing known ones below it (default 8). */
  targetPeers?: number;
  /** Kademlia's k: replicas of each record, contacts per bucket, peers per answer (default 20). */
  replication?: number;
  /** Every bucket not refreshed for this long is looked up again, ms (default 10 min, as kad-dht). */
  refreshIntervalMs?: number;
  /** Records this node put are put again this often, so they outlive their holders, ms (default 1 h). */
  republishIntervalMs?: number;
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
}

/**
 * One mydht node: its services under the spawners its configuration picks, its identity, and
 * the operations a user calls. Build one with `createNode` (src/assemble.ts).
 */
export class MyDhtNode {
  readonly identity: NodeIdentity;
  readonly system: ServiceSystem;
  readonly #parts: NodeParts;
  #record: PeerRecord;
  #addresses: string[] = [];
  #started = false;
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #republishTimer: ReturnType<typeof setInterval> | undefined;
  /** The records this node put, by key: the originator republishes them. */
  readonly #published = new Map<string, DhtRecord>();

  constructor(parts: NodeParts) {
    if (parts.spawners['main-loop'] !== 'same-loop') {
      throw new ConfigError('spawners.main-loop must be "same-loop": the main loop owns the sockets, which cannot move to a worker');
    }
    this.identity = parts.identity;
    this.system = parts.system;
    this.#parts = parts;
    this.#record = PeerRecord.create(parts.identity, [], 0);
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
    const parts = this.#parts;
    const log = parts.log ?? silentLogger;
    const spec = (name: NodeServiceName, config: unknown) => ({
      name,
      module: parts.modules[name],
      spawner: parts.spawners[name],
      config,
    });
    const wire = parts.maxFrame === undefined ? {} : { maxFrame: parts.maxFrame };
    await this.system.start([
      spec('main-loop', {
        identity: parts.identity,
        record: () => this.#record,
        transports: parts.transports,
        ...(parts.handshakeTimeoutMs === undefined ? {} : { handshakeTimeoutMs: parts.handshakeTimeoutMs }),
        ...(parts.pinned === undefined ? {} : { pinnedKey: (peer: string) => parts.pinned![peer] }),
        onListening: (addresses: string[]) => {
          this.#addresses = [...this.#addresses, ...addresses];
          this.#record = PeerRecord.create(parts.identity, this.#addresses, this.#record.seq + 1);
        },
      }),
      spec('read', wire),
      spec('write', wire),
      spec('peer-store', {
        self: this.id,
        ...(parts.livenessIntervalMs === undefined ? {} : { livenessIntervalMs: parts.livenessIntervalMs }),
        ...(parts.livenessTimeoutMs === undefined ? {} : { livenessTimeoutMs: parts.livenessTimeoutMs }),
        ...(parts.targetPeers === undefined ? {} : { targetPeers: parts.targetPeers }),
        ...(parts.replication === undefined ? {} : { k: parts.replication }),
      }),
      spec('api', {
        self: this.id,
        ...(parts.replication === undefined ? {} : { k: parts.replication }),
        ...(parts.maxValueBytes === undefined ? {} : { maxValueBytes: parts.maxValueBytes }),
      }),
      spec('global', parts.globalConfig ?? null),
    ]);
    for (const address of parts.listen) await this.#service('main-loop').call({ type: 'listen', address });
    log.info({ id: this.id, addresses: this.#addresses }, 'node started');
    await Promise.all(parts.bootstrap.map((address) => this.dial(address).catch((err: unknown) => log.warn({ address, err }, 'bootstrap dial failed'))));
    const interval = parts.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
    this.#refreshTimer = setInterval(() => void this.refresh(interval).catch(() => {}), interval);
    this.#refreshTimer.unref();
    this.#republishTimer = setInterval(() => void this.republish().catch(() => {}), parts.republishIntervalMs ?? DEFAULT_REPUBLISH_INTERVAL_MS);
    this.#republishTimer.unref();
  }

  /**
   * Put again every record this node put (the newest version of each), on whichever nodes are
   * closest now: holders may have left, and closer nodes may have joined. Returns how many
   * records are stored somewhere afterwards.
   */
  async republish(): Promise<number> {
    let stored = 0;
    for (const record of [...this.#published.values()]) {
      try {
        await this.put(record, { republishing: true });
        stored++;
      } catch {
        // Nobody could take it now; the next round tries again.
      }
    }
    return stored;
  }

  /**
   * Kademlia's bucket refresh: look up a random id in every non-empty bucket not refreshed for
   * `intervalMs` (all of them with 0), which learns and keeps the peers around each. Returns the
   * number of lookups made.
   */
  async refresh(intervalMs = 0): Promise<number> {
    const targets = await this.#service('peer-store').call({ type: 'refreshTargets', intervalMs });
    for (const target of targets) await this.lookup(target).catch(() => {});
    return targets.length;
  }

  /**
   * Stop the main loop first (no more connections, sessions closed), then the services behind
   * it, so nothing is still sending to a service that has stopped.
   */
  async stop(): Promise<void> {
    if (this.#refreshTimer !== undefined) clearInterval(this.#refreshTimer);
    if (this.#republishTimer !== undefined) clearInterval(this.#republishTimer);
    if (this.system.has('main-loop')) await this.system.get('main-loop').stop();
    await this.system.stop();
  }

  /** Connect and authenticate; resolves with the peer's id. */
  dial(address: string, peer?: string): Promise<string> {
    return this.#service('main-loop').call({ type: 'dial', address, ...(peer === undefined ? {} : { peer }) }, { timeout: 15_000 });
  }

  /** A command for this node's global service. */
  local(command: { type: string }): Promise<unknown> {
    return this.#service('global').call({ type: 'local', command });
  }

  /** Ask peers (and this node, with `local`), collecting `expect` replies or what arrived by the deadline. */
  query(options: {
    peers: string[];
    command: { type: string };
    local?: boolean;
    expect: number;
    timeoutMs?: number;
    signal?: AbortSignal;
  }): Promise<QueryResult> {
    const tag = `q-${Math.random().toString(36).slice(2)}`;
    const request: QueryRequest = { type: 'global', command: options.command };
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
  async lookup(target: Uint8Array, options: QueryOptions = {}): Promise<LookupReply> {
    const mode = this.#mode(options);
    const api = this.#service('api');
    return this.#cancellable(options.signal, async (tag) => {
      if (mode.kind === 'iterative') {
        return api.call(
          {
            type: 'lookup',
            target,
            count: this.#k,
            tag,
            ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
            ...(options.alpha === undefined ? {} : { alpha: options.alpha }),
            ...(options.hopLimit === undefined ? {} : { hopLimit: options.hopLimit }),
          },
          { timeout: (options.timeoutMs ?? 5_000) * 8 },
        );
      }
      const found = await this.#find(target, 'nodes', mode, options, tag);
      return { closest: found.closest, hops: found.hops, queried: found.answers, failed: 0 };
    });
  }

  /** A forwarded query from this node: its answers, found values unchecked. */
  #find(target: Uint8Array, want: 'value' | 'nodes', mode: Exclude<QueryMode, { kind: 'iterative' }>, options: QueryOptions, tag: string): Promise<FindReply> {
    const hopLimit = options.hopLimit ?? DEFAULT_HOP_LIMIT;
    const timeoutMs = options.timeoutMs ?? 10_000;
    return this.#service('api').call(
      {
        type: 'find',
        target,
        want,
        origin: this.#record,
        proxyHops: proxyHopsOf(mode, hopLimit),
        hopLimit,
        timeoutMs,
        tag,
        ...(options.alpha === undefined ? {} : { fanout: options.alpha }),
      },
      { timeout: timeoutMs + 5_000 },
    );
  }

  /** Run `work` under a tag that `signal` cancels; an aborted call fails with ERR_ABORTED. */
  async #cancellable<T>(signal: AbortSignal | undefined, work: (tag: string) => Promise<T>): Promise<T> {
    const aborted = (): boolean => signal?.aborted === true;
    if (aborted()) throw new AbortedError(signal?.reason);
    const tag = `q-${Math.random().toString(36).slice(2)}`;
    const onAbort = (): void => void this.#service('api').call({ type: 'cancel', tag }).catch(() => {});
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await work(tag);
      if (aborted()) throw new AbortedError(signal?.reason);
      return result;
    } catch (err) {
      if (aborted()) throw new AbortedError(signal?.reason);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #mode(options: QueryOptions): QueryMode {
    const mode = options.mode ?? this.#parts.queryMode ?? 'iterative';
    return typeof mode === 'string' ? parseQueryMode(mode) : mode;
  }

  /** The records of the k peers closest to `target`, by lookup (kad-dht's getClosestPeers). */
  async closestPeers(target: Uint8Array, options: QueryOptions = {}): Promise<PeerRecord[]> {
    return (await this.lookup(target, options)).closest;
  }

  /**
   * Store a record on the k nodes closest to its key (this one included, if it is among them).
   * Resolves with how many stored it; fails with ERR_PUT_FAILED if none did.
   */
  async put(record: DhtRecord, options: QueryOptions & { republishing?: boolean } = {}): Promise<{ stored: number; hops: number }> {
    const { closest, hops } = await this.lookup(record.key, options);
    const self = this.#amongClosest(record.key, closest);
    const holders = closest.slice(0, self ? this.#k - 1 : this.#k);
    if (this.#mode(options).kind !== 'iterative') {
      // A forwarded lookup names peers this node may have no session with yet.
      const mainLoop = this.#service('main-loop');
      await Promise.allSettled(
        holders.map((peer) => mainLoop.call({ type: 'connect', peer: peer.idHex, address: peer.addresses[0] ?? '' }, { timeout: options.timeoutMs ?? 5_000 })),
      );
    }
    const peers = holders.map((peer) => peer.idHex);
    const { results } = await this.#cancellable(options.signal, (tag) =>
      this.#service('api').call({
        type: 'query',
        peers,
        request: { type: 'global', command: { type: 'put', record } as { type: string } },
        local: self,
        expect: peers.length + (self ? 1 : 0),
        timeoutMs: options.timeoutMs ?? 5_000,
        tag,
      }),
    );
    const stored = results.filter((result) => result.ok).length;
    if (stored === 0) {
      const reasons = [...new Set(results.map((result) => result.code ?? 'ERR_TIMEOUT'))].join(', ');
      throw new MyDhtError('ERR_PUT_FAILED', `no node stored the record (${reasons || 'no node to store it on'})`);
    }
    if (options.republishing !== true) this.#remember(record);
    return { stored, hops };
  }

  /** The best valid record under `key` among the k closest nodes (and this one), or null. */
  async get(key: Uint8Array, options: QueryOptions = {}): Promise<DhtRecord | null> {
    const own = await this.#service('global').call({ type: 'local', command: { type: 'get', key } as { type: string } });
    const mode = this.#mode(options);
    const candidates: unknown[] = [own];
    if (mode.kind === 'iterative') {
      const { closest } = await this.lookup(key, options);
      const { results } = await this.#cancellable(options.signal, (tag) =>
        this.#service('api').call({
          type: 'query',
          peers: closest.map((peer) => peer.idHex),
          request: { type: 'global', command: { type: 'get', key } as { type: string } },
          expect: closest.length,
          timeoutMs: options.timeoutMs ?? 5_000,
          tag,
        }),
      );
      for (const result of results) if (result.ok) candidates.push(result.value);
    } else if (own === null || own === undefined || (own as DhtRecord).kind === 'mutable') {
      candidates.push(...(await this.#cancellable(options.signal, (tag) => this.#find(key, 'value', mode, options, tag))).values);
    }
    return bestRecord(key, candidates, { ...DEFAULT_RECORD_LIMITS, maxValueBytes: this.#parts.maxValueBytes ?? DEFAULT_RECORD_LIMITS.maxValueBytes });
  }

  /** Keep the newest version of each record this node put, for republishing; bounded. */
  #remember(record: DhtRecord): void {
    const key = Buffer.from(record.key).toString('hex');
    const held = this.#published.get(key);
    if (held?.kind === 'mutable' && record.kind === 'mutable' && held.seq > record.seq) return;
    this.#published.delete(key);
    if (this.#published.size >= MAX_PUBLISHED) this.#published.delete(this.#published.keys().next().value!);
    this.#published.set(key, record);
  }

  get #k(): number {
    return this.#parts.replication ?? DEFAULT_K;
  }

  #amongClosest(key: Uint8Array, closest: readonly PeerRecord[]): boolean {
    if (closest.length < this.#k) return true;
    return compareDistance(key, this.identity.id, closest[closest.length - 1]!.id) < 0;
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

  #service<N extends NodeServiceName>(name: N): ServiceHandle<NodeProtocols[N]> {
    return this.system.get<NodeProtocols[N]>(name);
  }
}

/**
 * The best valid record under `key` among answers: the highest seq of a mutable record, else the
 * first valid one. Each is checked here too: an answer is only as good as its signature and key.
 */
function bestRecord(key: Uint8Array, candidates: readonly unknown[], limits: RecordLimits): DhtRecord | null {
  let best: DhtRecord | null = null;
  for (const candidate of candidates) {
    if (candidate === null || candidate === undefined) continue;
    let record: DhtRecord;
    try {
      record = validateRecord(candidate, limits);
    } catch {
      continue;
    }
    if (Buffer.compare(record.key, key) !== 0) continue;
    if (best === null || (record.kind === 'mutable' && best.kind === 'mutable' && record.seq > best.seq)) best = record;
  }
  return best;
}
