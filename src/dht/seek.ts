import { MyDhtError } from '../runtime/errors.ts';
import { ID_BYTES } from './xor.ts';

/**
 * MyDHT's query modes. `iterative` is Kademlia's: the origin asks every hop itself. The other
 * three forward the query from hop to hop (a "seek"), and differ in who answers whom:
 * - proxy: each hop keeps the query and answers the previous hop, once its own forwards have
 *   answered (the origin only ever talks to its first hops);
 * - async: every hop answers the origin directly, and forwards without waiting;
 * - mixed(n): the first n hops proxy, the hops after them answer the origin.
 * Proxy is `mixed(hop limit)`, async is `mixed(0)`: one mechanism, three settings.
 */
export type QueryMode = { kind: 'iterative' } | { kind: 'proxy' } | { kind: 'async' } | { kind: 'mixed'; proxyHops: number };

export const QUERY_MODE_NAMES = ['iterative', 'proxy', 'async', 'mixed'] as const;
/** mixed without a count proxies this many hops, then goes async. */
export const DEFAULT_MIXED_PROXY_HOPS = 2;
/** Hops a seek may travel at most, whatever it asks for: bounds its history and its fan-out tree. */
export const MAX_SEEK_HOPS = 32;
/** Peers a hop forwards a seek to at most. */
export const MAX_SEEK_FANOUT = 8;
/** A seek's deadline at most, ms: a peer cannot make a hop hold a query longer. */
export const MAX_SEEK_TIMEOUT_MS = 60_000;

/** `iterative`, `proxy`, `async`, `mixed` or `mixed:N`; anything else is ERR_BAD_QUERY_MODE. */
export function parseQueryMode(text: string): QueryMode {
  const [name, count, ...rest] = text.split(':');
  if (rest.length === 0) {
    if (count === undefined && (name === 'iterative' || name === 'proxy' || name === 'async')) return { kind: name };
    if (name === 'mixed') {
      if (count === undefined) return { kind: 'mixed', proxyHops: DEFAULT_MIXED_PROXY_HOPS };
      const proxyHops = Number(count);
      if (/^\d+$/.test(count) && proxyHops <= MAX_SEEK_HOPS) return { kind: 'mixed', proxyHops };
    }
  }
  throw new MyDhtError('ERR_BAD_QUERY_MODE', `query mode ${JSON.stringify(text)}: expected iterative, proxy, async, mixed or mixed:N (N at most ${MAX_SEEK_HOPS})`);
}

export function formatQueryMode(mode: QueryMode): string {
  return mode.kind === 'mixed' ? `mixed:${mode.proxyHops}` : mode.kind;
}

/** How many hops proxy under a mode, for a seek that may travel `hopLimit` hops. */
export function proxyHopsOf(mode: Exclude<QueryMode, { kind: 'iterative' }>, hopLimit: number): number {
  if (mode.kind === 'proxy') return hopLimit;
  if (mode.kind === 'async') return 0;
  return mode.proxyHops;
}

/** A seek as it travels: what is sought, and how far and wide it may still go. */
export interface SeekRequest {
  target: Uint8Array;
  /** `value`: the record under `target` (FIND_VALUE); `nodes`: the peers closest to it (FIND_NODE). */
  want: 'value' | 'nodes';
  /** This hop's depth: 1 for the peers the origin asks. */
  depth: number;
  /** Depth of the last hop allowed: a hop at this depth answers without forwarding. */
  hopLimit: number;
  /** Hops at depths up to this answer the previous hop; deeper ones answer the origin. */
  proxyHops: number;
  /** Peers each hop forwards to. */
  fanout: number;
  /** Ids of the origin and every hop on the way here: never forwarded to (the loop filter). */
  history: Uint8Array[];
  /**
   * Where hops past the proxied ones answer (the origin's PeerRecord: a shared ref, so by index
   * on a session that carried it before), and the origin's query id they answer to.
   */
  origin: unknown;
  originQuery: number;
  /** What is left of the origin's deadline for this hop, ms. */
  timeoutMs: number;
}

/** A hop's answer, merged over its proxied forwards. */
export interface SeekAnswer {
  /** The record found under the target, if `want` is `value` (checked by whoever takes it). */
  value: unknown;
  /**
   * The records of the peers closest to the target that this hop (and its proxied forwards) know,
   * closest first: PeerRecords as sent (shared refs), unchecked as received.
   */
  peers: unknown[];
  /** The deepest hop that answered into this one. */
  hops: number;
  /** Forwards made below this hop whose answers go straight to the origin: the origin waits for them too. */
  branches: number;
}

/**
 * A forward's share of the deadline: each hop keeps an eighth (at least 50 ms) to merge and
 * answer, so a proxied answer reaches the previous hop before that hop gives up on it.
 */
export function forwardTimeout(timeoutMs: number): number {
  return Math.max(0, timeoutMs - Math.max(50, Math.floor(timeoutMs / 8)));
}

/** The request a hop forwards, one level deeper. */
export function deeper(request: SeekRequest, self: Uint8Array): SeekRequest {
  return { ...request, depth: request.depth + 1, history: [...request.history, self], timeoutMs: forwardTimeout(request.timeoutMs) };
}

/** Is a seek from the network well-formed and within bounds? Throws ERR_SEEK_INVALID if not. */
export function checkSeekRequest(input: unknown): SeekRequest {
  const r = input as Partial<SeekRequest> | null;
  const bad = (detail: string): never => {
    throw new MyDhtError('ERR_SEEK_INVALID', `invalid seek: ${detail}`);
  };
  if (typeof r !== 'object' || r === null) return bad('not an object');
  if (!(r.target instanceof Uint8Array) || r.target.length !== ID_BYTES) bad('the target must be 32 bytes');
  if (r.want !== 'value' && r.want !== 'nodes') bad('want must be value or nodes');
  const small = (n: unknown, min: number, max: number): boolean => Number.isSafeInteger(n) && (n as number) >= min && (n as number) <= max;
  if (!small(r.hopLimit, 1, MAX_SEEK_HOPS)) bad(`hopLimit must be 1..${MAX_SEEK_HOPS}`);
  if (!small(r.depth, 1, r.hopLimit as number)) bad('depth must be 1..hopLimit');
  if (!small(r.proxyHops, 0, MAX_SEEK_HOPS)) bad(`proxyHops must be 0..${MAX_SEEK_HOPS}`);
  if (!small(r.fanout, 1, MAX_SEEK_FANOUT)) bad(`fanout must be 1..${MAX_SEEK_FANOUT}`);
  if (!small(r.originQuery, 0, Number.MAX_SAFE_INTEGER)) bad('originQuery must be a non-negative integer');
  if (!small(r.timeoutMs, 0, MAX_SEEK_TIMEOUT_MS)) bad(`timeoutMs must be 0..${MAX_SEEK_TIMEOUT_MS}`);
  // The history holds the origin and one id per hop before this one.
  if (!Array.isArray(r.history) || r.history.length !== r.depth || !r.history.every((id) => id instanceof Uint8Array && id.length === ID_BYTES)) {
    bad('history must hold one 32-byte id per hop before this one');
  }
  // The origin's record is checked by the hop that takes it (PeerRecord.of).
  if (r.origin === undefined || r.origin === null) bad("origin must be the origin's peer record");
  return r as SeekRequest;
}

/** Is an answer from the network well-formed? Returns null if not (the answer is then ignored). */
export function checkSeekAnswer(input: unknown, maxPeers: number): SeekAnswer | null {
  const a = input as Partial<SeekAnswer> | null;
  if (typeof a !== 'object' || a === null || !Array.isArray(a.peers)) return null;
  if (!Number.isSafeInteger(a.hops) || !Number.isSafeInteger(a.branches)) return null;
  // A hop forwards to `fanout` peers at most per level; a branch count past what any honest tree
  // could make is a lie that would keep the origin waiting.
  if ((a.branches as number) < 0 || (a.branches as number) > MAX_SEEK_FANOUT ** 3) return null;
  return { value: a.value ?? null, peers: a.peers.slice(0, maxPeers), hops: a.hops as number, branches: a.branches as number };
}
