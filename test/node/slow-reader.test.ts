import assert from 'node:assert/strict';
import { createNode, memoryNetwork } from '../../src/assemble.ts';
import { immutableRecord } from '../../src/dht/records.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { RecordingTransport } from '../helpers/recording-transport.ts';
import { until } from '../helpers/until.ts';

// A peer that stops reading while this node keeps writing to it: what piles up is bounded.
describe('a peer that stops reading', function () {
  this.timeout(30_000);

  it('is closed with ERR_PEER_NOT_READING once it leaves maxUnreadBytes unread; the node goes on with the others', async () => {
    const network = memoryNetwork(9);
    const transport = new RecordingTransport(network.transport());
    const writer = await createNode({ transports: [transport], listen: ['/memory/writer'], maxUnreadBytes: 512 * 1024, livenessIntervalMs: 600_000 });
    const nodes: MyDhtNode[] = [writer];
    try {
      await writer.start();
      for (const name of ['slow', 'fine']) {
        const node = await createNode({ transports: [network.transport()], listen: [`/memory/${name}`], bootstrap: ['/memory/writer'], livenessIntervalMs: 600_000 });
        nodes.push(node);
        await node.start();
      }
      const [, slow, fine] = nodes;
      await until(async () => (await writer.peers()).length === 2);
      const big = immutableRecord(new Uint8Array(60 * 1024).fill(7));
      await writer.put(big);
      // From now on nothing the writer sends on its session with `slow` is read, while `slow`
      // keeps asking: each get makes the writer answer with the 60 KiB record.
      const session = (await writer.peers()).find((peer) => peer.id === slow!.id)!;
      transport.holding = (recording) => recording.connection.id === session.conn;
      for (let i = 0; i < 12; i++) await slow!.get(big.key, { timeoutMs: 500 }).catch(() => null);
      await writer.system.settled();
      const status = await writer.status();
      assert.ok((status.connections.dropped['ERR_PEER_NOT_READING'] ?? 0) >= 1, JSON.stringify(status.connections.dropped));
      assert.ok(!(await writer.peers()).some((peer) => peer.conn === session.conn), 'the session with the slow peer is closed');
      // The others are unaffected.
      const record = immutableRecord(new TextEncoder().encode('still here'));
      await writer.put(record);
      assert.deepEqual((await fine!.get(record.key))?.value, record.value);
    } finally {
      await Promise.all(nodes.map((node) => node.stop()));
    }
  });
});
