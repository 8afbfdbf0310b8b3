import type { NodeIdentity } from '../../src/node/identity.ts';

/** The protocol mydht speaks on its libp2p streams: one stream is one mydht connection. */
export const MYDHT_PROTOCOL = '/mydht/1.0.0';

export interface Libp2pTransportOptions {
  /**
   * The node's identity. Its Ed25519 key becomes the libp2p key, so the peer Noise authenticates
   * is the peer the mydht handshake names. Required: a random libp2p key would break the binding.
   */
  identity: NodeIdentity;
  /** A dial gives up after this long when the caller gives no `timeout`, ms. Default 10 s, as TCP's. */
  dialTimeoutMs?: number;
  /**
   * An inbound connection must finish Noise and yamux within this, ms. Default 10 s: libp2p's own,
   * and the length of the mydht handshake that follows.
   */
  upgradeTimeoutMs?: number;
  /**
   * A stream must agree on its protocol within this, ms (multistream-select, one round trip).
   * Default 10 s. An outbound stream is bounded by the dial's own deadline instead.
   */
  protocolNegotiationTimeoutMs?: number;
  /**
   * A gentle close waits this long for the other end to close its side, then resets, ms.
   * Default 5 s: a half-closed stream must not linger on a peer that never answers the FIN.
   */
  closeTimeoutMs?: number;
  /**
   * `/mydht/1.0.0` streams open at once on one libp2p connection, in each direction. Default 16:
   * the main loop keeps one session per peer, plus a duplicate for its 2 s grace and a stream or
   * two in their handshake. Twice the main loop's per-address limit (8), so that limit, which is
   * counted (ERR_TOO_MANY_FROM_ADDRESS), speaks first; this one only bounds what a peer costs.
   */
  maxStreamsPerConnection?: number;
  /**
   * Bytes buffered for a stream before it is reset. Default 64 MiB: 64 maximum frames. A safety
   * net, not flow control: the node writes what its write service hands it without waiting for
   * `onDrain`, so a burst to one peer (400 frames of 60 KiB, tested) must fit; the main loop
   * closes a connection whose peer leaves more than `maxUnreadBytes` (64 MiB) unread, and this
   * bounds a stream on its own.
   */
  maxWriteBufferBytes?: number;
  /**
   * Bytes held for a stream before its reader is attached, before the stream is reset. Default
   * 4 MiB (libp2p's): the reader attaches within a turn of the event loop and never pauses.
   */
  maxReadBufferBytes?: number;
  /** libp2p connections at most, before it prunes the least valuable. Default 300 (libp2p's). */
  maxConnections?: number;
  /** Inbound libp2p connections still in Noise or yamux at most. Default 10 (libp2p's). */
  maxPendingConnections?: number;
  /** Inbound libp2p connections one host may open per second. Default 5 (libp2p's). */
  inboundConnectionsPerSecond?: number;
  /**
   * Address ranges (multiaddrs, `/ipcidr/` allowed) exempt from the per-second limit and from
   * pruning. Default loopback only, where a local testnet runs all its nodes; the main loop
   * exempts private addresses from its own per-address limit the same way.
   */
  allow?: string[];
  /**
   * A libp2p connection's socket that carried nothing for this long is closed, ms. Default 2 min
   * (libp2p's); yamux keep-alives every 30 s keep a live one busy.
   */
  socketInactivityTimeoutMs?: number;
  /** identify and ping give up after this long, ms. Default 10 s. */
  serviceTimeoutMs?: number;
}

export type ResolvedOptions = Required<Omit<Libp2pTransportOptions, 'identity'>>;

const MiB = 1024 * 1024;

export const DEFAULTS: ResolvedOptions = {
  dialTimeoutMs: 10_000,
  upgradeTimeoutMs: 10_000,
  protocolNegotiationTimeoutMs: 10_000,
  closeTimeoutMs: 5_000,
  maxStreamsPerConnection: 16,
  maxWriteBufferBytes: 64 * MiB,
  maxReadBufferBytes: 4 * MiB,
  maxConnections: 300,
  maxPendingConnections: 10,
  inboundConnectionsPerSecond: 5,
  allow: ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128'],
  socketInactivityTimeoutMs: 120_000,
  serviceTimeoutMs: 10_000,
};

/** yamux keep-alive period, ms: well inside the socket inactivity timeout (libp2p's default). */
export const KEEP_ALIVE_INTERVAL_MS = 30_000;
/**
 * yamux streams per libp2p connection, each way, all protocols together: ours, plus identify,
 * identify-push and ping, which come and go. Far below yamux's 1,000, which would let one peer
 * hold a thousand stream states here.
 */
export const MAX_MUXED_STREAMS = 64;

export function resolveOptions(options: Libp2pTransportOptions): ResolvedOptions {
  const resolved: ResolvedOptions = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof ResolvedOptions)[]) {
    const value = options[key];
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value;
  }
  return resolved;
}
