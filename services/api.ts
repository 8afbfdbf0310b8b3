import { codeOf, messageOf } from '../src/runtime/errors.ts';
import { defineService } from '../src/runtime/service.ts';
import type { SessionMessage } from '../src/node/messages.ts';
import { PeerRecord } from '../src/node/peer-record.ts';
import { lookup, type LookupPeer } from '../src/dht/lookup.ts';
import { DEFAULT_K } from '../src/dht/routing-table.ts';
import { detached } from '../src/runtime/mailbox.ts';
import type { NodeProtocols, QueryResult } from '../src/node/protocols.ts';

export interface ApiConfig {
  /** This node's id (hex), the `from` of local results. */
  self: string;
  /** Deadline of a query that names none, ms. */
  defaultTimeoutMs?: number;
  /** Queries in flight at most; past it a query fails with ERR_TOO_MANY_QUERIES. */
  maxPending?: number;
}

const DEFAULT_QUERY_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PENDING = 10_000;
/** Each step of a lookup (connect, then ask) must answer within this long, ms. */
const STEP_TIMEOUT_MS = 5_000;

/**
 * Queries to peers: each gets an id, a deadline, a count of replies it waits for (MyDHT's
 * "expect N"), and can be cancelled by tag. Replies arrive through the read service and are
 * matched by id; a reply to a query that finished or never was is dropped.
 */
export default defineService<NodeProtocols['api'], ApiConfig>((ctx) => {
  const write = ctx.service<NodeProtocols['write']>('write');
  const global = ctx.service<NodeProtocols['global']>('global');
  const mainLoop = ctx.service<NodeProtocols['main-loop']>('main-loop');
  const peerStore = ctx.service<NodeProtocols['peer-store']>('peer-store');
  const defaultTimeout = ctx.config.defaultTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const maxPending = ctx.config.maxPending ?? DEFAULT_MAX_PENDING;
  interface Pending {
    result: QueryResult;
    expect: number;
    tag: string | undefined;
    finish: () => void;
  }
  const pending = new Map<number, Pending>();
  let nextQuery = 1;

  const add = (id: number, entry: QueryResult['results'][number]): void => {
    const query = pending.get(id);
    if (query === undefined) return;
    query.result.results.push(entry);
    if (query.result.results.length >= query.expect) {
      query.result.complete = true;
      query.finish();
    }
  };

  const runQuery = ({ peers, request, local, expect, timeoutMs, tag }: NodeProtocols['api']['query']['command']): Promise<QueryResult> => {
    if (pending.size >= maxPending) {
      throw Object.assign(new Error(`${maxPending} queries already in flight`), { code: 'ERR_TOO_MANY_QUERIES' });
    }
    const id = nextQuery++;
    return new Promise<QueryResult>((resolve) => {
      const result: QueryResult = { results: [], complete: false };
      const timer = setTimeout(() => entry.finish(), timeoutMs ?? defaultTimeout);
      const entry: Pending = {
        result,
        expect,
        tag,
        finish: () => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(result);
        },
      };
      pending.set(id, entry);
      if (expect <= 0) entry.finish();
      const message = { ...request, query: id } as SessionMessage;
      for (const peer of peers) {
        // A call, not a send: a query must learn at once that a peer cannot be reached.
        write.call({ type: 'send', peer, message }).catch((err: unknown) =>
          add(id, { from: peer, ok: false, code: codeOf(err), error: messageOf(err) }),
        );
      }
      if (local === true && request.type === 'global') {
        global.call({ type: 'local', command: request.command }).then(
          (value) => add(id, { from: ctx.config.self, ok: true, value }),
          (err: unknown) => add(id, { from: ctx.config.self, ok: false, code: codeOf(err), error: messageOf(err) }),
        );
      }
    });
  };

  return {
    // Queries wait on the network: many run at once, or a reply could never get in.
    concurrency: 100_000,
    handlers: {
      query: (command) => runQuery(command),
      lookup: async ({ target, count, alpha, hopLimit, timeoutMs }) => {
        const k = count ?? DEFAULT_K;
        const step = timeoutMs ?? STEP_TIMEOUT_MS;
        const toPeer = (record: PeerRecord): LookupPeer & { record: PeerRecord } => ({ id: record.id, idHex: record.idHex, record });
        const seeds = await peerStore.call({ type: 'closest', target, count: k });
        const result = await lookup({
          target,
          self: Buffer.from(ctx.config.self, 'hex'),
          count: k,
          ...(alpha === undefined ? {} : { alpha }),
          ...(hopLimit === undefined ? {} : { hopLimit }),
          seeds: seeds.map(toPeer),
          ask: async (peer) => {
            const address = peer.record.addresses[0];
            if (address === undefined) throw new Error('no address');
            try {
              await mainLoop.call({ type: 'connect', peer: peer.idHex, address }, { timeout: step });
            } catch (err) {
              detached(peerStore.send({ type: 'unreachable', peer: peer.idHex }));
              throw err;
            }
            const answer = await runQuery({ peers: [peer.idHex], request: { type: 'find-node', target }, expect: 1, timeoutMs: step });
            const reply = answer.results[0];
            if (reply?.ok !== true || !Array.isArray(reply.value)) throw new Error(reply?.error ?? 'no answer');
            // Every record is checked: a peer cannot make us dial an id under someone else's key.
            const records = (reply.value as unknown[]).slice(0, k).flatMap((fields) => {
              try {
                return [PeerRecord.verify(fields)];
              } catch {
                return [];
              }
            });
            detached(peerStore.send({ type: 'learn', records }));
            return records.map(toPeer);
          },
        });
        return { closest: result.closest.map((peer) => peer.record), hops: result.hops, queried: result.queried, failed: result.failed };
      },
      reply: ({ from, reply }) => {
        const entry: QueryResult['results'][number] = { from, ok: reply.ok };
        if (reply.value !== undefined) entry.value = reply.value;
        if (reply.code !== undefined) entry.code = reply.code;
        if (reply.error !== undefined) entry.error = reply.error;
        add(reply.query, entry);
      },
      cancel: ({ tag }) => {
        let cancelled = 0;
        for (const query of [...pending.values()]) {
          if (query.tag === tag) {
            query.finish();
            cancelled++;
          }
        }
        return cancelled;
      },
      pending: () => pending.size,
    },
    stop: () => {
      for (const query of [...pending.values()]) query.finish();
    },
  };
});
