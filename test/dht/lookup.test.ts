import assert from 'node:assert/strict';
import sinon from 'sinon';
import { lookup, type LookupEvent, type LookupPeer } from '../../src/dht/lookup.ts';
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
  /** The ids of the 20 peers truly closest to `target`, other than `origin`. */
  const truth = (origin: LookupPeer, target: Uint8Array): string[] =>
    peers
      .filter((p) => p !== origin)
      .sort((a, b) => compareDistance(target, a.id, b.id))
      .slice(0, 20)
      .map((p) => p.idHex);
  return { peers, closestKnown, truth };
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
      assert.deepEqual(
        result.closest.map((p) => p.idHex),
        net.truth(origin, target),
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

  describe('peers slow to answer', () => {
    let clock: sinon.SinonFakeTimers;
    beforeEach(() => (clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })));
    afterEach(() => clock.restore());

    const after = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));
    const origin = net.peers[3]!;
    const target = new Uint8Array(32).fill(42);
    const truth = (n: number): string[] =>
      net.peers
        .filter((p) => p !== origin)
        .sort((a, b) => compareDistance(target, a.id, b.id))
        .slice(0, n)
        .map((p) => p.idHex);

    it('a silent peer is left behind after slowAfterMs; without it, the lookup waits for it', async () => {
      const silent = new Set(truth(2));
      const events: LookupEvent[] = [];
      const run = (slowAfterMs?: number) =>
        lookup({
          target,
          self: origin.id,
          seeds: net.closestKnown(origin, target),
          ...(slowAfterMs === undefined ? {} : { slowAfterMs }),
          onEvent: (event) => events.push(event),
          ask: (peer) => (silent.has(peer.idHex) ? new Promise<never>(() => {}) : after(10, { peers: net.closestKnown(peer, target) })),
        });
      let ended = false;
      const waiting = run().finally(() => (ended = true));
      await clock.tickAsync(60_000);
      assert.equal(ended, false, 'with no slow limit, a lookup waits for every answer');
      void waiting;

      events.length = 0;
      const started = performance.now();
      const pending = run(500);
      await clock.tickAsync(5_000);
      const result = await pending;
      assert.ok(performance.now() - started <= 5_000);
      // The 20 closest that answered: the true 22 closest but the two silent ones.
      assert.deepEqual(
        result.closest.map((p) => p.idHex),
        truth(22).filter((id) => !silent.has(id)),
      );
      assert.deepEqual(new Set(events.filter((event) => event.type === 'slow').map((event) => event.peer)), silent);
    });

    it('a slow peer that answers before the end still counts; the limit then follows the slowest answer', async () => {
      const seeds = net.closestKnown(origin, target);
      // The first seed is asked before any answer, under slowAfterMs (100 ms); the others answer
      // in 40 ms, so the limit after them is 4 x 40 = 160 ms, and none of them is slow.
      const late = seeds[0]!.idHex;
      const events: LookupEvent[] = [];
      const pending = lookup({
        target,
        self: origin.id,
        seeds,
        slowAfterMs: 100,
        onEvent: (event) => events.push(event),
        ask: (peer) => after(peer.idHex === late ? 150 : 40, { peers: net.closestKnown(peer, target) }),
      });
      await clock.tickAsync(10_000);
      const result = await pending;
      const about = events.filter((event) => event.peer === late).map((event) => event.type);
      assert.deepEqual(about, ['asked', 'slow', 'answered'], 'slow at 100 ms, its answer at 150 ms taken');
      assert.deepEqual(
        events.filter((event) => event.type === 'slow').map((event) => event.peer),
        [late],
      );
      assert.deepEqual(
        result.closest.map((p) => p.idHex),
        truth(20),
      );
    });
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

  describe('under an eclipse attempt: Sybils ground close to the target, and 20% of peers naming only them', () => {
    // Sybils are the 20 peers closest to every target asked here: they share the target's first
    // 16 bits. Every Sybil, and every other malicious peer, answers with the Sybils only.
    const attacker = new SeededRandom(SEED + 1);
    const malicious = new Set(net.peers.filter(() => attacker.next() < 0.2).map((p) => p.idHex));
    const sybilsNear = (target: Uint8Array): LookupPeer[] =>
      Array.from({ length: 20 }, (_, i) => {
        const id = new Uint8Array(32).map(() => attacker.int(0, 255));
        id.set(target.subarray(0, 2));
        return { id, idHex: `${Buffer.from(id).toString('hex')}`, group: `evil-${i % 4}` };
      });
    const attempt = async (paths: number, perGroup?: number): Promise<{ found: number; asked: number }> => {
      let found = 0;
      let asked = 0;
      const trial = new SeededRandom(SEED + 2);
      for (let i = 0; i < 100; i++) {
        let origin = net.peers[trial.int(0, net.peers.length - 1)]!;
        while (malicious.has(origin.idHex)) origin = net.peers[trial.int(0, net.peers.length - 1)]!;
        const target = new Uint8Array(32).map(() => trial.int(0, 255));
        const sybils = sybilsNear(target);
        const sybilIds = new Set(sybils.map((p) => p.idHex));
        const honest = net.peers.filter((p) => !malicious.has(p.idHex) && p !== origin).sort((a, b) => compareDistance(target, a.id, b.id))[0]!;
        let reached = false;
        const result = await lookup({
          target,
          self: origin.id,
          paths,
          ...(perGroup === undefined ? {} : { perGroup }),
          seeds: net.closestKnown(origin, target),
          ask: async (peer) => {
            // A get ends at the first honest holder asked: the closest honest peer is one.
            if (peer === honest) reached = true;
            return { peers: malicious.has(peer.idHex) || sybilIds.has(peer.idHex) ? sybils : net.closestKnown(peer, target) };
          },
        });
        asked += result.queried;
        if (reached) found++;
      }
      return { found, asked };
    };

    it('one path is led among the Sybils; disjoint paths and a per-group limit each get through', async () => {
      const one = await attempt(1);
      const disjoint = await attempt(4);
      const limited = await attempt(1, 2);
      console.log(
        `      closest honest peer asked in 100 lookups: 1 path ${one.found} (${one.asked / 100} asked each), ` +
          `4 disjoint paths ${disjoint.found} (${disjoint.asked / 100}), 1 path with 2 per group ${limited.found} (${limited.asked / 100})`,
      );
      assert.ok(one.found < 80, `the attack should hurt one path: ${one.found}`);
      assert.ok(disjoint.found >= 90, `disjoint paths: ${disjoint.found}`);
      assert.ok(limited.found >= 90, `per-group limit: ${limited.found}`);
    });
  });

  it('disjoint paths: no peer is asked twice, the seeds are shared out, and every path runs to its end', async () => {
    const origin = net.peers[3]!;
    const target = new Uint8Array(32).fill(42);
    const asked = new Map<string, number>();
    const seeds = net.closestKnown(origin, target);
    const result = await lookup({
      target,
      self: origin.id,
      paths: 4,
      seeds,
      ask: async (peer) => {
        asked.set(peer.idHex, (asked.get(peer.idHex) ?? 0) + 1);
        return { peers: net.closestKnown(peer, target) };
      },
    });
    assert.ok([...asked.values()].every((times) => times === 1));
    assert.deepEqual(
      result.closest.map((p) => p.idHex),
      net.truth(origin, target),
    );
    // Four paths each converge on their own 20: about four times the peers one path asks.
    const single = await lookup({ target, self: origin.id, seeds, ask: async (peer) => ({ peers: net.closestKnown(peer, target) }) });
    assert.ok(result.queried > 2 * single.queried, `${result.queried} against ${single.queried}`);
  });

  it('disjoint paths share α: requests in flight stay at ⌈α / paths⌉ per path', async () => {
    const origin = net.peers[5]!;
    const target = new Uint8Array(32).fill(99);
    const seeds = net.closestKnown(origin, target);
    for (const [alpha, paths, most] of [
      [3, 1, 3],
      [3, 2, 4],
      [4, 2, 4],
      [3, 4, 4],
    ] as const) {
      let inFlight = 0;
      let peak = 0;
      await lookup({
        target,
        self: origin.id,
        alpha,
        paths,
        seeds,
        ask: async (peer) => {
          peak = Math.max(peak, ++inFlight);
          // Answers take a turn of the event loop, so every request the lookup allows is in flight.
          await new Promise((resolve) => setImmediate(resolve));
          inFlight--;
          return { peers: net.closestKnown(peer, target) };
        },
      });
      assert.equal(peak, most, `α ${alpha} over ${paths} paths: ${peak} in flight at most`);
    }
  });

  it('a per-group limit keeps the results to that many of one group', async () => {
    const origin = net.peers[4]!;
    const target = new Uint8Array(32).fill(99);
    const grouped = (peer: LookupPeer): LookupPeer => ({ ...peer, group: peer.idHex.slice(0, 1) < '8' ? 'low' : 'high' });
    const result = await lookup({
      target,
      self: origin.id,
      perGroup: 2,
      seeds: net.closestKnown(origin, target).map(grouped),
      ask: async (peer) => ({ peers: net.closestKnown(peer, target).map(grouped) }),
    });
    assert.ok(result.closest.length <= 4);
    for (const group of ['low', 'high']) assert.ok(result.closest.filter((p) => p.group === group).length <= 2);
  });
});
