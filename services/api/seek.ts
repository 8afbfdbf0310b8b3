import { codeOf, messageOf, MyDhtError } from '../../src/runtime/errors.ts';
import type { Logger } from '../../src/runtime/logger.ts';
import type { SessionMessage } from '../../src/node/messages.ts';
import type { QueryEvent } from '../../src/node/protocols.ts';
import { PeerRecord } from '../../src/node/peer-record.ts';
import { validateRecord, type RecordLimits } from '../../src/dht/records.ts';
import { checkSeekAnswer, checkSeekRequest, deeper, type SeekAnswer, type SeekRequest } from '../../src/dht/seek.ts';
import { firstPerGroup } from '../../src/dht/ip-diversity.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import type { QueryEntry, QueryTable } from './query-table.ts';

/** What a seek needs from the node's other services. */
export interface SeekPorts {
  table: QueryTable;
  self: Uint8Array;
  selfHex: string;
  k: number;
  /** What a record passed on must fit in. */
  limits: RecordLimits;
  /** Open (or reuse) a session with a peer. */
  connect: (record: PeerRecord) => Promise<void>;
  send: (peer: string, message: SessionMessage) => Promise<void>;
  /** The routing table's contacts closest to a target. */
  closest: (target: Uint8Array, count: number) => Promise<PeerRecord[]>;
  /** The record this node holds under a key, or null. */
  localValue: (key: Uint8Array) => Promise<unknown>;
  learn: (records: PeerRecord[]) => void;
  /** The network group (/24) a peer counts against, or undefined when it is not limited. */
  groupOf: (record: PeerRecord) => string | undefined;
  /** Peers of one group at most among a forwarded query's results (Infinity: no limit). */
  perGroup: number;
  log: Logger;
}

/**
 * An answer as it is kept once received: checked, and its peers verified into the records this
 * process already holds for them (`PeerRecord.fromWire` returns the same object for a record seen
 * before). The decoded message is then garbage at once. An asker waits for its answer for
 * hundreds of ms under load, long enough for its state to reach V8's old generation; a decoded
 * answer stored there (20 peers' byte strings, addresses and objects, ~10 KB) was kept alive by
 * it through every scavenge until the next full gc, and was most of what the process promoted.
 */
export interface ReceivedAnswer extends Omit<SeekAnswer, 'peers'> {
  /** The peers the answer named that verify, this node left out, in the answer's order. */
  peers: PeerRecord[];
}

export interface SeekResult {
  /** Every record found under the target, unchecked beyond the first immutable one (the node checks them). */
  values: unknown[];
  /** The peers closest to the target among those that answered and those they named, closest first. */
  closest: PeerRecord[];
  hops: number;
  /** Answers received. */
  answers: number;
  /** Whether every branch answered before the deadline. */
  complete: boolean;
}

/** Seeks this node has seen, by origin and query: a seek that comes back another way is answered empty (request-id de-duplication). */
const SEEN_MAX = 10_000;
/** Outstanding answers an origin waits for at most: a lying hop can only make it wait for its deadline. */
const MAX_OUTSTANDING = 4_096;
/** Seeks this node works on at once as a hop; past it, a seek is refused with ERR_BUSY. */
const MAX_ACTIVE_HOPS = 1_024;

/**
 * MyDHT's forwarded queries: the origin's side (`originate`) and every hop's (`hop`). A hop
 * looks in its own store, forwards to the peers it knows that are closer to the target than
 * itself and not on the seek's path, and answers either the previous hop (proxied, after its
 * proxied forwards answered) or the origin (async). Every answer says how many async branches
 * were started below it, so the origin knows how many answers to wait for.
 */
export class Seeker {
  readonly #ports: SeekPorts;
  readonly #seen = new Set<string>();
  #active = 0;
  /** Seeks worked on as a hop, answered empty as duplicates, and refused. */
  readonly stats = { worked: 0, duplicates: 0, refused: 0 };

  constructor(ports: SeekPorts) {
    this.#ports = ports;
  }

  /** Seeks remembered for de-duplication now. */
  get remembered(): number {
    return this.#seen.size;
  }

  async originate(options: {
    target: Uint8Array;
    want: 'value' | 'nodes';
    origin: PeerRecord;
    hopLimit: number;
    proxyHops: number;
    fanout: number;
    timeoutMs: number;
    tag?: string | undefined;
    /** Peers wanted in the result. */
    count: number;
    /** Told of each seed asked and each answer, for progress. */
    report?: ((event: QueryEvent) => void) | undefined;
  }): Promise<SeekResult> {
    const report = options.report;
    const { table, k } = this.#ports;
    const seeds = (await this.#ports.closest(options.target, options.fanout)).filter((peer) => peer.idHex !== this.#ports.selfHex);
    const values: unknown[] = [];
    const named = new Map<string, PeerRecord>();
    const answered = new Set<string>();
    let outstanding = seeds.length;
    let hops = 0;
    let answers = 0;
    const asked = new Set(seeds.map((seed) => seed.idHex));
    const take = (entry: QueryEntry): boolean => {
      // Any hop may answer an async seek, but only with an answer: a failure counts only from a peer this node asked.
      if (!entry.ok && !asked.has(entry.from)) return false;
      answers++;
      outstanding--;
      if (!entry.ok) report?.({ type: 'failed', peer: entry.from, hop: 1, error: entry.error ?? entry.code ?? 'failed' });
      if (entry.ok) {
        const answer = checkSeekAnswer(entry.value, k);
        if (answer !== null) {
          answered.add(entry.from);
          hops = Math.max(hops, answer.hops);
          outstanding = Math.min(MAX_OUTSTANDING, outstanding + answer.branches);
          let learned = 0;
          for (const peer of this.#verified(answer.peers)) {
            if (!named.has(peer.idHex)) learned++;
            named.set(peer.idHex, peer);
          }
          report?.({ type: 'answered', peer: entry.from, hop: answer.hops, learned });
          if (this.passable(answer.value, options.target)) {
            report?.({ type: 'value', peer: entry.from, hop: answer.hops });
            values.push(answer.value);
            if (isImmutable(answer.value)) return true;
          }
        }
      }
      return outstanding <= 0;
    };
    const { id, done } = table.open({ timeoutMs: options.timeoutMs, tag: options.tag, take });
    for (const seed of seeds) named.set(seed.idHex, seed);
    const request: SeekRequest = {
      target: options.target,
      want: options.want,
      depth: 1,
      hopLimit: options.hopLimit,
      proxyHops: options.proxyHops,
      fanout: options.fanout,
      history: [this.#ports.self],
      origin: options.origin,
      originQuery: id,
      timeoutMs: options.timeoutMs,
    };
    if (seeds.length === 0) table.end(id);
    for (const seed of seeds) {
      report?.({ type: 'asked', peer: seed.idHex, hop: 1 });
      this.#forward(seed, id, request).catch((err: unknown) => table.reply(id, { from: seed.idHex, ok: false, code: codeOf(err), error: messageOf(err) }));
    }
    const complete = await done;
    const sorted = [...named.values()].sort((a, b) => compareDistance(options.target, a.id, b.id));
    const closest = firstPerGroup(sorted, options.count, this.#ports.perGroup, this.#ports.groupOf);
    this.#ports.learn(closest);
    return { values, closest, hops, answers, complete: complete || outstanding <= 0 };
  }

  /**
   * A seek from `from`, which waits for an answer to its query `query` (if this hop is proxied).
   * Never rejects: the api service starts it and moves on.
   */
  async hop(from: string, query: number, input: unknown): Promise<void> {
    let request: SeekRequest;
    let origin: PeerRecord;
    try {
      if (this.#active >= MAX_ACTIVE_HOPS) throw new MyDhtError('ERR_BUSY', `${MAX_ACTIVE_HOPS} seeks already in progress here`);
      request = checkSeekRequest(input);
      origin = PeerRecord.of(request.origin);
    } catch (err) {
      this.stats.refused++;
      this.#ports.log.debug({ peer: from, err }, 'refused a seek');
      return this.#ports.send(from, { type: 'reply', query, ok: false, code: codeOf(err), error: messageOf(err) }).catch(() => {});
    }
    const answer: SeekAnswer = { value: null, peers: [], hops: request.depth, branches: 0 };
    // An iterative lookup's step (asked by its origin, going no further) cannot loop, and a copy
    // of it costs what a fresh step would: only seeks that travel are remembered. Remembering
    // every step took ~100 bytes each, up to a megabyte per node.
    const step = origin.idHex === from && request.depth >= request.hopLimit;
    const seen = step ? undefined : `${origin.idHex}:${request.originQuery}`;
    if (seen !== undefined && this.#seen.has(seen)) {
      this.stats.duplicates++;
    } else {
      if (seen !== undefined) this.#remember(seen);
      this.stats.worked++;
      this.#active++;
      try {
        await this.#work(request, from, answer);
      } catch (err) {
        // A forward that could not start (this node's query table full, ERR_TOO_MANY_QUERIES) or a
        // failed read here: the hop answers with what it has, so nobody waits for it in vain.
        this.#ports.log.debug({ peer: from, err }, 'a seek stopped short here');
      } finally {
        this.#active--;
      }
    }
    // Proxied hops answer the hop before them; the ones past them answer the origin.
    try {
      if (request.depth <= request.proxyHops || origin.idHex === from) {
        await this.#ports.send(from, { type: 'reply', query, ok: true, value: answer });
      } else {
        await this.#ports.connect(origin);
        await this.#ports.send(origin.idHex, { type: 'reply', query: request.originQuery, ok: true, value: answer });
      }
    } catch (err) {
      this.#ports.log.debug({ peer: from, err }, 'could not answer a seek');
    }
  }

  /** Look here, then forward: into `answer`. */
  async #work(request: SeekRequest, from: string, answer: SeekAnswer): Promise<void> {
    const { self, k } = this.#ports;
    const { target } = request;
    if (request.want === 'value') {
      const held = await this.#ports.localValue(target).catch(() => null);
      if (this.passable(held, target)) answer.value = held;
    }
    const onPath = new Set([...request.history.map((id) => Buffer.from(id).toString('hex')), from, this.#ports.selfHex]);
    const contacts = (await this.#ports.closest(target, k + onPath.size)).filter((peer) => !onPath.has(peer.idHex));
    answer.peers = contacts.slice(0, k);
    if (answer.value !== null || request.depth >= request.hopLimit) return;
    // Greedy toward the target: only peers closer than this hop, so a seek never goes back out.
    const next = contacts.filter((peer) => compareDistance(target, peer.id, self) < 0).slice(0, request.fanout);
    const child = deeper(request, self);
    if (child.depth > request.proxyHops) {
      // Async forwards answer the origin: count those that left, and do not wait.
      const sent = await Promise.all(next.map((peer) => this.#forward(peer, 0, child).then(() => 1, () => 0)));
      answer.branches += sent.reduce<number>((sum, n) => sum + n, 0);
      return;
    }
    const answers = await Promise.all(next.map((peer) => this.#ask(peer, child.timeoutMs, () => child)));
    const peers = new Map(contacts.slice(0, k).map((peer) => [peer.idHex, peer]));
    for (const forwarded of answers) {
      if (forwarded instanceof Error) continue;
      answer.hops = Math.max(answer.hops, forwarded.hops);
      answer.branches += forwarded.branches;
      if (this.passable(forwarded.value, target) && (answer.value === null || newer(forwarded.value, answer.value))) answer.value = forwarded.value;
      for (const peer of forwarded.peers) if (!onPath.has(peer.idHex)) peers.set(peer.idHex, peer);
    }
    answer.peers = [...peers.values()]
      .sort((a, b) => compareDistance(target, a.id, b.id))
      .slice(0, k);
  }

  /**
   * One round trip with one peer, an iterative lookup's step: a seek that goes no further, so the
   * peer answers with the value it holds (FIND_VALUE) and the peers it knows closest (FIND_NODE).
   * Throws if the peer cannot be reached or does not answer in time.
   */
  async askOne(peer: PeerRecord, options: { target: Uint8Array; want: 'value' | 'nodes'; origin: PeerRecord; timeoutMs: number }): Promise<ReceivedAnswer> {
    const answer = await this.#ask(peer, options.timeoutMs, (id) => ({
      target: options.target,
      want: options.want,
      depth: 1,
      hopLimit: 1,
      proxyHops: 1,
      fanout: 1,
      history: [this.#ports.self],
      origin: options.origin,
      // Its own query id: each step is a query of its own, never a duplicate of another.
      originQuery: id,
      timeoutMs: options.timeoutMs,
    }));
    if (answer instanceof Error) throw answer;
    return answer;
  }

  /** Forward to a proxied hop and wait for its answer (an error if none came in time). */
  async #ask(peer: PeerRecord, timeoutMs: number, request: (query: number) => SeekRequest): Promise<ReceivedAnswer | Error> {
    // Made only when no answer came: an Error captures a stack, which took ~4 % of a get's time
    // when every ask made one up front.
    let answer: ReceivedAnswer | Error | undefined;
    const { id, done } = this.#ports.table.open({
      timeoutMs,
      from: new Set([peer.idHex]),
      take: (entry) => {
        if (!entry.ok) answer = new MyDhtError(entry.code ?? 'ERR_SEEK_REFUSED', entry.error ?? 'the peer refused the seek');
        else answer = this.#received(entry.value) ?? new MyDhtError('ERR_SEEK_INVALID', 'the peer answered with a malformed answer');
        return true;
      },
    });
    this.#forward(peer, id, request(id)).catch((err: unknown) => {
      answer = err instanceof Error ? err : new Error(String(err));
      this.#ports.table.end(id);
    });
    await done;
    return answer ?? new MyDhtError('ERR_TIMEOUT', `peer ${peer.idHex} did not answer within ${timeoutMs} ms`);
  }

  async #forward(peer: PeerRecord, query: number, request: SeekRequest): Promise<void> {
    await this.#ports.connect(peer);
    await this.#ports.send(peer.idHex, { type: 'seek', query, seek: request });
  }

  /** A forward's answer, checked and reduced to what is kept (ReceivedAnswer); null if malformed. */
  #received(value: unknown): ReceivedAnswer | null {
    const answer = checkSeekAnswer(value, this.#ports.k);
    return answer === null ? null : { ...answer, peers: this.#verified(answer.peers) };
  }

  /**
   * The peers of an answer as records, this node's own left out. Over a session each is a
   * PeerRecord already (verified as it was decoded); a wire form is verified here, and any other
   * value left out.
   */
  #verified(peers: readonly unknown[]): PeerRecord[] {
    return peers.flatMap((peer) => {
      try {
        const record = PeerRecord.of(peer);
        return record.idHex === this.#ports.selfHex ? [] : [record];
      } catch {
        return [];
      }
    });
  }

  /**
   * May a hop pass this value on as the record under `key`? Not if it fails the checks every node
   * can make (shape, size, key, signature): a hop forwards no forged record. A plain record's
   * namespace rules are the asker's to apply, so those pass.
   */
  passable(value: unknown, key: Uint8Array): boolean {
    if (value === null || value === undefined) return false;
    try {
      return Buffer.compare(validateRecord(value, this.#ports.limits).key, key) === 0;
    } catch (err) {
      return codeOf(err) === 'ERR_RECORD_NAMESPACE' && Buffer.compare((value as { key: Uint8Array }).key, key) === 0;
    }
  }

  #remember(seen: string): void {
    if (this.#seen.size >= SEEN_MAX) this.#seen.delete(this.#seen.values().next().value!);
    this.#seen.add(seen);
  }
}

/** Is `a` a later version than `b` (both passable): a mutable record with a higher seq? */
function newer(a: unknown, b: unknown): boolean {
  const x = a as { kind?: unknown; seq?: unknown };
  const y = b as { kind?: unknown; seq?: unknown };
  return x.kind === 'mutable' && y.kind === 'mutable' && (x.seq as number) > (y.seq as number);
}

/**
 * Is a value that passed `passable` an immutable record? Then nothing better can exist under its
 * key, and a lookup for it can stop. Only the kind is read: `passable` already checked it all.
 */
export function isImmutable(value: unknown): boolean {
  return (value as { kind?: unknown }).kind === 'immutable';
}
