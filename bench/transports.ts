/**
 * The transports suite: each transport's connection as bytes, below the node's framing,
 * handshake and services, beside raw loopback sockets measured in the same run.
 *
 * - request round trip: a 100-byte request frame (u32 length prefix) echoed back whole, one at a
 *   time, p50 and p99 over 2,000 trips taken in blocks alternating with the baseline's;
 * - one-way throughput: 64 MiB from dialer to listener in 64 KiB writes, waiting for `onDrain`
 *   whenever `write()` says so, until the listener has every byte; MB/s (10^6 bytes) of the best
 *   of five rounds, alternating with the baseline's.
 *
 * tcp, libp2p and memory are set against raw TCP (node:net); memory too, because what a reader
 * wants of it is how a simulated network compares with the real loopback (an in-process
 * baseline would be memory.ts itself: a copy and a turn of the loop). udp is set against raw UDP
 * (node:dgram), sealed as a node runs it (see transport-pairs.ts), and once more unsealed.
 */
import type { TransportName } from '../src/net/transport.ts';
import { resolveLimits } from '../transports/udp/limits.ts';
import { openRawTcp, type RawTcp } from './baselines/raw-tcp.ts';
import { openRawUdp, type RawUdp } from './baselines/raw-udp.ts';
import type { Figure, Suite } from './figure.ts';
import { alternate, interleavedRoundTrips, percentile, timed } from './measure.ts';
import { bulkStream, echoRequests, openTransportPair } from './transport-pairs.ts';

const REQUEST_BYTES = 100;
/** The request as raw UDP sends it: the same bytes as the framed request, prefix and all. */
const REQUEST_DATAGRAM_BYTES = 4 + REQUEST_BYTES;
const ROUND_TRIPS = { warmup: 500, blocks: 40, perBlock: 50 };
const STREAM_BYTES = 64 * 2 ** 20;
const WRITE_BYTES = 64 * 2 ** 10;
const STREAM_ROUNDS = 5;
/**
 * Raw UDP's blast carries what one of the UDP transport's DATA datagrams carries (1,230 bytes of
 * payload), with as many in flight as its send window allows (128): the difference is then what
 * the reliable, ordered, sealed layer costs, not a datagram size or window of its own.
 */
const UDP = resolveLimits();

/** Each transport as a node runs it, and UDP unsealed as well, to tell its seal's cost from its reliable layer's. */
const SUBJECTS: readonly { name: string; transport: TransportName; seal?: boolean }[] = [
  { name: 'tcp', transport: 'tcp' },
  { name: 'udp', transport: 'udp' },
  { name: 'udp-unsealed', transport: 'udp', seal: false },
  { name: 'libp2p', transport: 'libp2p' },
  { name: 'memory', transport: 'memory' },
];

/** What one transport's figures are set against. */
interface Baseline {
  roundTrip(): Promise<void>;
  roundTripName: string;
  /** Bytes delivered and the time they took, ms. */
  stream(): Promise<{ bytes: number; ms: number }>;
  /** What the baseline is, given the bytes its best round delivered. */
  streamName(bytes: number): string;
}

function tcpBaseline(raw: RawTcp): Baseline {
  return {
    roundTrip: () => raw.roundTrip(),
    roundTripName: 'raw TCP: one 100-byte frame there and back',
    stream: async () => ({ bytes: STREAM_BYTES, ms: await timed(() => raw.stream(STREAM_BYTES, WRITE_BYTES)) }),
    streamName: () => 'raw TCP: 64 MiB in 64 KiB writes, drain at 1 MiB',
  };
}

function udpBaseline(raw: RawUdp): Baseline {
  const count = Math.ceil(STREAM_BYTES / UDP.payloadBytes);
  return {
    roundTrip: () => raw.roundTrip(),
    roundTripName: 'raw UDP: one 104-byte datagram there and back',
    stream: async () => {
      const { delivered, ms } = await raw.blast(count, UDP.payloadBytes, UDP.sendWindow);
      return { bytes: delivered * UDP.payloadBytes, ms };
    },
    streamName: (bytes) => {
      const delivered = bytes / UDP.payloadBytes;
      const of = delivered === count ? 'all' : `${delivered.toLocaleString('en-US')} of them`;
      return `raw UDP: ${count.toLocaleString('en-US')} x ${UDP.payloadBytes.toLocaleString('en-US')} B, ${UDP.sendWindow} in flight, no acks; ${of} delivered`;
    },
  };
}

/** MB/s, 10^6 bytes a second, from bytes and ms. */
function mbPerSecond(bytes: number, ms: number): number {
  return bytes / ms / 1000;
}

/** The round that delivered the most MB/s. */
function fastest(rounds: { bytes: number; ms: number }[]): { bytes: number; ms: number } {
  return rounds.reduce((best, round) => (mbPerSecond(round.bytes, round.ms) > mbPerSecond(best.bytes, best.ms) ? round : best));
}

async function* transportFigures(subject: (typeof SUBJECTS)[number], baseline: Baseline): AsyncGenerator<Figure> {
  const { name } = subject;
  const pair = await openTransportPair(subject.transport, subject.seal === undefined ? {} : { seal: subject.seal });
  try {
    const requests = await pair.connect();
    const request = echoRequests(requests.dialer, requests.listener, REQUEST_BYTES);
    const trips = await interleavedRoundTrips(baseline.roundTrip, request, ROUND_TRIPS);
    for (const p of [50, 99]) {
      yield {
        name: `${name}.round-trip-p${p}`,
        value: percentile(trips.subject, p),
        unit: 'us',
        baseline: baseline.roundTripName,
        baselineValue: percentile(trips.baseline, p),
        better: 'lower',
      };
    }

    const bulk = await pair.connect();
    const stream = bulkStream(bulk.dialer, bulk.listener, WRITE_BYTES);
    const rounds = await alternate(STREAM_ROUNDS, baseline.stream, async () => ({
      bytes: STREAM_BYTES,
      ms: await timed(() => stream(STREAM_BYTES)),
    }));
    const bestBaseline = fastest(rounds.baseline);
    yield {
      name: `${name}.throughput`,
      value: mbPerSecond(STREAM_BYTES, fastest(rounds.subject).ms),
      unit: 'MB/s',
      baseline: baseline.streamName(bestBaseline.bytes),
      baselineValue: mbPerSecond(bestBaseline.bytes, bestBaseline.ms),
      better: 'higher',
    };
  } finally {
    await pair.close();
  }
}

const transports: Suite = {
  name: 'transports',
  async *run() {
    const rawTcp = await openRawTcp();
    const rawUdp = await openRawUdp(REQUEST_DATAGRAM_BYTES);
    try {
      for (const subject of SUBJECTS) {
        yield* transportFigures(subject, subject.transport === 'udp' ? udpBaseline(rawUdp) : tcpBaseline(rawTcp));
      }
    } finally {
      await Promise.all([rawTcp.close(), rawUdp.close()]);
    }
  },
};
export default transports;
