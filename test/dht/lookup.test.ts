import assert from 'node:assert/strict';
import { lookup, type LookupPeer } from '../../src/dht/lookup.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';

const SEED = Number(process.env.LOOKUP_SEED ?? 77);

/** A network of peers, each knowing its 20 closest and 10 random others: routing tables in small. */
function network(size: number, random: SeededRandom) {
  const peers: LookupPeer[] = Array.from({ length: size }, () => {
    const id = new Uint8Array(32).map(() => random.int(0, 255));
    return { id, idHex: Buffer.from(id).toString('hex') };
  });
  const tables = new Map<string, LookupPeer[]>();
  for (const peer of peers) {
    const near = [...peers].filter((p) => p !== peer).sort((a, b) => compareDistance(peer.id, a.id, b.id)).slice(0, 20);
    const far = Array.from({ length: 10 }, () => peers[random.int(0, size - 1)]!).filter((p) => p !== peer);
    tables.set(peer.idHex, [...new Set([...near, ...far])]);
  }
  const closestKnown = (at: LookupPeer, target: Uint8Array): LookupPeer[] =>
    [...tables.get(at.idHex)!].sort((a, b) => compareDistance(target, a.id, b.id)).slice(0, 20);
  return { peers, closestKnown };
}

describe(`iterative lookup (seed ${SEED})`, () => {
  const random = new SeededRandom(SEED);
  const net = network(1000, random);

  it('finds the true 20 closest of 1,000 peers, in O(log n) hops', async () => {
    const hops: number[] = [];
    for (let i = 0; i < 50; i++) {
      const origin = net.peers[random.int(0, 999)]!;
      const target = new Uint8Array(32).map(() => random.int(0, 255));
      const result = await lookup({
        target,
        self: origin.id,
        seeds: net.closestKnown(origin, target),
        ask: async (peer) => ({ peers: net.closestKnown(peer, target) }),
      });
      const truth = net.peers
        .filter((p) => p !== origin)
        .sort((a, b) => compareDistance(target, a.id, b.id))
        .slice(0, 20)
        .map((p) => p.idHex);
      assert.deepEqual(
        result.closest.map((p) => p.idHex),
        truth,
      );
      hops.push(result.hops);
    }
    hops.sort((a, b) => a - b);
    console.log(`      hops over 50 lookups: median ${hops[25]}, max ${hops.at(-1)}`);
    assert.ok(hops.at(-1)! <= 10);
  });

  it('peers that fail are not results, and each peer is asked once', async () => {
    const origin = net.peers[0]!;
    const target = new Uint8Array(32).fill(7);
    const asked = new Map<string, number>();
    const dead = new Set(net.peers.slice(1, 300).map((p) => p.idHex));
    const result = await lookup({
      target,
      self: origin.id,
      seeds: net.closestKnown(origin, target),
      ask: async (peer) => {
        asked.set(peer.idHex, (asked.get(peer.idHex) ?? 0) + 1);
        if (dead.has(peer.idHex)) throw new Error('no answer');
        return { peers: net.closestKnown(peer, target) };
      },
    });
    assert.ok(result.closest.every((p) => !dead.has(p.idHex)));
    assert.ok([...asked.values()].every((times) => times === 1));
    assert.ok(result.failed > 0);
  });

  it('a hop limit of 1 asks only the seeds', async () => {
    const origin = net.peers[1]!;
    const target = new Uint8Array(32).fill(200);
    const seeds = net.closestKnown(origin, target).slice(0, 3);
    const asked: string[] = [];
    const result = await lookup({ target, seeds, hopLimit: 1, ask: async (peer) => (asked.push(peer.idHex), { peers: net.closestKnown(peer, target) }) });
    assert.deepEqual(asked.sort(), seeds.map((p) => p.idHex).sort());
    assert.equal(result.hops, 1);
  });

  it('an AbortSignal ends the lookup', async () => {
    const controller = new AbortController();
    const origin = net.peers[2]!;
    const target = new Uint8Array(32).fill(9);
    const pending = lookup({
      target,
      seeds: net.closestKnown(origin, target),
      signal: controller.signal,
      ask: () => new Promise<{ peers: LookupPeer[] }>(() => {}),
    });
    controller.abort(new Error('stop'));
    await assert.rejects(pending, /stop/);
  });
});
