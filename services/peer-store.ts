import { detached } from '../src/runtime/mailbox.ts';
import { defineService } from '../src/runtime/service.ts';
import { toHex } from '../src/node/identity.ts';
import { PeerRecord } from '../src/node/peer-record.ts';
import { RoutingTable } from '../src/dht/routing-table.ts';
import type { KnownPeer, NodeEvent, NodeProtocols } from '../src/node/protocols.ts';

export interface PeerStoreConfig {
  /** This node's id (hex). */
  self: string;
  /** Every this often, each connected peer is pinged and stale ones are marked offline, ms. */
  livenessIntervalMs?: number;
  /** A peer not heard from for this long is offline and its session is closed, ms. */
  livenessTimeoutMs?: number;
  /** Connected peers to keep: below it, known peers are dialed. */
  targetPeers?: number;
  /**
   * Known peers kept at most (default 2,000): contacts and sessions always, and besides them the
   * most recently learned; the one learned longest ago goes first.
   */
  maxPeers?: number;
  /** Kademlia's k: contacts per bucket and peers per answer (default 20). */
  k?: number;
  /** Loopback and private addresses are exempt from the routing table's IP diversity limits (default true). */
  exemptPrivate?: boolean;
  /** Contacts of one subnet at most per bucket and per table (default 2 and 10). */
  diversity?: { perBucket?: number; perTable?: number };
  /**
   * Past `targetPeers` sessions, one that carried nothing but liveness pings for this long is
   * closed, gently; 0 keeps every session (default 5 minutes).
   */
  idleTimeoutMs?: number;
}

const DEFAULTS = { livenessIntervalMs: 5_000, livenessTimeoutMs: 15_000, targetPeers: 8, maxPeers: 2_000, k: 20, exemptPrivate: true, idleTimeoutMs: 300_000 };
/** A contact pinged before it is evicted must answer within this long, ms. */
const EVICTION_PING_TIMEOUT_MS = 2_000;
/** A peer whose dial failed is not dialed again for this long, ms. */
const REDIAL_BACKOFF_MS = 30_000;

interface Known {
  record: PeerRecord;
  connected: boolean;
  lastSeen: number;
  offline: boolean;
  lastDial: number;
}

/**
 * Known peers, their records and addresses, when each was last heard from; liveness pings with
 * offline detection; a ban list with expiry; and a pool of connected peers kept near a target
 * by dialing known ones.
 */
export default defineService<NodeProtocols['peer-store'], PeerStoreConfig>((ctx) => {
  const options = { ...DEFAULTS, ...ctx.config };
  const mainLoop = ctx.service<NodeProtocols['main-loop']>('main-loop');
  const write = ctx.service<NodeProtocols['write']>('write');
  const read = ctx.service<NodeProtocols['read']>('read');
  const api = ctx.service<NodeProtocols['api']>('api');
  const events = ctx.service<NodeProtocols['events']>('events');
  const emit = (event: NodeEvent): void => detached(events.send({ type: 'emit', event }));
  const peers = new Map<string, Known>();
  const bans = new Map<string, number>();
  let nextPing = 1;
  // The Kademlia routing table: contacts that answered, by XOR distance. A full bucket's oldest
  // contact is alive if it has a session or can be dialed.
  const routing = new RoutingTable(Buffer.from(ctx.config.self, 'hex'), {
    k: options.k,
    diversity: { ...options.diversity, exemptPrivate: options.exemptPrivate },
    ping: async (contact) => {
      if (peers.get(contact.idHex)?.connected === true) return true;
      return mainLoop
        .call({ type: 'connect', peer: contact.idHex, addresses: peers.get(contact.idHex)?.record.addresses ?? [contact.address] }, { timeout: EVICTION_PING_TIMEOUT_MS })
        .then(
          () => true,
          () => false,
        );
    },
  });
  const addContact = (record: PeerRecord): void => {
    const address = record.addresses[0];
    if (address !== undefined) routing.add(record.id, address, true).catch(() => {});
  };

  const banned = (peer: string): boolean => {
    const until = bans.get(peer);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    bans.delete(peer);
    return false;
  };

  const remember = (record: PeerRecord): Known => {
    let known = peers.get(record.idHex);
    if (known === undefined) {
      if (peers.size >= options.maxPeers) evictOne();
      known = { record, connected: false, lastSeen: 0, offline: false, lastDial: 0 };
      peers.set(record.idHex, known);
      emit({ type: 'peer:discovery', peer: record.idHex, addresses: record.addresses });
    } else if (known.record !== record) {
      known.record.adopt(record);
    }
    return known;
  };

  /**
   * Forget the peer learned longest ago that is neither a session nor a contact. The map keeps
   * insertion order: sessions and contacts met at its front go to its back, so each eviction
   * looks at few entries (every lookup's answers are learned, so this runs often).
   */
  const evictOne = (): void => {
    for (let looked = peers.size; looked > 0; looked--) {
      const [id, known] = peers.entries().next().value!;
      peers.delete(id);
      if (!known.connected && routing.get(id) === undefined) return;
      peers.set(id, known);
    }
  };

  /** The answered contacts closest to `target`, as their records. */
  const closestRecords = (target: Uint8Array, count: number): PeerRecord[] =>
    routing
      .closest(target, count)
      .map((contact) => peers.get(contact.idHex)?.record)
      .filter((record): record is PeerRecord => record !== undefined);

  const tick = (): void => {
    const now = Date.now();
    let connected = 0;
    for (const [id, known] of peers) {
      if (!known.connected) continue;
      if (now - known.lastSeen > options.livenessTimeoutMs) {
        known.connected = false;
        known.offline = true;
        routing.remove(id);
        ctx.log.info({ peer: id }, 'peer offline: no answer within the liveness timeout');
        detached(mainLoop.send({ type: 'disconnect', peer: id, reason: 'liveness timeout' }));
        continue;
      }
      connected++;
      write.send({ type: 'send', peer: id, message: { type: 'alive', n: nextPing++ } }).catch(() => {});
    }
    // A session costs a ping each interval and a connection's state: past the pool's target,
    // close the ones nobody used for a while. Kademlia needs no standing connection to a
    // contact; a lookup dials it again when it needs it.
    if (options.idleTimeoutMs > 0 && connected > options.targetPeers) closeIdle(connected - options.targetPeers);
    // Keep the pool near its target from the known peers not tried recently.
    for (const [id, known] of peers) {
      if (connected >= options.targetPeers) break;
      if (known.connected || banned(id) || now - known.lastDial < REDIAL_BACKOFF_MS) continue;
      if (known.record.addresses.length === 0) continue;
      known.lastDial = now;
      connected++;
      mainLoop.call({ type: 'connect', peer: id, addresses: known.record.addresses }).catch(() => void (known.offline = true));
    }
  };
  const closeIdle = (excess: number): void => {
    read.call({ type: 'idle', olderThanMs: options.idleTimeoutMs }).then(
      (idle) => {
        for (const peer of idle.slice(0, excess)) {
          if (peers.get(peer)?.connected !== true) continue;
          detached(mainLoop.send({ type: 'disconnect', peer, reason: 'idle', gentle: true }));
        }
      },
      () => {},
    );
  };
  const timer = setInterval(tick, options.livenessIntervalMs);
  timer.unref();

  return {
    handlers: {
      connected: ({ record }) => {
        const known = remember(record);
        emit({ type: 'peer:connect', peer: record.idHex, address: record.addresses[0] ?? '' });
        known.connected = true;
        known.offline = false;
        known.lastSeen = Date.now();
        if (banned(record.idHex)) {
          detached(mainLoop.send({ type: 'disconnect', peer: record.idHex, reason: 'banned' }));
          routing.remove(record.idHex);
        } else {
          addContact(known.record);
        }
      },
      disconnected: ({ peer }) => {
        emit({ type: 'peer:disconnect', peer });
        const known = peers.get(peer);
        if (known === undefined) return;
        known.connected = false;
        known.offline = true;
      },
      message: ({ from, message }) => {
        const known = peers.get(from);
        if (known !== undefined) known.lastSeen = Date.now();
        switch (message.type) {
          case 'alive':
            return write.send({ type: 'send', peer: from, message: { type: 'alive-ack', n: message.n } });
          case 'find-peer': {
            const found = peers.get(toHex(message.id));
            const value = found === undefined ? null : found.record;
            return write.send({ type: 'send', peer: from, message: { type: 'reply', query: message.query, ok: true, value } });
          }
          case 'find-node': {
            const value = closestRecords(message.target, options.k);
            return write.send({ type: 'send', peer: from, message: { type: 'reply', query: message.query, ok: true, value } });
          }
          case 'record': {
            try {
              const record = PeerRecord.of(message.record);
              if (record.idHex === from) remember(record);
            } catch (err) {
              ctx.log.debug({ peer: from, err }, 'ignored a bad record');
            }
            return undefined;
          }
          default:
            return undefined;
        }
      },
      findPeer: async ({ id, timeoutMs }) => {
        if (id === ctx.config.self) return null;
        const known = peers.get(id);
        if (known !== undefined) return known.record;
        const asked = [...peers.entries()].filter(([, peer]) => peer.connected).map(([peer]) => peer);
        if (asked.length === 0) return null;
        const { results } = await api.call({
          type: 'query',
          peers: asked,
          request: { type: 'find-peer', id: Buffer.from(id, 'hex') },
          expect: asked.length,
          ...(timeoutMs === undefined ? {} : { timeoutMs }),
        });
        for (const result of results) {
          if (!result.ok || result.value === null || result.value === undefined) continue;
          try {
            const record = PeerRecord.of(result.value);
            if (record.idHex === id) {
              // The peer that knew it can relay to it while there is no direct session.
              detached(write.send({ type: 'route', peer: id, via: result.from }));
              return remember(record).record;
            }
          } catch {
            // A peer answered with a bad record: ignore that answer.
          }
        }
        return null;
      },
      ban: ({ peer, ms }) => {
        bans.set(peer, Date.now() + ms);
        return mainLoop.send({ type: 'disconnect', peer, reason: 'banned' });
      },
      isBanned: ({ peer }) => banned(peer),
      closest: ({ target, count }) => closestRecords(target, count),
      learn: ({ records }) => {
        for (const record of records) if (record.idHex !== ctx.config.self && !banned(record.idHex)) remember(record);
      },
      routingTableSize: () => routing.size,
      unreachable: ({ peer }) => {
        routing.remove(peer);
        const known = peers.get(peer);
        if (known !== undefined && !known.connected) known.offline = true;
      },
      refreshTargets: ({ intervalMs }) => routing.refreshTargets(intervalMs),
      list: () =>
        [...peers.entries()].map(
          ([id, known]): KnownPeer => ({
            id,
            addresses: known.record.addresses,
            connected: known.connected,
            lastSeen: known.lastSeen,
            offline: known.offline,
          }),
        ),
    },
    // findPeer waits on the network: let other commands in meanwhile.
    concurrency: 64,
    stop: () => clearInterval(timer),
  };
});
