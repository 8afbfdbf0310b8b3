import { COUNTER_BYTES, DATA_HEAD_BYTES, HEADER_BYTES, HELLO_BYTES, TAG_BYTES } from './packet.ts';
import { ConfigError } from '../../src/runtime/errors.ts';

/** The tunable limits of the UDP transport; every one has its default here. */
export interface UdpLimitOptions {
  /**
   * The largest datagram sent or taken, bytes. 1,280 is IPv6's minimum MTU, so a datagram is
   * never fragmented by IP on any path (1,500-byte Ethernet minus headers would be 1,452 for IPv6).
   */
  maxDatagramBytes?: number;
  /**
   * Datagrams one message may span. A turn's writes are cut into messages of at most this many
   * datagrams, and a DATA naming more fragments is dropped: 64 x 1,230 bytes = ~77 KiB.
   */
  maxFragments?: number;
  /** DATA datagrams in flight, unacknowledged, at most per connection (no congestion control: a fixed window). */
  sendWindow?: number;
  /** Early (out-of-order) datagrams a receiver keeps at most per connection; at least the send window. */
  receiveWindow?: number;
  /** An unfinished message whose missing datagram has not come for this long fails its connection, ms. */
  reassemblyTimeoutMs?: number;
  /** Retransmissions of one datagram before the peer is deemed gone, ms. */
  maxRetransmissions?: number;
  /** The first retransmission timeout, before any round trip is measured, ms (RFC 6298 says 1 s; a LAN needs less). */
  initialRtoMs?: number;
  /** The retransmission timeout never goes below this, ms: an event loop's pauses are not losses. */
  minRtoMs?: number;
  /** Nor above this, ms, however many times it doubled. */
  maxRtoMs?: number;
}

export type UdpLimits = Required<UdpLimitOptions> & {
  /** Payload bytes in one DATA datagram, room left for the seal whether or not it is used. */
  payloadBytes: number;
};

export function resolveLimits(options: UdpLimitOptions = {}): UdpLimits {
  const limits = {
    maxDatagramBytes: options.maxDatagramBytes ?? 1280,
    maxFragments: options.maxFragments ?? 64,
    sendWindow: options.sendWindow ?? 128,
    receiveWindow: options.receiveWindow ?? 256,
    reassemblyTimeoutMs: options.reassemblyTimeoutMs ?? 10_000,
    maxRetransmissions: options.maxRetransmissions ?? 8,
    initialRtoMs: options.initialRtoMs ?? 100,
    minRtoMs: options.minRtoMs ?? 40,
    maxRtoMs: options.maxRtoMs ?? 4_000,
  };
  const payloadBytes = limits.maxDatagramBytes - HEADER_BYTES - COUNTER_BYTES - TAG_BYTES - DATA_HEAD_BYTES;
  if (limits.maxDatagramBytes < HELLO_BYTES + 64 || limits.maxDatagramBytes > 65_507) {
    throw new ConfigError(`maxDatagramBytes must be between ${HELLO_BYTES + 64} and 65507`);
  }
  if (limits.maxFragments < 1 || limits.maxFragments > 65_535) throw new ConfigError('maxFragments must be between 1 and 65535');
  if (limits.receiveWindow < limits.sendWindow) throw new ConfigError('receiveWindow must be at least sendWindow');
  return { ...limits, payloadBytes };
}
