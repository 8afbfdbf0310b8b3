import assert from 'node:assert/strict';
import { createNode, memoryNetwork } from '../../src/assemble.ts';
import { immutableRecord } from '../../src/dht/records.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { until } from '../helpers/until.ts';

// The node's own switch reaches its routing table: 12 peers all on 127.0.0.1 (one /24).
describe('IP diversity through the node: exemptPrivateAddresses', function () {
  this.timeout(60_000);

  for (const exempt of [true, false]) {
    it(`${exempt ? 'on (the default): all 12 loopback peers are contacts' : 'off: at most 10 of one /24, 2 per bucket'}`, async () => {
      // All 12 on 127.0.0.1: the per-address connection limit is raised, this test is about the routing table.
      const hub = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], exemptPrivateAddresses: exempt, maxConnectionsPerAddress: 100, livenessIntervalMs: 600_000 });
      const spokes: MyDhtNode[] = [];
      try {
        await hub.start();
        for (let i = 0; i < 12; i++) {
          const spoke = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [hub.addresses[0]!], livenessIntervalMs: 600_000 });
          await spoke.start();
          spokes.push(spoke);
        }
        // Every spoke's session open on the hub's side too, and what it caused handled.
        await until(async () => (await hub.peers()).length === 12);
        await hub.system.settled();
        const size = await hub.routingTableSize();
        // 12 random ids fill buckets 0, 1, 2... at about 6, 3, 1.5: capped at 2 per bucket, fewer stay.
        if (exempt) assert.equal(size, 12);
        else assert.ok(size >= 1 && size < 12 && size <= 10, `${size} contacts`);
      } finally {
        await Promise.all([hub, ...spokes].map((node) => node.stop()));
      }
    });
  }

  // 12 peers on the in-memory network, each announcing an address in 203.0.113.0/24 (public):
  // the record leads with it, the limits count it, and peers still dial the memory address.
  for (const limits of ['default', 'raised'] as const) {
    it(`announced addresses count against the limits (${limits === 'default' ? 'at most 10 of one /24' : 'ipDiversity raised: all 12'}), and are not dialed by a transport that cannot`, async () => {
      const network = memoryNetwork(3);
      const hub = await createNode({
        transports: [network.transport()],
        listen: ['/memory/hub'],
        livenessIntervalMs: 600_000,
        ...(limits === 'raised' ? { ipDiversity: { perBucket: 100, perTable: 100 } } : {}),
      });
      const spokes: MyDhtNode[] = [];
      try {
        await hub.start();
        for (let i = 0; i < 12; i++) {
          const spoke = await createNode({
            transports: [network.transport()],
            listen: [`/memory/spoke-${i}`],
            announce: [`/ip4/203.0.113.${i + 1}/tcp/4001`],
            bootstrap: ['/memory/hub'],
            livenessIntervalMs: 600_000,
          });
          await spoke.start();
          spokes.push(spoke);
        }
        assert.deepEqual(spokes[0]!.record.addresses, ['/ip4/203.0.113.1/tcp/4001', '/memory/spoke-0']);
        await until(async () => (await hub.peers()).length === 12);
        await hub.system.settled();
        const size = await hub.routingTableSize();
        if (limits === 'raised') assert.equal(size, 12);
        else assert.ok(size >= 1 && size <= 10, `${size} contacts`);
        // Spoke to spoke through the hub's answers: each dials the other's memory address.
        const record = immutableRecord(new TextEncoder().encode('announced'));
        await spokes[0]!.put(record);
        assert.deepEqual((await spokes[11]!.get(record.key))?.value, record.value);
      } finally {
        await Promise.all([hub, ...spokes].map((node) => node.stop()));
      }
    });
  }
});
