import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createNode } from '../../src/assemble.ts';
import { immutableRecord, mutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { compareDistance } from '../../src/dht/xor.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';
import { MemoryNetwork } from '../../transports/memory.ts';

const SEED = Number(process.env.NETWORK_SEED ?? 2026);

describe(`a DHT of 20 nodes over the in-memory transport (seed ${SEED})`, function () {
  this.timeout(60_000);
  const nodes: MyDhtNode[] = [];
  const random = new SeededRandom(SEED);
  const K = 5;

  before(async () => {
    const network = new MemoryNetwork({ seed: SEED });
    for (let i = 0; i < 20; i++) {
      const node = await createNode({
        transports: [network.transport()],
        listen: [`/memory/n${i}`],
        bootstrap: i === 0 ? [] : ['/memory/n0'],
        replication: K,
      });
      await node.start();
      nodes.push(node);
    }
    // Joining: each node looks itself up, which fills its routing table and others' with it;
    // then a bucket refresh round once everyone is there (as the periodic refresh would do).
    for (const node of nodes) await node.lookup(node.identity.id);
    for (const node of nodes) await node.refresh();
  });

  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  });

  // With k = 5 and 20 nodes, the last of the k closest can sit in the half of the id space
  // opposite the target, where every bucket holds only 5 of ~10 nodes: Kademlia promises the
  // closest ones exactly, and the rest only among the near ones. So: the 3 closest exactly, and
  // all k among the true 8 closest.
  it('a lookup from any node finds the 3 closest nodes exactly, and k among the 8 closest', async () => {
    for (let i = 0; i < 20; i++) {
      const origin = nodes[random.int(0, 19)]!;
      const target = new Uint8Array(randomBytes(32));
      const { closest } = await origin.lookup(target);
      const truth = nodes
        .filter((node) => node !== origin)
        .map((node) => node.identity.id)
        .sort((a, b) => compareDistance(target, a, b))
        .map((id) => Buffer.from(id).toString('hex'));
      const found = closest.map((peer) => peer.idHex);
      if (i === 0) assert.deepEqual((await origin.closestPeers(target)).map((peer) => peer.idHex).slice(0, 3), found.slice(0, 3));
      assert.equal(found.length, K);
      assert.deepEqual(found.slice(0, 3), truth.slice(0, 3));
      for (const id of found) assert.ok(truth.slice(0, 8).includes(id), `${id.slice(0, 8)} is not among the 8 closest`);
    }
  });

  it('a lookup wanting 3 peers returns the 3 closest, in every query mode', async () => {
    for (const mode of ['iterative', 'proxy', 'async', 'mixed:1']) {
      const origin = nodes[random.int(0, 19)]!;
      const target = new Uint8Array(randomBytes(32));
      const truth = nodes
        .filter((node) => node !== origin)
        .map((node) => node.id)
        .sort((a, b) => compareDistance(target, Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
      const { closest } = await origin.lookup(target, { mode, count: 3 });
      assert.deepEqual(
        closest.map((peer) => peer.idHex),
        truth.slice(0, 3),
        mode,
      );
    }
  });

  it('100 records put from random nodes are got from other nodes: 100% success, stored on k nodes each', async () => {
    const author = NodeIdentity.generate();
    const records: DhtRecord[] = [];
    for (let i = 0; i < 100; i++) {
      records.push(i % 2 === 0 ? immutableRecord(new Uint8Array(randomBytes(100))) : mutableRecord(author, new Uint8Array(randomBytes(100)), 1, new TextEncoder().encode(`salt ${i}`)));
    }
    for (const record of records) {
      const { stored } = await nodes[random.int(0, 19)]!.put(record);
      assert.equal(stored, K, 'stored on k nodes');
    }
    let found = 0;
    for (const record of records) {
      const got = await nodes[random.int(0, 19)]!.get(record.key);
      if (got !== null && Buffer.compare(got.value, record.value) === 0) found++;
    }
    assert.equal(found, records.length);
  });

  it('a mutable record updated from another node: every node gets the highest seq', async () => {
    const author = NodeIdentity.generate();
    await nodes[3]!.put(mutableRecord(author, new TextEncoder().encode('v1'), 1));
    await nodes[9]!.put(mutableRecord(author, new TextEncoder().encode('v2'), 2));
    await assert.rejects(nodes[12]!.put(mutableRecord(author, new TextEncoder().encode('old'), 1)), { code: 'ERR_PUT_FAILED' });
    for (const node of nodes) {
      const got = await node.get(mutableRecord(author, new Uint8Array(0), 0).key);
      assert.equal(got?.kind === 'mutable' ? got.seq : -1, 2);
    }
  });
});
