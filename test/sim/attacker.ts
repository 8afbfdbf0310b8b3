/**
 * The simulator's eclipse attacker: service modules that replace a node's peer store and
 * key-value service (`createNode({ modules, global })`), the state the attacking nodes share, and
 * the grinding of their identities.
 *
 * The attacker targets keys already stored. It grinds key pairs until it holds, for each target,
 * ids sharing more leading bits with it than any honest node's; a peer id is the hash of a public
 * key, so that is the only way to sit close to a target. Those Sybils join as honest nodes (they
 * are real nodes, reachable, and answer), all from a few /24s. Once the attack is on, each answers
 * every FIND_NODE and FIND_VALUE with the accomplices closest to the target, which are closer than
 * any honest peer, and never with a value: a lookup that asks one is led among Sybils and, unless
 * it defends itself, ends there, the honest holders never asked. Sybils drop what they are asked to
 * store, saying they stored it. They share one plan: this module's state, since a simulation runs
 * every node in one process.
 */
import { createHash } from 'node:crypto';
import honestKv from '../../services/kv.ts';
import honestPeerStore, { type PeerStoreConfig } from '../../services/peer-store.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { PeerRecord } from '../../src/node/peer-record.ts';
import type { GlobalProtocol, NodeProtocols } from '../../src/node/protocols.ts';
import { defineService } from '../../src/runtime/service.ts';
import { compareDistance } from '../../src/dht/xor.ts';

/** What the attacking nodes share. */
export const attack = {
  active: false,
  /** The attacking nodes' own records. */
  accomplices: [] as PeerRecord[],
};

/** Leading bits two ids share. */
export function sharedBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return a.length * 8;
}

/**
 * Grind `perTarget` identities for each target, each sharing at least `bits` leading bits with
 * it, from seeded keys (so a seed gives the same Sybils). Each key tried is checked against every
 * target: the cost is about targets x perTarget x 2^bits / targets key pairs.
 */
export function grind(seed: number, targets: readonly Uint8Array[], perTarget: number, bits: number): NodeIdentity[][] {
  const found: NodeIdentity[][] = targets.map(() => []);
  for (let tried = 0; found.some((list) => list.length < perTarget); tried++) {
    const identity = NodeIdentity.fromSeed(new Uint8Array(createHash('sha256').update(`mydht sim sybil ${seed} ${tried}`).digest()));
    targets.forEach((target, i) => {
      if (found[i]!.length < perTarget && sharedBits(identity.id, target) >= bits) found[i]!.push(identity);
    });
  }
  return found;
}

/** An attacker's answer about `target`: the accomplices closest to it. */
function lie(target: Uint8Array, count: number): PeerRecord[] {
  return [...attack.accomplices].sort((a, b) => compareDistance(target, a.id, b.id)).slice(0, count);
}

/** The peer store of an attacking node: honest until the attack, then it names only accomplices. */
export const peerStore = defineService<NodeProtocols['peer-store'], PeerStoreConfig>(async (ctx) => {
  const body = await honestPeerStore.init(ctx);
  const closest = body.handlers.closest;
  return { ...body, handlers: { ...body.handlers, closest: (command) => (attack.active ? lie(command.target, command.count) : closest(command)) } };
});

/** The key-value service of an attacking node: during the attack it has nothing, and keeps nothing. */
export const kv = defineService<GlobalProtocol, unknown>(async (ctx) => {
  const body = await honestKv.init(ctx as Parameters<typeof honestKv.init>[0]);
  /** The attacker's reply to a get or a put, or undefined for what it answers honestly. */
  const blackHole = (command: { type: string }): { reply: unknown } | undefined => {
    if (!attack.active) return undefined;
    if (command.type === 'get') return { reply: null };
    if (command.type === 'put') return { reply: { stored: true } };
    return undefined;
  };
  return {
    ...body,
    handlers: {
      local: (command) => {
        const lie = blackHole(command.command);
        return lie === undefined ? body.handlers.local(command) : lie.reply;
      },
      distant: (command) => {
        const lie = blackHole(command.command);
        return lie === undefined ? body.handlers.distant(command) : lie.reply;
      },
    },
  };
});
