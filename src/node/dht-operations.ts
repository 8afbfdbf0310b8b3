import { AbortedError, MyDhtError } from '../runtime/errors.ts';
import type { ServiceHandle } from '../runtime/spawner.ts';
import type { PeerRecord } from './peer-record.ts';
import type { FindReply, LookupReply, NodeProtocols, QueryEvent } from './protocols.ts';
import { validateRecord, type DhtRecord, type NamespaceValidator, type RecordLimits } from '../dht/records.ts';
import { loadValidators } from '../dht/namespace-validators.ts';
import { DEFAULT_HOP_LIMIT } from '../dht/lookup.ts';
import { parseQueryMode, proxyHopsOf, type QueryMode } from '../dht/seek.ts';
import { compareDistance } from '../dht/xor.ts';
import type { PublishedRecords } from '../dht/published.ts';

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
  /** Iterative: disjoint paths (S/Kademlia); default the node's disjointPaths. */
  paths?: number;
  /** Peers a lookup wants (default k, the replication factor). */
  count?: number;
  signal?: AbortSignal;
}

/** A finished lookup, as metrics see it. */
export interface LookupObservation {
  mode: string;
  want: 'value' | 'nodes';
  ok: boolean;
  ms: number;
  hops: number;
}

/** Records a holder refresh takes from the store at a time. */
const DUE_PAGE = 500;
/** A forwarded query's deadline when the call names none, ms. */
const DEFAULT_FIND_TIMEOUT_MS = 10_000;
/** Each step of an iterative lookup, and each store of a put, must answer within this long, ms. */
const DEFAULT_STEP_TIMEOUT_MS = 5_000;

export interface DhtOperationsParts {
  service: <N extends keyof NodeProtocols>(name: N) => ServiceHandle<NodeProtocols[N]>;
  /** This node's current record: forwarded queries name it for the hops that answer directly. */
  record: () => PeerRecord;
  self: Uint8Array;
  k: number;
  /** What a record taken from a get must fit in. */
  limits: RecordLimits;
  queryMode: QueryMode | string;
  /** Disjoint paths of an iterative lookup that names none. */
  disjointPaths: number;
  /** The module of plain-record namespace validators, applied to what a get returns. */
  validators: string | undefined;
  /** The records this node put, which it republishes (in memory, or kept in the data dir). */
  published: () => PublishedRecords;
  /** Told of every lookup this node finishes (for metrics). */
  observe: (lookup: LookupObservation) => void;
  /** Hear the events of the query with this tag, until the returned function is called. */
  watch: (tag: string, listener: (event: QueryEvent) => void) => () => void;
}

/** Events a lookupEvents consumer has not taken yet, at most; past it the oldest go (a lookup makes a few per peer). */
const MAX_UNREAD_EVENTS = 10_000;

/**
 * The node's DHT operations, over its services: lookups, gets and puts in each query mode,
 * cancellation by AbortSignal, and the originator's memory of what it put, for republishing.
 */
export class DhtOperations {
  readonly #parts: DhtOperationsParts;

  constructor(parts: DhtOperationsParts) {
    this.#parts = parts;
    this.#mode({}); // a bad configured mode fails here, at construction, not at the first query
  }

  /**
   * The peers closest to `target`: by an iterative lookup, only peers that answered; by a
   * forwarded one, those that answered and the contacts they named.
   */
  lookup(target: Uint8Array, options: QueryOptions = {}): Promise<LookupReply> {
    return this.#lookup(target, 'nodes', options);
  }

  /** A lookup's events as they come, then `done` with its result; leaving the loop early cancels it. */
  async *lookupEvents(
    target: Uint8Array,
    options: QueryOptions & { want?: 'value' | 'nodes' } = {},
  ): AsyncGenerator<QueryEvent | { type: 'done'; result: LookupReply }> {
    const unread: QueryEvent[] = [];
    let wake: (() => void) | undefined;
    let result: LookupReply | undefined;
    let failure: unknown;
    let finished = false;
    const abort = new AbortController();
    const signal = options.signal === undefined ? abort.signal : AbortSignal.any([abort.signal, options.signal]);
    const lookup = this.#lookup(target, options.want ?? 'nodes', { ...options, signal }, (tag) =>
      this.#parts.watch(tag, (event) => {
        if (unread.length >= MAX_UNREAD_EVENTS) unread.shift();
        unread.push(event);
        wake?.();
      }),
    ).then(
      (reply) => void (result = reply),
      (err: unknown) => void (failure = err),
    ).finally(() => {
      finished = true;
      wake?.();
    });
    try {
      for (;;) {
        while (unread.length > 0) yield unread.shift()!;
        if (finished) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      await lookup;
      if (result === undefined) throw failure;
      yield { type: 'done', result };
    } finally {
      if (!finished) abort.abort(new MyDhtError('ERR_ABORTED', 'the lookup was left before it finished'));
    }
  }

  /**
   * Store a record on the k nodes closest to its key (this one included, if it is among them).
   * Resolves with how many stored it, once this node also remembers it for republishing (on
   * disk, with a data dir); fails with ERR_PUT_FAILED if none did.
   */
  async put(record: DhtRecord, options: QueryOptions & { republishing?: boolean } = {}): Promise<{ stored: number; hops: number }> {
    const { k } = this.#parts;
    const { closest, hops } = await this.lookup(record.key, options);
    const self = this.#amongClosest(record.key, closest);
    const holders = closest.slice(0, self ? k - 1 : k);
    if (this.#mode(options).kind !== 'iterative') {
      // A forwarded lookup names peers this node may have no session with yet.
      const mainLoop = this.#parts.service('main-loop');
      await Promise.allSettled(
        holders.map((peer) =>
          mainLoop.call({ type: 'connect', peer: peer.idHex, addresses: peer.addresses }, { timeout: options.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS }),
        ),
      );
    }
    const peers = holders.map((peer) => peer.idHex);
    const { results } = await this.#cancellable(options.signal, (tag) =>
      this.#parts.service('api').call({
        type: 'query',
        peers,
        request: { type: 'global', command: { type: 'put', record } as { type: string } },
        local: self,
        expect: peers.length + (self ? 1 : 0),
        timeoutMs: options.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
        tag,
      }),
    );
    const stored = results.filter((result) => result.ok).length;
    if (stored === 0) {
      const reasons = [...new Set(results.map((result) => result.code ?? 'ERR_TIMEOUT'))].join(', ');
      throw new MyDhtError('ERR_PUT_FAILED', `no node stored the record (${reasons || 'no node to store it on'})`);
    }
    if (options.republishing !== true) await this.#parts.published().remember(record);
    return { stored, hops };
  }

  /**
   * The best valid record under `key` among the nodes a lookup reaches (and this one), or null.
   * Always asks the network, even with a copy here: that copy is one candidate, and a newer
   * version may be out there (`local({ type: 'get', key })` reads this node's store alone). The
   * lookup ends at the first valid immutable record.
   */
  async get(key: Uint8Array, options: QueryOptions = {}): Promise<DhtRecord | null> {
    const own = await this.#parts.service('global').call({ type: 'local', command: { type: 'get', key } as { type: string } });
    const { values = [] } = await this.#lookup(key, 'value', options);
    return bestRecord(key, [own, ...values], this.#parts.limits, await loadValidators(this.#parts.validators));
  }

  /** Put again every record this node put, on whichever nodes are closest now; returns how many are stored somewhere. */
  async republish(): Promise<number> {
    let stored = 0;
    for await (const record of this.#parts.published().records()) {
      try {
        await this.put(record, { republishing: true });
        stored++;
      } catch {
        // Nobody could take it now; the next round tries again.
      }
    }
    return stored;
  }

  /** A lookup under a fresh tag; `watch`, if given, subscribes to its events under that tag first. */
  /**
   * Kademlia's republish by holders: every record held here that nobody stored again for
   * `olderThanMs` is put again on the nodes closest to it now, which restarts its life there and
   * here, so replicas outlive the nodes that held them. Returns how many were put. A global
   * service without the `due` command (an application's own) holds no DHT records: 0.
   */
  async refreshHeld(olderThanMs: number): Promise<number> {
    const global = this.#parts.service('global');
    let after: Uint8Array | undefined;
    let refreshed = 0;
    for (;;) {
      let page: DhtRecord[];
      try {
        const command = { type: 'due', olderThanMs, limit: DUE_PAGE, ...(after === undefined ? {} : { after }) };
        page = (await global.call({ type: 'local', command })) as DhtRecord[];
      } catch (err) {
        if ((err as { code?: unknown }).code === 'ERR_UNKNOWN_COMMAND') return refreshed;
        throw err;
      }
      for (const record of page) {
        await this.put(record, { republishing: true }).then(
          () => refreshed++,
          () => {}, // nobody could take it now; the next round tries again
        );
      }
      if (page.length < DUE_PAGE) return refreshed;
      after = page.at(-1)!.key;
    }
  }

  #lookup(target: Uint8Array, want: 'value' | 'nodes', options: QueryOptions, watch?: (tag: string) => () => void): Promise<LookupReply> {
    const mode = this.#mode(options);
    const began = performance.now();
    const observe = (ok: boolean, hops: number): void =>
      this.#parts.observe({ mode: mode.kind, want, ok, ms: performance.now() - began, hops });
    return this.#cancellable(options.signal, async (tag) => {
      const unwatch = watch?.(tag);
      try {
        const reply = await this.#lookupTagged(target, want, mode, options, tag, unwatch !== undefined);
        observe(true, reply.hops);
        return reply;
      } catch (err) {
        observe(false, 0);
        throw err;
      } finally {
        unwatch?.();
      }
    });
  }

  async #lookupTagged(target: Uint8Array, want: 'value' | 'nodes', mode: QueryMode, options: QueryOptions, tag: string, progress: boolean): Promise<LookupReply> {
    if (mode.kind === 'iterative') {
      const paths = options.paths ?? this.#parts.disjointPaths;
      return this.#parts.service('api').call(
        {
          type: 'lookup',
          target,
          want,
          origin: this.#parts.record(),
          count: options.count ?? this.#parts.k,
          tag,
          progress,
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
          ...(options.alpha === undefined ? {} : { alpha: options.alpha }),
          ...(options.hopLimit === undefined ? {} : { hopLimit: options.hopLimit }),
          ...(paths === undefined ? {} : { paths }),
        },
        { timeout: (options.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS) * 8 },
      );
    }
    const found = await this.#find(target, want, mode, options, tag, progress);
    return { closest: found.closest, hops: found.hops, queried: found.answers, failed: 0, values: found.values };
  }

  /** A forwarded query from this node: its answers, found values unchecked. */
  #find(target: Uint8Array, want: 'value' | 'nodes', mode: Exclude<QueryMode, { kind: 'iterative' }>, options: QueryOptions, tag: string, progress: boolean): Promise<FindReply> {
    const hopLimit = options.hopLimit ?? DEFAULT_HOP_LIMIT;
    const timeoutMs = options.timeoutMs ?? DEFAULT_FIND_TIMEOUT_MS;
    return this.#parts.service('api').call(
      {
        type: 'find',
        target,
        want,
        origin: this.#parts.record(),
        proxyHops: proxyHopsOf(mode, hopLimit),
        hopLimit,
        timeoutMs,
        tag,
        progress,
        ...(options.count === undefined ? {} : { count: options.count }),
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
    const onAbort = (): void => void this.#parts.service('api').call({ type: 'cancel', tag }).catch(() => {});
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
    const mode = options.mode ?? this.#parts.queryMode;
    return typeof mode === 'string' ? parseQueryMode(mode) : mode;
  }

  /** The records this node keeps for republishing, the bytes of their values, the failed writes. */
  get published(): { records: number; bytes: number; unsaved: number } {
    return this.#parts.published().stats;
  }

  #amongClosest(key: Uint8Array, closest: readonly PeerRecord[]): boolean {
    if (closest.length < this.#parts.k) return true;
    return compareDistance(key, this.#parts.self, closest[closest.length - 1]!.id) < 0;
  }
}

/**
 * The best valid record under `key` among answers: the highest seq of a mutable record, else the
 * first valid one. Each is checked here too: an answer is only as good as its signature and key.
 */
function bestRecord(key: Uint8Array, candidates: readonly unknown[], limits: RecordLimits, validators: ReadonlyMap<string, NamespaceValidator>): DhtRecord | null {
  let best: DhtRecord | null = null;
  for (const candidate of candidates) {
    if (candidate === null || candidate === undefined) continue;
    let record: DhtRecord;
    try {
      record = validateRecord(candidate, limits, validators);
    } catch {
      continue;
    }
    if (Buffer.compare(record.key, key) !== 0) continue;
    if (best === null || (record.kind === 'mutable' && best.kind === 'mutable' && record.seq > best.seq)) best = record;
  }
  return best;
}
