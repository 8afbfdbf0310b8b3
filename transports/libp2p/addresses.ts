import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { TransportError } from '../transport-error.ts';

/**
 * The address forms of the libp2p transport: `/ip4|ip6/<host>/tcp/<port>`, optionally followed
 * by `/p2p/<peer id>`. Peer ids are base58btc (`12D3KooW...` for Ed25519) or a CID in base32.
 */
const LIBP2P_ADDRESS = /^\/ip[46]\/[^/]+\/tcp\/\d+(\/p2p\/[1-9A-HJ-NP-Za-km-z]+|\/p2p\/b[a-z2-7]+)?$/;

export function isLibp2pAddress(address: string): boolean {
  return LIBP2P_ADDRESS.test(address);
}

export interface ParsedAddress {
  /** `/ip4|ip6/<host>/tcp/<port>`, without the peer id. */
  transport: Multiaddr;
  host: { proto: 'ip4' | 'ip6'; value: string };
  port: number;
  /** The peer id the address names, if it names one. */
  peer: string | undefined;
}

export function parseAddress(address: string): ParsedAddress {
  if (!isLibp2pAddress(address)) throw new TransportError('ERR_ADDRESS_INVALID', `not a libp2p TCP multiaddr: ${address}`);
  let components: { name: string; value?: string }[];
  try {
    components = multiaddr(address).getComponents();
  } catch {
    throw new TransportError('ERR_ADDRESS_INVALID', `not a multiaddr: ${address}`);
  }
  const [ip, tcp, p2p] = components;
  if ((ip?.name !== 'ip4' && ip?.name !== 'ip6') || ip.value === undefined || tcp?.name !== 'tcp') {
    throw new TransportError('ERR_ADDRESS_INVALID', `not a libp2p TCP multiaddr: ${address}`);
  }
  const port = Number(tcp.value);
  return {
    transport: multiaddr(`/${ip.name}/${ip.value}/tcp/${port}`),
    host: { proto: ip.name, value: ip.value },
    port,
    peer: p2p?.value,
  };
}

/** `address` naming `peer`, unless it names one already. */
export function withPeer(address: string, peer: string): string {
  return address.includes('/p2p/') ? address : `${address}/p2p/${peer}`;
}
