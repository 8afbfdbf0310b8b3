import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { firstPerGroup, subnetOf } from '../../src/dht/ip-diversity.ts';
import { RoutingTable, type AddResult } from '../../src/dht/routing-table.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';
import { commonPrefixLength, compareDistance, randomIdInBucket } from '../../src/dht/xor.ts';

const SEED = Number(process.env.FC_SEED ?? 20261123);
const id = (): Uint8Array => new Uint8Array(randomBytes(32));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function table(self = id(), ping: (alive: string) => boolean = () => true, k = 20) {
  return new RoutingTable(self, { k, ping: async (contact) => ping(contact.idHex) });
}

describe('XOR metric', () => {
  it(`a random id in bucket p shares exactly p leading bits with us (fast-check seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 255 }), (self, prefix) => {
        assert.equal(commonPrefixLength(self, randomIdInBucket(self, prefix)), prefix);
      }),
      { seed: SEED, numRuns: 2_000 },
    );
  });

  it('distance comparison is XOR order', () => {
    const target = new Uint8Array(32);
    const near = new Uint8Array(32).fill(0);
    near[31] = 1;
    const far = new Uint8Array(32);
    far[0] = 0x80;
    assert.ok(compareDistance(target, near, far) < 0);
    assert.ok(compareDistance(target, far, near) > 0);
    assert.equal(compareDistance(target, near, near), 0);
  });
});

describe('routing table', () => {
  it('closest() returns the answered contacts nearest the target, in XOR order', async () => {
    // Buckets big enough never to fill: a full bucket pings its oldest contact, and an answer to
    // that ping also makes it "answered", which this test's own bookkeeping does not model.
    const routing = table(id(), () => true, 1000);
    const answered: Uint8Array[] = [];
    for (let i = 0; i < 300; i++) {
      const peer = id();
      const result = await routing.add(peer, '/memory/x', i % 3 !== 0);
      if (result === 'added' && i % 3 !== 0) answered.push(peer);
    }
    const target = id();
    const expected = answered
      .slice()
      .sort((a, b) => compareDistance(target, a, b))
      .slice(0, 20)
      .map(hex);
    assert.deepEqual(
      routing.closest(target, 20).map((contact) => contact.idHex),
      expected,
    );
    assert.ok(routing.closest(target, 1000).every((contact) => contact.answered), 'a contact that never answered is never closest');
  });

  it('a full bucket keeps its oldest contact while it answers the ping, and evicts it when silent', async () => {
    const self = id();
    const silent = new Set<string>();
    const routing = table(self, (peer) => !silent.has(peer), 3);
    const members = [randomIdInBucket(self, 0), randomIdInBucket(self, 0), randomIdInBucket(self, 0)];
    for (const member of members) assert.equal(await routing.add(member, '/memory/m', true), 'added');
    const newcomer = randomIdInBucket(self, 0);
    assert.equal(await routing.add(newcomer, '/memory/n', true), 'full');
    assert.equal(routing.bucket(0).at(-1)?.idHex, hex(members[0]!), 'the oldest answered: it is now the most recent');
    silent.add(hex(members[1]!));
    assert.equal(await routing.add(newcomer, '/memory/n', true), 'added');
    assert.equal(routing.get(hex(members[1]!)), undefined, 'the silent one was evicted');
    assert.equal(routing.size, 3);
  });

  it('1,000 ids from one /24: at most 2 per bucket and 10 in the table', async () => {
    const routing = table();
    const results = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const result = await routing.add(id(), `/ip4/45.33.12.${i % 250}/tcp/4001`, true);
      results.set(result, (results.get(result) ?? 0) + 1);
    }
    let total = 0;
    for (let b = 0; b < 256; b++) {
      assert.ok(routing.bucket(b).length <= 2, `bucket ${b} holds ${routing.bucket(b).length} of one /24`);
      total += routing.bucket(b).length;
    }
    assert.ok(total <= 10, `the table holds ${total} of one /24`);
    console.log(`      1,000 adds from one /24: ${JSON.stringify(Object.fromEntries(results))}`);
  });

  it('loopback and private ranges are exempt when the switch says so', async () => {
    const exempt = new RoutingTable(id(), { ping: async () => true });
    const strict = new RoutingTable(id(), { ping: async () => true, diversity: { exemptPrivate: false } });
    for (let i = 0; i < 100; i++) {
      await exempt.add(id(), `/ip4/127.0.0.1/tcp/${4000 + i}`, true);
      await strict.add(id(), `/ip4/127.0.0.1/tcp/${4000 + i}`, true);
    }
    assert.ok(exempt.size > 10);
    assert.ok(strict.size <= 10);
    assert.equal(subnetOf('/ip4/192.168.1.7/udp/1', true), undefined);
    assert.equal(subnetOf('/ip4/8.8.8.8/tcp/1', true), 'ip4:8.8.8');
    assert.equal(subnetOf('/ip6/2001:db8:1:2::7/tcp/1', true), 'ip6:8193:3512:1');
    assert.equal(subnetOf('/memory/a', false), undefined);
  });

  it(`1,000 seeded ids from one public /24: exactly 10 kept, at most 2 per bucket; a private /24 only with the exemption off (seed ${SEED})`, async () => {
    const random = new SeededRandom(SEED);
    const seededId = (): Uint8Array => new Uint8Array(32).map(() => random.int(0, 255));
    const fill = async (routing: RoutingTable, subnet: string): Promise<Record<string, number>> => {
      const results: Partial<Record<AddResult, number>> = {};
      for (let i = 0; i < 1000; i++) {
        const result = await routing.add(seededId(), `/ip4/${subnet}.${1 + (i % 254)}/udp/4001`, true);
        results[result] = (results[result] ?? 0) + 1;
      }
      return results;
    };
    const perBucket = (routing: RoutingTable): number[] => Array.from({ length: 256 }, (_, b) => routing.bucket(b).length);
    const self = seededId();

    // A public /24 (TEST-NET-3): the limits hold whatever the switch says.
    for (const exemptPrivate of [true, false]) {
      const routing = new RoutingTable(self, { ping: async () => true, diversity: { exemptPrivate } });
      assert.deepEqual(await fill(routing, '203.0.113'), { added: 10, diversity: 990 });
      assert.equal(routing.size, 10, 'the table is full for this /24, not empty');
      assert.ok(perBucket(routing).every((n) => n <= 2), `per bucket: ${perBucket(routing).filter((n) => n > 0)}`);
      assert.equal(await routing.add(seededId(), '/ip4/203.0.114.9/udp/4001', true), 'added', 'another /24 still gets in');
    }

    // A private /24: exempt by default; limited like any other with the switch off.
    const exempt = new RoutingTable(self, { ping: async () => true });
    await fill(exempt, '192.168.1');
    assert.ok(exempt.size > 10, `exempt: ${exempt.size} kept`);
    assert.ok(perBucket(exempt).some((n) => n > 2), 'exempt: some bucket holds more than 2 of the /24');
    const strict = new RoutingTable(self, { ping: async () => true, diversity: { exemptPrivate: false } });
    assert.deepEqual(await fill(strict, '192.168.1'), { added: 10, diversity: 990 });
    assert.ok(perBucket(strict).every((n) => n <= 2));
  });

  it('refresh: one target in each non-empty bucket, inside that bucket, not again within the interval', async () => {
    const self = id();
    const clock = { now: 0 };
    const routing = new RoutingTable(self, { ping: async () => true, now: () => clock.now });
    for (const prefix of [0, 1, 5, 9]) await routing.add(randomIdInBucket(self, prefix), '/memory/x', true);
    const targets = routing.refreshTargets(60_000);
    assert.deepEqual(targets.map((t) => commonPrefixLength(self, t)).sort((a, b) => a - b), [0, 1, 5, 9]);
    assert.equal(routing.refreshTargets(60_000).length, 0);
    clock.now += 60_000;
    assert.equal(routing.refreshTargets(60_000).length, 4);
  });

  it('firstPerGroup: the first n in order, none of a group past its share, items of no group unlimited', () => {
    const items = ['a1', 'a2', 'a3', 'b1', 'x', 'a4', 'b2', 'b3', 'y'];
    const groupOf = (item: string): string | undefined => (item.length === 2 ? item[0] : undefined);
    assert.deepEqual(firstPerGroup(items, 6, 2, groupOf), ['a1', 'a2', 'b1', 'x', 'b2', 'y']);
    assert.deepEqual(firstPerGroup(items, 3, Infinity, groupOf), ['a1', 'a2', 'a3']);
  });

  it('this node is never its own contact', async () => {
    const self = id();
    assert.equal(await table(self).add(self, '/memory/self', true), 'self');
  });
});
