import assert from 'node:assert/strict';
import { createNode } from '../../src/assemble.ts';
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
});
