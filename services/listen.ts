import { createHash } from 'node:crypto';
import { codeOf, messageOf, MyDhtError } from '../src/runtime/errors.ts';
import { detached } from '../src/runtime/mailbox.ts';
import { defineService } from '../src/runtime/service.ts';
import type { SessionMessage } from '../src/node/messages.ts';
import type { NodeProtocols } from '../src/node/protocols.ts';
import type { DhtRecord } from '../src/dht/records.ts';

export interface ListenConfig {
  /** This node's id (hex): its own subscription is served here, without the network. */
  self: string;
  /** Records held for one subscriber and key before the oldest is dropped (lagged). */
  queueLength?: number;
  /** Pushes sent to one subscriber and not yet acknowledged, at most. */
  window?: number;
  /** Subscriptions one peer may hold here. */
  maxPerPeer?: number;
  /** Subscriptions this node holds for everyone. */
  maxPerNode?: number;
  /** Keys this node listens to at once. */
  maxListens?: number;
}

const DEFAULTS = { queueLength: 64, window: 16, maxPerPeer: 256, maxPerNode: 10_000, maxListens: 1_000 };
/** A subscription lives this long unless renewed, ms at most (the subscriber asks for less). */
const MAX_TTL_MS = 10 * 60_000;
/** Record identities remembered per listened key, for de-duplication across holders. */
const DELIVERED_MAX = 1_024;

/** One subscriber's subscription to one key, on the holder: its own queue (zaichik's design). */
interface Subscription {
  peer: string;
  key: string;
  expires: number;
  /** Records not yet acknowledged, oldest first (at most queueLength: an array is fine); `first` is the push number of the head. */
  queue: DhtRecord[];
  first: number;
  /** Pushes sent so far: numbers first .. first + sent - 1 are in flight. */
  sent: number;
  /** Records dropped since the last push went out, told in the next one. */
  lagged: number;
}

/** One key this node listens to: the holders it registered with, and what it delivered. */
interface Listening {
  holders: Set<string>;
  /** The highest seq delivered of a mutable record; identities (hashes) of other records delivered. */
  seq: number;
  delivered: Set<string>;
}

/**
 * Listen, both sides (OpenDHT's listen; zaichik's per-consumer queues):
 * - as a holder, subscriptions by key: each subscriber gets its own bounded queue of the records
 *   this node accepted under the key, pushed in order with a window and acknowledged; a slow
 *   subscriber loses only its own oldest entries and is told how many;
 * - as a listener, the keys this node listens to: pushes from any holder are de-duplicated
 *   (by seq for mutable records, by content otherwise), acknowledged, and handed to the node,
 *   which queues them for each local subscriber.
 */
export default defineService<NodeProtocols['listen'], ListenConfig>((ctx) => {
  const options = { ...DEFAULTS, ...ctx.config };
  const write = ctx.service<NodeProtocols['write']>('write');
  const mainLoop = ctx.service<NodeProtocols['main-loop']>('main-loop');
  const events = ctx.service<NodeProtocols['events']>('events');
  /** Holder side: key -> subscriber -> subscription. */
  const subscriptions = new Map<string, Map<string, Subscription>>();
  const perPeer = new Map<string, number>();
  let total = 0;
  /** Listener side: key -> what this node listens to. */
  const listening = new Map<string, Listening>();
  const counts = { pushed: 0, acked: 0, lagged: 0, duplicates: 0, refused: 0 };

  const self = ctx.config.self;
  const send = (peer: string, message: SessionMessage): void => {
    // This node's own subscription (it may hold the key itself) takes no network.
    if (peer === self) queueMicrotask(() => handle(self, message));
    else write.call({ type: 'send', peer, message }).catch(() => {});
  };

  /** Push what the window allows from a subscription's queue. */
  const pump = (sub: Subscription): void => {
    while (sub.sent < sub.queue.length && sub.sent < options.window) {
      const record = sub.queue[sub.sent]!;
      const n = sub.first + sub.sent;
      const lagged = sub.lagged;
      sub.lagged = 0;
      sub.sent++;
      counts.pushed++;
      send(sub.peer, { type: 'notify', key: Buffer.from(sub.key, 'hex'), n, record, ...(lagged > 0 ? { lagged } : {}) });
    }
  };

  const drop = (sub: Subscription): void => {
    const byKey = subscriptions.get(sub.key);
    if (byKey?.get(sub.peer) !== sub) return;
    byKey.delete(sub.peer);
    if (byKey.size === 0) subscriptions.delete(sub.key);
    total--;
    const left = (perPeer.get(sub.peer) ?? 1) - 1;
    if (left === 0) perPeer.delete(sub.peer);
    else perPeer.set(sub.peer, left);
  };

  const subscribe = (peer: string, key: Uint8Array, ttlMs: number): number => {
    const id = Buffer.from(key).toString('hex');
    const ttl = Math.min(Math.max(1_000, ttlMs), MAX_TTL_MS);
    let byKey = subscriptions.get(id);
    const existing = byKey?.get(peer);
    if (existing !== undefined) {
      existing.expires = Date.now() + ttl;
      return ttl;
    }
    if ((perPeer.get(peer) ?? 0) >= options.maxPerPeer) {
      throw new MyDhtError('ERR_LISTEN_LIMIT', `a peer may hold ${options.maxPerPeer} listens on this node`);
    }
    if (total >= options.maxPerNode) throw new MyDhtError('ERR_LISTEN_LIMIT', `this node holds ${options.maxPerNode} listens already`);
    if (byKey === undefined) {
      byKey = new Map();
      subscriptions.set(id, byKey);
    }
    byKey.set(peer, { peer, key: id, expires: Date.now() + ttl, queue: [], first: 0, sent: 0, lagged: 0 });
    perPeer.set(peer, (perPeer.get(peer) ?? 0) + 1);
    total++;
    return ttl;
  };

  /** Listener side: a push from a holder. Acknowledged whatever it holds, delivered once. */
  const notified = (from: string, message: Extract<SessionMessage, { type: 'notify' }>): void => {
    const key = Buffer.from(message.key).toString('hex');
    send(from, { type: 'notify-ack', key: message.key, n: message.n });
    const listen = listening.get(key);
    if (listen === undefined) return;
    const record = message.record as DhtRecord;
    const lagged = typeof message.lagged === 'number' && message.lagged > 0 ? message.lagged : 0;
    if (lagged > 0) counts.lagged += lagged;
    if (!fresh(listen, record)) {
      counts.duplicates++;
      if (lagged > 0) detached(events.send({ type: 'emit', event: { type: 'listen', key, lagged } }));
      return;
    }
    detached(events.send({ type: 'emit', event: { type: 'listen', key, record, ...(lagged > 0 ? { lagged } : {}) } }));
  };

  /** Has this record not been delivered yet, and is it not older than one that was? Marks it delivered. */
  const fresh = (listen: Listening, record: DhtRecord): boolean => {
    if (typeof record !== 'object' || record === null) return false;
    if (record.kind === 'mutable') {
      if (typeof record.seq !== 'number' || record.seq <= listen.seq) return false;
      listen.seq = record.seq;
      return true;
    }
    if (!(record.value instanceof Uint8Array)) return false;
    const identity = createHash('sha256').update(record.value).digest('hex');
    if (listen.delivered.has(identity)) return false;
    if (listen.delivered.size >= DELIVERED_MAX) listen.delivered.delete(listen.delivered.values().next().value!);
    listen.delivered.add(identity);
    return true;
  };

  const handle = (from: string, message: SessionMessage): void => {
    // Bad input from a peer is ignored here, never a throw: the session goes on.
    if ('key' in message && !(message.key instanceof Uint8Array)) return;
    switch (message.type) {
      case 'listen': {
        try {
          if (!(message.key instanceof Uint8Array) || message.key.length !== 32) throw new MyDhtError('ERR_BAD_REQUEST', 'a listened key is 32 bytes');
          const ttlMs = subscribe(from, message.key, Number(message.ttlMs));
          send(from, { type: 'reply', query: message.query, ok: true, value: { ttlMs } });
        } catch (err) {
          counts.refused++;
          send(from, { type: 'reply', query: message.query, ok: false, code: codeOf(err), error: messageOf(err) });
        }
        return;
      }
      case 'unlisten': {
        const sub = subscriptions.get(Buffer.from(message.key).toString('hex'))?.get(from);
        if (sub !== undefined) drop(sub);
        return;
      }
      case 'notify-ack': {
        const sub = subscriptions.get(Buffer.from(message.key).toString('hex'))?.get(from);
        if (sub === undefined || !Number.isSafeInteger(message.n)) return;
        // Cumulative: everything up to n is acknowledged and leaves the queue.
        while (sub.sent > 0 && sub.first <= message.n) {
          sub.queue.shift();
          sub.first++;
          sub.sent--;
          counts.acked++;
        }
        pump(sub);
        return;
      }
      case 'notify':
        notified(from, message);
        return;
      default:
        return;
    }
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const byKey of [...subscriptions.values()]) for (const sub of [...byKey.values()]) if (sub.expires <= now) drop(sub);
  }, 5_000);
  sweep.unref();

  return {
    // A registration waits on the network for seconds: other commands must get in meanwhile, or
    // two nodes registering with each other wait on each other until both time out. Every other
    // handler is synchronous, so they still run in order.
    concurrency: 1_024,
    handlers: {
      message: ({ from, message }) => handle(from, message),
      accepted: ({ record }) => {
        const byKey = subscriptions.get(Buffer.from(record.key).toString('hex'));
        if (byKey === undefined) return;
        for (const sub of byKey.values()) {
          if (sub.queue.length >= options.queueLength) {
            // The slow subscriber loses its own oldest entry, unsent first; nobody else waits.
            const unsentAt = sub.sent;
            if (unsentAt < sub.queue.length) sub.queue.splice(unsentAt, 1);
            else {
              sub.queue.shift();
              sub.first++;
              sub.sent--;
            }
            sub.lagged++;
          }
          sub.queue.push(record);
          pump(sub);
        }
      },
      register: async ({ key, holders, ttlMs, timeoutMs }) => {
        const id = Buffer.from(key).toString('hex');
        let listen = listening.get(id);
        if (listen === undefined) {
          if (listening.size >= options.maxListens) throw new MyDhtError('ERR_LISTEN_LIMIT', `this node listens to ${options.maxListens} keys already`);
          listen = { holders: new Set(), seq: -1, delivered: new Set() };
          listening.set(id, listen);
        }
        const api = ctx.service<NodeProtocols['api']>('api');
        const registered = new Set<string>();
        const errors: string[] = [];
        // Here too: a record this node accepts under the key is one its listeners should hear of.
        subscribe(self, key, ttlMs);
        registered.add(self);
        await Promise.all(
          holders.map(async (holder) => {
            try {
              await mainLoop.call({ type: 'connect', peer: holder.idHex, addresses: holder.addresses }, { timeout: timeoutMs });
              const { results } = await api.call({ type: 'query', peers: [holder.idHex], request: { type: 'listen', key, ttlMs }, expect: 1, timeoutMs });
              if (results[0]?.ok === true) registered.add(holder.idHex);
              else errors.push(results[0]?.code ?? 'ERR_TIMEOUT');
            } catch (err) {
              errors.push(codeOf(err));
            }
          }),
        );
        // Holders no longer among the closest are told to stop.
        for (const old of listen.holders) if (!registered.has(old)) send(old, { type: 'unlisten', key });
        listen.holders = registered;
        return { registered: registered.size, errors };
      },
      unregister: ({ key }) => {
        const id = Buffer.from(key).toString('hex');
        const listen = listening.get(id);
        if (listen === undefined) return;
        listening.delete(id);
        for (const holder of listen.holders) send(holder, { type: 'unlisten', key });
      },
      stats: () => ({ subscriptions: total, listening: listening.size, ...counts }),
    },
    stop: () => clearInterval(sweep),
  };
});
