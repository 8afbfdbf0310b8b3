import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MyDhtNode } from '../node/node.ts';
import type { NodeProtocols } from '../node/protocols.ts';

/** Lookup durations, seconds: from a local answer (1 ms) to a slow network (10 s). */
const LOOKUP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const HOP_BUCKETS = [0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20];

/**
 * The node's Prometheus metrics, named `mydht_*`, in a registry of its own (several nodes may
 * share a process). Counts kept by services, wherever they run, are read when scraped; lookups
 * are observed as the node finishes them. The process defaults come along.
 */
export function createMetrics(node: MyDhtNode): Registry {
  const register = new Registry();
  collectDefaultMetrics({ register });

  new Counter({
    name: 'mydht_messages_total',
    help: 'Session messages received (in) and sent (out), by type.',
    labelNames: ['direction', 'type'],
    registers: [register],
    async collect() {
      const [received, sent] = await Promise.all([
        node.system.get<NodeProtocols['read']>('read').call({ type: 'messages' }),
        node.system.get<NodeProtocols['write']>('write').call({ type: 'messages' }),
      ]);
      this.reset();
      for (const [type, count] of Object.entries(received)) this.inc({ direction: 'in', type }, count);
      for (const [type, count] of Object.entries(sent)) this.inc({ direction: 'out', type }, count);
    },
  });

  new Counter({
    name: 'mydht_messages_rate_limited_total',
    help: "Session messages dropped for going over their peer's rate limit.",
    registers: [register],
    async collect() {
      this.reset();
      this.inc(await node.system.get<NodeProtocols['read']>('read').call({ type: 'limited' }));
    },
  });

  new Counter({
    name: 'mydht_handshakes_total',
    help: 'Handshakes that opened a session (result="ok"), and those refused, by reason (an error code).',
    labelNames: ['result', 'reason'],
    registers: [register],
    async collect() {
      const { handshakes } = await node.connectionStatus();
      this.reset();
      this.inc({ result: 'ok', reason: '' }, handshakes.ok);
      for (const [reason, count] of Object.entries(handshakes.rejected)) this.inc({ result: 'rejected', reason }, count);
    },
  });

  new Counter({
    name: 'mydht_handshakes_resumed_total',
    help: 'Of the handshakes that opened a session, those where the peer proved itself with the secret of an earlier session rather than a signature.',
    registers: [register],
    async collect() {
      this.reset();
      this.inc((await node.connectionStatus()).handshakes.resumed);
    },
  });

  const lookups = new Counter({ name: 'mydht_lookups_total', help: 'Lookups finished, by query mode, what they sought, and whether they succeeded.', labelNames: ['mode', 'want', 'result'], registers: [register] });
  const duration = new Histogram({ name: 'mydht_lookup_duration_seconds', help: 'How long lookups took, by query mode.', labelNames: ['mode'], buckets: LOOKUP_BUCKETS, registers: [register] });
  const hops = new Histogram({ name: 'mydht_lookup_hops', help: 'The deepest hop that answered a successful lookup.', buckets: HOP_BUCKETS, registers: [register] });
  node.on('lookup', ({ mode, want, ok, ms, hops: depth }) => {
    lookups.inc({ mode, want, result: ok ? 'ok' : 'failed' });
    duration.observe({ mode }, ms / 1000);
    if (ok) hops.observe(depth);
  });

  new Gauge({
    name: 'mydht_routing_table_size',
    help: 'Contacts in the routing table.',
    registers: [register],
    async collect() {
      this.set(await node.routingTableSize());
    },
  });
  new Gauge({
    name: 'mydht_sessions',
    help: 'Authenticated sessions with peers.',
    registers: [register],
    async collect() {
      this.set((await node.connectionStatus()).sessions);
    },
  });

  new Gauge({
    name: 'mydht_service_queue_depth',
    help: "Commands accepted by a service and not yet handled, by service and spawner.",
    labelNames: ['service', 'spawner'],
    registers: [register],
    collect() {
      this.reset();
      for (const service of node.services()) this.set({ service: service.name, spawner: service.spawner }, service.queued);
    },
  });
  new Counter({
    name: 'mydht_service_restarts_total',
    help: 'Restarts of a service by its supervisor, by service.',
    labelNames: ['service'],
    registers: [register],
    collect() {
      this.reset();
      for (const service of node.services()) this.inc({ service: service.name }, service.restarts);
    },
  });

  new Gauge({
    name: 'mydht_store_bytes',
    help: 'Bytes of record values this node holds.',
    registers: [register],
    async collect() {
      this.set((await node.status()).store?.bytes ?? 0);
    },
  });
  new Gauge({
    name: 'mydht_store_records',
    help: 'Records this node holds.',
    registers: [register],
    async collect() {
      this.set((await node.status()).store?.records ?? 0);
    },
  });
  return register;
}
