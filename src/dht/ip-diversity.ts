/**
 * IP diversity of a routing table (discv5's limits): at most 2 peers of one /24 in a bucket and 10
 * in the table, so one operator with one subnet cannot fill the table (Sybil, eclipse). IPv6
 * addresses group by /48, the usual allocation to one site. Loopback and private ranges are
 * exempt when the switch says so, or a local testnet could not hold more than 10 nodes.
 */
export interface DiversityLimits {
  perBucket: number;
  perTable: number;
  /** Loopback, private and link-local addresses are not limited (local testnets). */
  exemptPrivate: boolean;
}

export const DEFAULT_DIVERSITY: DiversityLimits = { perBucket: 2, perTable: 10, exemptPrivate: true };

/** The host (IP) an address comes from, or undefined when it is not limited (exempt, or not an IP). */
export function hostOf(address: string, exemptPrivate: boolean): string | undefined {
  if (subnetOf(address, exemptPrivate) === undefined) return undefined;
  return /^\/ip[46]\/([^/]+)/.exec(address)?.[1];
}

/** The subnet an address counts against, or undefined when it is not limited. */
export function subnetOf(address: string, exemptPrivate: boolean): string | undefined {
  const v4 = /^\/ip4\/(\d+)\.(\d+)\.(\d+)\.(\d+)(\/|$)/.exec(address);
  if (v4 !== null) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    const isPrivate = a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
    if (exemptPrivate && isPrivate) return undefined;
    return `ip4:${v4[1]}.${v4[2]}.${v4[3]}`;
  }
  const v6 = /^\/ip6\/([0-9a-fA-F:]+)(\/|$)/.exec(address);
  if (v6 !== null) {
    const groups = expandIpv6(v6[1]!);
    if (groups === undefined) return undefined;
    const isPrivate = groups.every((g, i) => (i < 7 ? g === 0 : g === 1)) || (groups[0]! & 0xfe00) === 0xfc00 || (groups[0]! & 0xffc0) === 0xfe80;
    if (exemptPrivate && isPrivate) return undefined;
    return `ip6:${groups.slice(0, 3).join(':')}`;
  }
  return undefined; // memory and other transports carry no IP to limit
}

function expandIpv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<string>(missing).fill('0'), ...tail].map((g) => Number.parseInt(g, 16));
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The first `count` of `sorted` (closest first), none of a group past `perGroup`: a lookup's k
 * closest under the same limit as a bucket, so peers of one subnet take at most `perGroup` of its
 * places. Items of no group are not limited.
 */
export function firstPerGroup<T>(sorted: readonly T[], count: number, perGroup: number, groupOf: (item: T) => string | undefined): T[] {
  if (perGroup === Infinity) return sorted.slice(0, count);
  const taken: T[] = [];
  // Made on the first item of a group: on loopback and private networks there is none.
  let inGroup: Map<string, number> | undefined;
  for (const item of sorted) {
    if (taken.length >= count) break;
    const group = groupOf(item);
    if (group !== undefined) {
      inGroup ??= new Map();
      const n = inGroup.get(group) ?? 0;
      if (n >= perGroup) continue;
      inGroup.set(group, n + 1);
    }
    taken.push(item);
  }
  return taken;
}
