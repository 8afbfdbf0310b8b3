import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { identify, type Identify } from '@libp2p/identify';
import type { Libp2p } from '@libp2p/interface';
import { ping, type Ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';
import type { NodeIdentity } from '../../src/node/identity.ts';
import { KEEP_ALIVE_INTERVAL_MS, MAX_MUXED_STREAMS, type ResolvedOptions } from './options.ts';

/**
 * How long libp2p's own peer store keeps a peer's addresses, and a peer without any, ms (libp2p's
 * defaults, stated). mydht keeps its peers in its own store; libp2p's only serves its dials, and
 * these ages are what bound it.
 */
const PEER_ADDRESS_AGE_MS = 60 * 60_000;
const PEER_AGE_MS = 6 * 60 * 60_000;

/** The libp2p node under the transport: identify and ping beside the mydht protocol. */
export type MydhtLibp2p = Libp2p<{ identify: Identify; ping: Ping }>;

/**
 * A started libp2p node under the node's own key, with nothing running but what mydht needs
 * and what lets another libp2p node check it (identify, ping): no peer discovery, no DHT, no
 * relay, no connection monitor (mydht's liveness watches its sessions), no reconnection, and
 * no listen address yet (each `listen()` adds its own). Every limit and timeout is set here
 * rather than inherited, so a libp2p upgrade cannot change them under us.
 */
export async function startLibp2p(identity: NodeIdentity, options: ResolvedOptions): Promise<MydhtLibp2p> {
  const privateKey = await generateKeyPairFromSeed('Ed25519', identity.exportSeed());
  return createLibp2p({
    privateKey,
    start: true,
    addresses: { listen: [] },
    nodeInfo: { name: 'mydht', version: '1.0.0', userAgent: 'mydht/1.0.0' },
    transports: [
      tcp({
        inboundSocketInactivityTimeout: options.socketInactivityTimeoutMs,
        outboundSocketInactivityTimeout: options.socketInactivityTimeoutMs,
      }),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        enableKeepAlive: true,
        keepAliveInterval: KEEP_ALIVE_INTERVAL_MS,
        maxInboundStreams: MAX_MUXED_STREAMS,
        maxOutboundStreams: MAX_MUXED_STREAMS,
      }),
    ],
    peerDiscovery: [],
    peerStore: { maxAddressAge: PEER_ADDRESS_AGE_MS, maxPeerAge: PEER_AGE_MS },
    connectionMonitor: { enabled: false },
    connectionManager: {
      maxConnections: options.maxConnections,
      maxIncomingPendingConnections: options.maxPendingConnections,
      inboundConnectionThreshold: options.inboundConnectionsPerSecond,
      allow: options.allow,
      dialTimeout: options.dialTimeoutMs,
      inboundUpgradeTimeout: options.upgradeTimeoutMs,
      inboundStreamProtocolNegotiationTimeout: options.protocolNegotiationTimeoutMs,
      outboundStreamProtocolNegotiationTimeout: options.protocolNegotiationTimeoutMs,
      // Only peers tagged keep-alive are redialled; none are, and mydht redials by itself.
      reconnectRetries: 0,
    },
    services: {
      identify: identify({ timeout: options.serviceTimeoutMs }),
      ping: ping({ timeout: options.serviceTimeoutMs }),
    },
  });
}
