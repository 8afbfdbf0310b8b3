import { codeOf, messageOf, MyDhtError } from '../../src/runtime/errors.ts';
import { defineService } from '../../src/runtime/service.ts';
import type { SessionMessage } from '../../src/node/messages.ts';
import { PeerRecord } from '../../src/node/peer-record.ts';
import { DEFAULT_ALPHA, DEFAULT_HOP_LIMIT, lookup, type LookupPeer } from '../../src/dht/lookup.ts';
import { DEFAULT_K } from '../../src/dht/routing-table.ts';
import { DEFAULT_DIVERSITY, subnetOf } from '../../src/dht/ip-diversity.ts';
import { MAX_SEEK_HOPS } from '../../src/dht/seek.ts';
import { DEFAULT_RECORD_LIMITS } from '../../src/dht/records.ts';
import { detached } from '../../src/runtime/mailbox.ts';
import type { NodeProtocols, QueryEvent, QueryResult } from '../../src/node/protocols.ts';
import { QueryTable } from './query-table.ts';
import { isImmutable, Seeker } from './seek.ts';

export interface ApiConfig {
  /** This node's id (hex), the `from` of local results. */
  self: string;
  /** Deadline of a query that names none, ms. */
  defaultTimeoutMs?: number;
  /** Queries in flight at most; past it a query fails with ERR_TOO_MANY_QUERIES. */
  maxPending?: number;
  /** Kademlia's k: peers per answer (default 20). */
  k?: number;
  /** Largest record value a hop passes on, bytes (default 64 KiB). */
  maxValueBytes?: number;
  /** Peers of one /24 at most among a lookup's candidates and results (default 2, the buckets' limit). */
  perSubnet?: number;
  /** Loopback and private addresses are not limited (default true). */
  exemptPrivate?: boolean;
}

const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PENDING = 10_000;
/** Addresses whose subnet the lookups remember, at most. */
const MAX_REMEMBERED_SUBNETS = 10_000;
/** Each step of a lookup (connect, then ask) must answer within this long, ms. */
const STEP_TIMEOUT_MS = 5_000;
/**
 * A lookup goes on without a peer that has not answered its step within this long (or 4x the
 * slowest answer of that lookup, if longer: see `lookup`), ms. A connect and an ask are a few
 * round trips, well under a second on most paths, and a frozen peer then costs this instead of
 * the step's whole deadline. Not less: on a loaded 2-core machine with services in child
 * processes, answers past 250 ms happen, and a peer left behind is not among a put's holders.
 */
const SLOW_AFTER_MS = 1_000;

/**
 * Queries to peers: each gets an id, a deadline, a count of replies it waits for (MyDHT's
 * "expect N"), and can be cancelled by tag. Replies arrive through the read service and are
 * matched by id; a reply to a query that finished or never was is dropped. Lookups run here:
 * iterative ones, and forwarded ones (seeks) both as their origin and as a hop.
 */
export default defineService<NodeProtocols['api'], ApiConfig>((ctx) => {
  const write = ctx.service<NodeProtocols['write']>('write');
  const global = ctx.service<NodeProtocols['global']>('global');
  const mainLoop = ctx.service<NodeProtocols['main-loop']>('main-loop');
  const peerStore = ctx.service<NodeProtocols['peer-store']>('peer-store');
  const events = ctx.service<NodeProtocols['events']>('events');
  /** Where a query's steps go, if its caller asked for progress. */
  const reporter = (tag: string | undefined, progress: boolean | undefined): ((event: QueryEvent) => void) | undefined =>
    tag === undefined || progress !== true ? undefined : (event) => detached(events.send({ type: 'emit', event: { type: 'query', tag, event } }));
  const defaultTimeout = ctx.config.defaultTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const k = ctx.config.k ?? DEFAULT_K;
  const perSubnet = ctx.config.perSubnet ?? DEFAULT_DIVERSITY.perBucket;
  const exemptPrivate = ctx.config.exemptPrivate ?? DEFAULT_DIVERSITY.exemptPrivate;
  // Every answer names 20 records, mostly ones named before: their subnets are remembered.
  const subnets = new Map<string, string | undefined>();
  const subnetOfAddress = (address: string): string | undefined => {
    if (subnets.has(address)) return subnets.get(address);
    if (subnets.size >= MAX_REMEMBERED_SUBNETS) subnets.clear();
    const subnet = subnetOf(address, exemptPrivate);
    subnets.set(address, subnet);
    return subnet;
  };
  /** The /24 a peer counts against in lookups: that of the first address in its record. */
  const groupOf = (record: PeerRecord): string | undefined => (record.addresses[0] === undefined ? undefined : subnetOfAddress(record.addresses[0]));
  const table = new QueryTable(ctx.config.maxPending ?? DEFAULT_MAX_PENDING);
  const self = Buffer.from(ctx.config.self, 'hex');
  /** Iterative lookups in flight, by the tag they can be cancelled by. */
  const lookups = new Map<string, AbortController>();

  /** A session with a peer, opened by dialing the first of its addresses this node can if there is none. */
  const connect = async (peer: PeerRecord, timeout = STEP_TIMEOUT_MS): Promise<void> => {
    try {
      await mainLoop.call({ type: 'connect', peer: peer.idHex, addresses: peer.addresses }, { timeout });
    } catch (err) {
      detached(peerStore.send({ type: 'unreachable', peer: peer.idHex }));
      throw err;
    }
  };

  const seeker = new Seeker({
    table,
    self,
    selfHex: ctx.config.self,
    k,
    limits: { ...DEFAULT_RECORD_LIMITS, ...(ctx.config.maxValueBytes === undefined ? {} : { maxValueBytes: ctx.config.maxValueBytes }) },
    connect: (peer) => connect(peer),
    // A call, not a send: the seek must learn at once that a peer cannot be reached.
    send: async (peer, message) => void (await write.call({ type: 'send', peer, message })),
    closest: (target, count) => peerStore.call({ type: 'closest', target, count }),
    localValue: (key) => global.call({ type: 'local', command: { type: 'get', key } as { type: string } }),
    learn: (records) => detached(peerStore.send({ type: 'learn', records })),
    groupOf,
    perGroup: perSubnet,
    log: ctx.log,
  });

  const runQuery = async ({ peers, request, local, expect, timeoutMs, tag }: NodeProtocols['api']['query']['command']): Promise<QueryResult> => {
    const result: QueryResult = { results: [], complete: false };
    // The peers asked may answer, and so may a relay a message went through (to say it could not pass it on).
    const repliers = new Set(local === true ? [...peers, ctx.config.self] : peers);
    const { id, done } = table.open({
      timeoutMs: timeoutMs ?? defaultTimeout,
      tag,
      from: repliers,
      take: (entry) => {
        result.results.push(entry);
        return result.results.length >= expect;
      },
    });
    if (expect <= 0) table.end(id);
    const message = { ...request, query: id } as SessionMessage;
    for (const peer of peers) {
      // A call, not a send: a query must learn at once that a peer cannot be reached.
      write.call({ type: 'send', peer, message }).then(
        (relay) => void (relay !== undefined && repliers.add(relay)),
        (err: unknown) => table.reply(id, { from: peer, ok: false, code: codeOf(err), error: messageOf(err) }),
      );
    }
    if (local === true && request.type === 'global') {
      const target = request.service === undefined ? global : ctx.service<NodeProtocols['global']>(request.service);
      target.call({ type: 'local', command: request.command }).then(
        (value) => table.reply(id, { from: ctx.config.self, ok: true, value }),
        (err: unknown) => table.reply(id, { from: ctx.config.self, ok: false, code: codeOf(err), error: messageOf(err) }),
      );
    }
    result.complete = (await done) || expect <= 0;
    return result;
  };

  return {
    // Queries wait on the network: many run at once, or a reply could never get in.
    concurrency: 100_000,
    handlers: {
      query: (command) => runQuery(command),
      lookup: async ({ target, want, origin, count, alpha, hopLimit, paths, timeoutMs, tag, progress }) => {
        const report = reporter(tag, progress);
        const wanted = count ?? k;
        const step = timeoutMs ?? STEP_TIMEOUT_MS;
        const abort = new AbortController();
        if (tag !== undefined) lookups.set(tag, abort);
        const toPeer = (record: PeerRecord): LookupPeer & { record: PeerRecord } => ({
          id: record.id,
          idHex: record.idHex,
          group: groupOf(record),
          record,
        });
        const seeds = await peerStore.call({ type: 'closest', target, count: wanted });
        const values: unknown[] = [];
        const result = await lookup({
          target,
          self,
          signal: abort.signal,
          count: wanted,
          ...(alpha === undefined ? {} : { alpha }),
          ...(hopLimit === undefined ? {} : { hopLimit }),
          ...(paths === undefined ? {} : { paths }),
          perGroup: perSubnet,
          slowAfterMs: Math.min(step, SLOW_AFTER_MS),
          seeds: seeds.map(toPeer),
          ask: async (peer) => {
            const answer = await seeker.askOne(peer.record, { target, want: want ?? 'nodes', origin, timeoutMs: step });
            // Every record was checked as it arrived: a peer cannot make us dial an id under someone else's key.
            const records = answer.peers.slice(0, wanted);
            detached(peerStore.send({ type: 'learn', records }));
            return { peers: records.map(toPeer), value: answer.value };
          },
          ...(report === undefined ? {} : { onEvent: report }),
          onValue: (value, peer, hop) => {
            if (!seeker.passable(value, target)) return false;
            report?.({ type: 'value', peer: peer.idHex, hop });
            values.push(value);
            // A valid immutable record is the answer: no other can exist under its key.
            return isImmutable(value);
          },
        }).finally(() => {
          if (tag !== undefined && lookups.get(tag) === abort) lookups.delete(tag);
        });
        return { closest: result.closest.map((peer) => peer.record), hops: result.hops, queried: result.queried, failed: result.failed, values };
      },
      find: ({ target, want, origin, proxyHops, hopLimit, fanout, count, timeoutMs, tag, progress }) =>
        seeker.originate({
          count: count ?? k,
          report: reporter(tag, progress),
          target,
          want,
          origin,
          hopLimit: Math.min(hopLimit ?? DEFAULT_HOP_LIMIT, MAX_SEEK_HOPS),
          proxyHops,
          fanout: fanout ?? DEFAULT_ALPHA,
          timeoutMs: timeoutMs ?? defaultTimeout,
          tag,
        }),
      seek: ({ from, query, seek }) => {
        // Worked on in the background: a hop may wait on its own forwards for seconds.
        void seeker.hop(from, query, seek);
      },
      reply: ({ from, reply }) => {
        const entry: QueryResult['results'][number] = { from, ok: reply.ok };
        if (reply.value !== undefined) entry.value = reply.value;
        if (reply.code !== undefined) entry.code = reply.code;
        if (reply.error !== undefined) entry.error = reply.error;
        table.reply(reply.query, entry);
      },
      cancel: ({ tag }) => {
        const lookup = lookups.get(tag);
        lookup?.abort(new MyDhtError('ERR_ABORTED', 'the lookup was cancelled'));
        return table.cancel(tag) + (lookup === undefined ? 0 : 1);
      },
      pending: () => table.size,
      seekStats: () => ({ ...seeker.stats, remembered: seeker.remembered }),
    },
    stop: () => table.endAll(),
  };
});
