import { compareDistance } from './xor.ts';

/** A peer as a lookup knows it: its id, and what is needed to reach it. */
export interface LookupPeer {
  id: Uint8Array;
  idHex: string;
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
  /** This node's id: never a result. */
  self?: Uint8Array;
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
  | { type: 'failed'; peer: string; hop: number; error: string };

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

/**
 * An iterative Kademlia lookup: keep α requests in flight to the closest peers not yet asked,
 * learn closer peers from each answer, and stop once the `count` closest known peers have all
 * answered (or failed), or the hop limit is reached. Only peers that answered are results. Each
 * peer is asked at most once (the loop filter), however often it is named.
 */
export async function lookup<P extends LookupPeer>(options: LookupOptions<P>): Promise<LookupResult<P>> {
  const count = options.count ?? 20;
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const hopLimit = options.hopLimit ?? DEFAULT_HOP_LIMIT;
  const target = options.target;
  const selfHex = options.self === undefined ? undefined : Buffer.from(options.self).toString('hex');
  const known = new Map<string, { peer: P; hop: number; state: 'new' | 'asking' | 'answered' | 'failed' }>();
  let hops = 0;
  let queried = 0;
  let failed = 0;

  const learn = (peer: P, hop: number): boolean => {
    if (peer.idHex === selfHex || known.has(peer.idHex)) return false;
    known.set(peer.idHex, { peer, hop, state: 'new' });
    return true;
  };
  for (const seed of options.seeds) learn(seed, 1);

  const byDistance = (): { peer: P; hop: number; state: string }[] =>
    [...known.values()].filter((entry) => entry.state !== 'failed').sort((a, b) => compareDistance(target, a.peer.id, b.peer.id));

  return new Promise((resolve, reject) => {
    let inFlight = 0;
    let finished = false;
    let stopped = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      options.signal?.removeEventListener('abort', onAbort);
      const closest = byDistance()
        .filter((entry) => entry.state === 'answered')
        .slice(0, count)
        .map((entry) => entry.peer);
      resolve({ closest, hops, queried, failed, stopped });
    };
    const onAbort = (): void => {
      if (finished) return;
      finished = true;
      reject(options.signal?.reason ?? new Error('aborted'));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const pump = (): void => {
      if (finished) return;
      if (stopped) {
        finish();
        return;
      }
      const ranked = byDistance().slice(0, count);
      // Done when none of the `count` closest is new or still being asked.
      if (ranked.every((entry) => entry.state === 'answered') && inFlight === 0) {
        finish();
        return;
      }
      for (const entry of ranked) {
        if (inFlight >= alpha) break;
        if (entry.state !== 'new') continue;
        if (entry.hop > hopLimit) {
          entry.state = 'failed';
          continue;
        }
        const current = known.get(entry.peer.idHex)!;
        current.state = 'asking';
        inFlight++;
        queried++;
        options.onEvent?.({ type: 'asked', peer: current.peer.idHex, hop: current.hop });
        options.ask(entry.peer).then(
          (answer) => {
            current.state = 'answered';
            hops = Math.max(hops, current.hop);
            let learned = 0;
            for (const peer of answer.peers) if (learn(peer, current.hop + 1)) learned++;
            options.onEvent?.({ type: 'answered', peer: current.peer.idHex, hop: current.hop, learned });
            if (answer.value !== undefined && answer.value !== null && options.onValue?.(answer.value, current.peer, current.hop) === true) stopped = true;
          },
          (err: unknown) => {
            current.state = 'failed';
            failed++;
            options.onEvent?.({ type: 'failed', peer: current.peer.idHex, hop: current.hop, error: String((err as Error)?.message ?? err) });
          },
        ).finally(() => {
          inFlight--;
          pump();
        });
      }
      if (inFlight === 0) finish();
    };
    pump();
  });
}
