import assert from 'node:assert/strict';
import { DEFAULT_K } from '../../src/dht/routing-table.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';
import { createTestnet, type Testnet } from '../../src/testnet.ts';

/**
 * Real nodes (every service, handshakes, sealed sessions) on the in-memory transport, all in this
 * process. `npm run test:large` (MYDHT_LARGE=1) runs the issue's 1,000 nodes and 1,000 lookups,
 * about a minute of CPU; `npm test` runs 200 nodes. THOUSAND_SEED replays a run: the seed gives
 * the nodes' ids, the join's choices, and each lookup's origin and target.
 */
const LARGE = process.env.MYDHT_LARGE === '1';
const NODES = LARGE ? 1000 : 200;
const LOOKUPS = LARGE ? 1000 : 500;
const SEED = Number(process.env.THOUSAND_SEED ?? 1000);

const hex = (id: Uint8Array): string => Buffer.from(id).toString('hex');

describe(`${NODES} nodes in one process on the in-memory transport (seed ${SEED})`, function () {
  this.timeout(LARGE ? 900_000 : 180_000);
  let testnet: Testnet;

  before(async () => {
    testnet = await createTestnet({ nodes: NODES, transport: 'memory', store: 'memory', spawners: 'same-loop', seed: SEED });
    console.log(`      ${NODES} nodes started and joined in ${(testnet.bootstrapMs / 1000).toFixed(1)} s`);
  });

  after(async () => {
    await testnet?.stop();
  });

  it(`${LOOKUPS} lookups from random nodes find the true k closest; a node's id finds that node; O(log n) hops`, async () => {
    const { nodes } = testnet;
    const random = new SeededRandom(SEED);
    const ids = nodes.map((node) => node.identity.id);
    const hops: number[] = [];
    const notFound: string[] = [];
    const notClosest: string[] = [];
    const started = performance.now();
    for (let i = 0; i < LOOKUPS; i++) {
      const from = random.int(0, NODES - 1);
      // Half the targets are other nodes' ids, half are random ids.
      let to = -1;
      let target: Uint8Array;
      if (i % 2 === 0) {
        to = random.int(0, NODES - 2);
        if (to >= from) to++;
        target = ids[to]!;
      } else {
        target = new Uint8Array(32).map(() => random.int(0, 255));
      }
      const result = await nodes[from]!.lookup(target);
      hops.push(result.hops);
      const got = result.closest.map((peer) => peer.idHex);
      const truth = ids
        .filter((_, j) => j !== from)
        .sort((a, b) => compareDistance(target, a, b))
        .slice(0, DEFAULT_K)
        .map(hex);
      const what = `lookup ${i}: node ${from} for ${to >= 0 ? `node ${to}` : `random id ${hex(target).slice(0, 16)}`}`;
      if (to >= 0 && got[0] !== hex(target)) notFound.push(what);
      if (got.join() !== truth.join()) notClosest.push(`${what}: ${got.filter((id) => truth.includes(id)).length} of the true ${DEFAULT_K}`);
    }
    const seconds = (performance.now() - started) / 1000;
    hops.sort((a, b) => a - b);
    const sessions = (await Promise.all(nodes.map((node) => node.connectionStatus()))).reduce((sum, status) => sum + status.sessions, 0);
    const memory = process.memoryUsage();
    console.log(
      `      ${LOOKUPS} lookups in ${seconds.toFixed(1)} s (${((seconds * 1000) / LOOKUPS).toFixed(1)} ms each); ` +
        `hops median ${hops[hops.length >> 1]}, max ${hops.at(-1)} (log2 n = ${Math.log2(NODES).toFixed(1)}); ` +
        `${(sessions / NODES).toFixed(0)} sessions per node; ` +
        `RSS ${(memory.rss / 2 ** 20 / NODES).toFixed(2)} MB per node (heap used ${(memory.heapUsed / 2 ** 20 / NODES).toFixed(2)} MB)`,
    );
    assert.deepEqual(notFound, [], `seed ${SEED}: lookups of a node's id that did not find it`);
    assert.deepEqual(notClosest, [], `seed ${SEED}: lookups that did not return the true ${DEFAULT_K} closest`);
    assert.ok(hops.at(-1)! <= Math.ceil(Math.log2(NODES)), `seed ${SEED}: a lookup took ${hops.at(-1)} hops`);
  });
});
