/**
 * The baseline of the DHT benchmark: js-libp2p's @libp2p/kad-dht, N nodes in this one process
 * over TCP on loopback (noise + yamux), put and get of random records at a given concurrency.
 *
 * As a module: measureKadDht(options). As a script, so that memory is measured in a process of
 * its own (run it with --expose-gc so heap figures follow a full gc):
 *   node --expose-gc bench/kad-dht.ts --nodes 20 --records 50 --concurrency 32 --json
 * prints exactly one JSON line of DhtRunFigures on stdout; diagnostics go to stderr.
 *
 * Memory per node: (RSS once all nodes are started, bootstrapped and the records put) minus
 * (RSS before creating any node), divided by N; heapUsed likewise, each read after
 * global.gc?.(). It includes the records stored (every node holds every record when N <= k = 20).
 * Idle: the same once bootstrapped, before any put. Marginal: (idle reading) minus (the reading
 * with node 0 alone, started and settled), divided by N - 1 (see DhtRunFigures).
 *
 * Throughput counts ok operations over the phase's wall time. All N nodes share one thread, so
 * at concurrency 32 kad-dht is CPU-bound and latency is mostly queueing (p50 ~ 32 / ops per s).
 * Its get does not stop at the first value: it runs the whole query, then yields the best value.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { kadDHT, removePublicAddressesMapper, type SingleKadDHT } from '@libp2p/kad-dht';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryMb, runAsScript, runFigures, runPhase, type DhtRunFigures, type DhtRunOptions, type Outcome } from './dht-figures.ts';
import { now } from './measure.ts';

export interface KadDhtOptions extends DhtRunOptions {
  signal?: AbortSignal;
}

/** A put or get still running after this counts as failed rather than holding up the run. */
const OP_TIMEOUT_MS = 30_000;
/** How long bootstrap may take to fill every routing table before the run goes on regardless. */
const BOOTSTRAP_TIMEOUT_MS = 60_000;
/**
 * Records live under a namespace of their own: kad-dht refuses keys without a `/ns/` prefix that
 * has a validator and a selector. The 32 random key bytes follow it.
 */
const NAMESPACE = 'bench';
/**
 * How long node 0 runs alone before the reading the marginal memory per node starts from: past
 * kad-dht's first self-query (QUERY_SELF_INITIAL_INTERVAL, 1 s after start), so that it is idle.
 * Left out of bootstrapMs. mydht's side waits as long.
 */
const SETTLE_MS = 1500;

async function createNode() {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      // All N nodes dial from one host, 127.0.0.1; libp2p refuses a host's sixth inbound
      // connection within a second (inboundConnectionThreshold) unless the host is allowed.
      // N nodes on N hosts would never meet that limit, so loopback is exempt here.
      allow: ['/ip4/127.0.0.0/ipcidr/8'],
    },
    services: {
      // kad-dht depends on identify (to learn that a peer speaks the DHT protocol) and ping.
      identify: identify(),
      ping: ping(),
      dht: kadDHT({
        // The LAN DHT of kad-dht's docs: its own protocol, and a mapper that keeps private
        // addresses. The default mapper drops them, so loopback peers never enter the table.
        protocol: '/ipfs/lan/kad/1.0.0',
        peerInfoMapper: removePublicAddressesMapper,
        // Server from the start: no public address will ever switch it to server mode.
        clientMode: false,
        validators: { [NAMESPACE]: async () => {} },
        selectors: { [NAMESPACE]: () => 0 },
      }),
    },
  });
}

type Node = Awaited<ReturnType<typeof createNode>>;

/** kadDHT() is typed as the plain KadDHT; the single (non-dual) DHT it builds has the table. */
function dhtOf(node: Node): SingleKadDHT {
  return node.services.dht as SingleKadDHT;
}

/**
 * Every node dials node 0, as nodes would dial one bootstrap peer; then each node whose routing
 * table lacks some of the other nodes (k = 20 fits them all when N <= 21) runs a lookup of its
 * own id, until none lacks any. kad-dht runs such a self-query by itself only once, 1 s after
 * start (then every 5 min), which may come before the dial: tables were left part-filled.
 * Gives up after BOOTSTRAP_TIMEOUT_MS, saying so on stderr.
 */
async function bootstrap(nodes: Node[], signal: AbortSignal | undefined): Promise<void> {
  const [first, ...rest] = nodes;
  if (first === undefined) return;
  const address = first.getMultiaddrs()[0];
  if (address === undefined) throw new Error('node 0 has no listen address');
  const options = signal === undefined ? {} : { signal };
  await Promise.all(rest.map((node) => node.dial(address, options)));
  const want = Math.min(nodes.length - 1, dhtOf(first).k);
  const deadline = now() + BOOTSTRAP_TIMEOUT_MS;
  for (;;) {
    const short = nodes.filter((node) => dhtOf(node).routingTable.size < want);
    if (short.length === 0) return;
    if (now() > deadline) {
      const sizes = nodes.map((node) => dhtOf(node).routingTable.size);
      console.error(`kad-dht: bootstrap timed out; routing table sizes ${sizes.join(',')}`);
      return;
    }
    await Promise.all(
      short.map(async (node) => {
        for await (const _ of dhtOf(node).getClosestPeers(node.peerId.toMultihash().bytes, options));
      }),
    );
    // Peers met in a lookup enter the table through a background queue: give it a moment.
    await sleep(100, undefined, options);
  }
}

function opSignal(signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(OP_TIMEOUT_MS);
  return signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
}

/** A random node index other than `except`. */
function otherThan(except: number, count: number): number {
  const pick = randomInt(count - 1);
  return pick >= except ? pick + 1 : pick;
}

export async function measureKadDht(options: KadDhtOptions): Promise<DhtRunFigures> {
  const { nodes: count, records, concurrency, valueBytes = 100, signal } = options;
  if (count < 2) throw new RangeError('kad-dht needs at least 2 nodes');
  const before = memoryMb(true);
  const start = now();
  // Node 0 alone first, settled, for the reading the marginal cost per node starts from.
  const nodes = [await createNode()];
  try {
    const paused = now();
    await sleep(SETTLE_MS, undefined, signal === undefined ? {} : { signal });
    const one = memoryMb();
    const pauseMs = now() - paused;
    nodes.push(...(await Promise.all(Array.from({ length: count - 1 }, createNode))));
    await bootstrap(nodes, signal);
    const bootstrapMs = now() - start - pauseMs;
    const idleReading = memoryMb();

    const prefix = new TextEncoder().encode(`/${NAMESPACE}/`);
    const keys = Array.from({ length: records }, () => Buffer.concat([prefix, randomBytes(32)]));
    const values = Array.from({ length: records }, () => randomBytes(valueBytes));
    const putters = Array.from({ length: records }, () => randomInt(count));

    // A put is ok when it completes and at least one other node acknowledged storing the
    // record: kad-dht stores it locally first and reports failed remote puts as events only.
    const put = await runPhase(records, concurrency, async (i): Promise<Outcome> => {
      try {
        let acks = 0;
        for await (const event of dhtOf(nodes[putters[i]!]!).put(keys[i]!, values[i]!, { signal: opSignal(signal) })) {
          if (event.name === 'PEER_RESPONSE') acks++;
        }
        return acks > 0 ? 'ok' : 'failed';
      } catch {
        return 'failed';
      }
    });
    const after = memoryMb();

    // Each record is got from a node other than the one that put it. kad-dht's get yields the
    // best value last, after its whole query has run.
    const get = await runPhase(records, concurrency, async (i): Promise<Outcome> => {
      try {
        let value: Uint8Array | undefined;
        const getter = nodes[otherThan(putters[i]!, count)]!;
        for await (const event of dhtOf(getter).get(keys[i]!, { signal: opSignal(signal) })) {
          if (event.name === 'VALUE') value = event.value;
        }
        return value !== undefined && Buffer.from(value).equals(values[i]!) ? 'ok' : 'notFound';
      } catch {
        return 'failed';
      }
    });

    return runFigures({ system: 'kad-dht', nodes: count, records, concurrency, bootstrapMs, put, get, memory: { before, one, idle: idleReading, after } });
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
  }
}

if (import.meta.main) await runAsScript({ records: 50, concurrency: 1 }, (options) => measureKadDht(options));
