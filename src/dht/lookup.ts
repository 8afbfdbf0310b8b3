import { firstPerGroup } from './ip-diversity.ts';
import { compareDistance } from './xor.ts';

/** A peer as a lookup knows it: its id, and what is needed to reach it. */
export interface LookupPeer {
  id: Uint8Array;
  idHex: string;
  /** The network group it is in (its /24), counted against `perGroup`; none is not limited. */
  group?: string | undefined;
}

export interface LookupOptions<P extends LookupPeer> {
  target: Uint8Array;
  /** Where to start: the closest peers this node knows. */
  seeds: readonly P[];
  /**
   * Ask one peer for the peers it knows closest to the target, and for the value under it if
   * the lookup is for one (FIND_VALUE); throws if the peer cannot answer.
   */
  ask: (peer: P) => Promise<LookupAnswer<P>>;
  /** A value a peer answered with, at hop `hop`: return true to end the lookup there (nothing better can come). */
  onValue?: (value: unknown, peer: P, hop: number) => boolean;
  /** Peers wanted (k, 20 by default). */
  count?: number;
  /** Requests in flight at once (alpha, 3 by default). */
  alpha?: number;
  /** Rounds of requests at most. */
  hopLimit?: number;
  signal?: AbortSignal;
  /** Disjoint paths (S/Kademlia), 1 by default: see `lookup`. */
  paths?: number;
  /**
   * Peers of one group at most among a path's `count` closest, and among the results (IP
   * diversity, as the routing table's buckets): a peer past it waits, unasked, until closer ones
   * fail. Not limited by default.
   */
  perGroup?: number;
  /** This node's id: never a result. */
  self?: Uint8Array;
  /**
   * How long a peer may take to answer before the lookup goes on as if it had failed (Kademlia's
   * "nodes that fail to respond quickly are removed from consideration until and unless they do
   * respond"): it frees its place among the requests in flight and among its path's closest, so
   * a silent peer (frozen, cut off, overloaded) costs this long rather than the ask's whole
   * deadline. It still counts if it answers before the lookup ends. The limit grows to 4x the
   * slowest answer so far when that is longer, so a network that is slow everywhere is not
   * taken for silent. Not set: a lookup waits for every answer.
   */
  slowAfterMs?: number;
  /** Told of each answer, for progress reports. */
  onEvent?: (event: LookupEvent) => void;
}

export interface LookupAnswer<P extends LookupPeer> {
  peers: readonly P[];
  /** The value the peer holds under the target, if asked for and held. */
  value?: unknown;
}

export type LookupEvent =
  | { type: 'asked'; peer: string; hop: number }
  | { type: 'answered'; peer: string; hop: number; learned: number }
  | { type: 'failed'; peer: string; hop: number; error: string }
  /** No answer within `slowAfterMs`: the lookup goes on without waiting for it. */
  | { type: 'slow'; peer: string; hop: number };

export interface LookupResult<P extends LookupPeer> {
  /** The closest peers that answered, closest first. */
  closest: P[];
  /** The deepest hop that answered (the seeds are hop 1). */
  hops: number;
  queried: number;
  failed: number;
  /** Whether `onValue` ended the lookup before it converged. */
  stopped: boolean;
}

export const DEFAULT_ALPHA = 3;
export const DEFAULT_HOP_LIMIT = 20;
/** Disjoint paths a lookup may take at most. */
export const MAX_PATHS = 8;
/** How many times the slowest answer so far a peer is given before it counts as slow, if more than `slowAfterMs`. */
const SLOW_FACTOR = 4;

interface Entry<P> {
  peer: P;
  hop: number;
  /** The path that learned the peer first: the only one that may ask it. */
  path: number;
  state: 'new' | 'asking' | 'answered' | 'failed';
  /** Asked, and past the slow limit without an answer: out of consideration unless it answers. */
  slow: boolean;
}

/**
 * An iterative Kademlia lookup: keep α requests in flight to the closest peers not yet asked,
 * learn closer peers from each answer, and stop once the `count` closest known peers have all
 * answered (or failed), or the hop limit is reached. Only peers that answered are results. Each
 * peer is asked at most once (the loop filter), however often it is named.
 *
 * With `paths` above 1 the lookup runs S/Kademlia's disjoint paths: the seeds are dealt out
 * among the paths, closest first, and a peer belongs to the path that learned it first, so no
 * peer is asked by two paths and peers named by one path's answers never enter another's. The
 * paths share α (each keeps ⌈α / paths⌉ requests in flight) and each ends on its own `count`
 * closest. A malicious peer that answers with its accomplices then captures only the path that
 * asked it; the others still converge on the honest peers around the target. The result is the
 * closest that answered on any path.
 *
 * With `perGroup`, no more than that many peers of one network group (a /24) are among a path's
 * candidates or the results: Sybils ground close to the target but run from a few subnets can then
 * take only a few of the places, and the honest peers behind them are still asked and returned.
 */
export async function lookup<P extends LookupPeer>(options: LookupOptions<P>): Promise<LookupResult<P>> {
  const count = options.count ?? 20;
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const hopLimit = options.hopLimit ?? DEFAULT_HOP_LIMIT;
  const target = options.target;
  const selfHex = options.self === undefined ? undefined : Buffer.from(options.self).toString('hex');
  const seeds = [...options.seeds].filter((seed) => seed.idHex !== selfHex).sort((a, b) => compareDistance(target, a.id, b.id));
  // A path without a seed of its own would have nothing to ask.
  const paths = Math.max(1, Math.min(Math.floor(options.paths ?? 1) || 1, MAX_PATHS, seeds.length));
  const known = new Map<string, Entry<P>>();
  const byPath: Entry<P>[][] = Array.from({ length: paths }, () => []);
  const inFlight: number[] = new Array<number>(paths).fill(0);
  // α is shared out among the paths, ⌈α / paths⌉ each (2 and 2 for α = 3 over 2 paths). An exact
  // share (2 and 1) cost a 1,000-node network twice the simulated time: a path with 1 in flight
  // asks its k closest one after another before it ends.
  const alphaPerPath = Math.ceil(alpha / paths);
  let hops = 0;
  let queried = 0;
  let failed = 0;

  const learn = (peer: P, hop: number, path: number): boolean => {
    if (peer.idHex === selfHex || known.has(peer.idHex)) return false;
    const entry: Entry<P> = { peer, hop, path, state: 'new', slow: false };
    known.set(peer.idHex, entry);
    byPath[path]!.push(entry);
    return true;
  };
  seeds.forEach((seed, i) => learn(seed, 1, i % paths));

  const perGroup = options.perGroup ?? Infinity;
  /** The `count` closest of `entries`, closest first, no group past `perGroup`. */
  const closestOf = (entries: Entry<P>[]): Entry<P>[] =>
    firstPerGroup(
      entries.sort((a, b) => compareDistance(target, a.peer.id, b.peer.id)),
      count,
      perGroup,
      (entry) => entry.peer.group,
    );
  /** A path's `count` closest peers that have not failed and are not slow. */
  const ranked = (path: number): Entry<P>[] => {
    const entries = byPath[path]!.filter((entry) => entry.state !== 'failed');
    byPath[path] = entries;
    return closestOf(entries.filter((entry) => !(entry.slow && entry.state === 'asking')));
  };
  /** The slowest answer so far, ms; undefined before the first. */
  let slowestAnswer: number | undefined;
  const slowLimit = (): number | undefined =>
    options.slowAfterMs === undefined ? undefined : Math.max(options.slowAfterMs, SLOW_FACTOR * (slowestAnswer ?? 0));

  return new Promise((resolve, reject) => {
    let finished = false;
    let stopped = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      options.signal?.removeEventListener('abort', onAbort);
      const closest = closestOf([...known.values()].filter((entry) => entry.state === 'answered')).map((entry) => entry.peer);
      resolve({ closest, hops, queried, failed, stopped });
    };
    const onAbort = (): void => {
      if (finished) return;
      finished = true;
      reject(options.signal?.reason ?? new Error('aborted'));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const ask = (entry: Entry<P>): void => {
      entry.state = 'asking';
      inFlight[entry.path]!++;
      queried++;
      options.onEvent?.({ type: 'asked', peer: entry.peer.idHex, hop: entry.hop });
      const askedAt = performance.now();
      const limit = slowLimit();
      // Past its limit the peer no longer holds a place in flight; pump() asks the next one.
      const slowTimer =
        limit === undefined
          ? undefined
          : setTimeout(() => {
              if (finished || entry.state !== 'asking') return;
              entry.slow = true;
              inFlight[entry.path]!--;
              options.onEvent?.({ type: 'slow', peer: entry.peer.idHex, hop: entry.hop });
              pump();
            }, limit);
      options.ask(entry.peer).then(
        (answer) => {
          entry.state = 'answered';
          // An answer after the lookup ended is not part of its result.
          if (finished) return;
          slowestAnswer = Math.max(slowestAnswer ?? 0, performance.now() - askedAt);
          hops = Math.max(hops, entry.hop);
          let learned = 0;
          for (const peer of answer.peers) if (learn(peer, entry.hop + 1, entry.path)) learned++;
          options.onEvent?.({ type: 'answered', peer: entry.peer.idHex, hop: entry.hop, learned });
          if (answer.value !== undefined && answer.value !== null && options.onValue?.(answer.value, entry.peer, entry.hop) === true) stopped = true;
        },
        (err: unknown) => {
          entry.state = 'failed';
          if (finished) return;
          failed++;
          options.onEvent?.({ type: 'failed', peer: entry.peer.idHex, hop: entry.hop, error: String((err as Error)?.message ?? err) });
        },
      ).finally(() => {
        clearTimeout(slowTimer);
        if (!entry.slow) inFlight[entry.path]!--;
        pump();
      });
    };

    const pump = (): void => {
      if (finished) return;
      if (stopped) {
        finish();
        return;
      }
      for (let path = 0; path < paths; path++) {
        // A path is done when none of its `count` closest is new or still being asked.
        for (const entry of ranked(path)) {
          if (inFlight[path]! >= alphaPerPath) break;
          if (entry.state !== 'new') continue;
          if (entry.hop > hopLimit) {
            entry.state = 'failed';
            continue;
          }
          ask(entry);
        }
      }
      if (inFlight.every((n) => n === 0)) finish();
    };
    pump();
  });
}
