import assert from 'node:assert/strict';
import { createNode } from '../../src/assemble.ts';
import type { MyDhtNode, NodeServiceName } from '../../src/node/node.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import { ACCEPTED } from '../../src/runtime/mailbox.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import type { SpawnerKind } from '../../src/runtime/spawner.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import { TcpTransport } from '../../transports/tcp.ts';
import { until } from '../helpers/until.ts';

const TOUCH = serviceModule(import.meta.url, '../fixtures/touch-service.ts');

const CONFIGURATIONS: { name: string; spawners: Partial<Record<NodeServiceName, SpawnerKind>> }[] = [
  { name: 'all same-loop', spawners: {} },
  {
    name: 'all worker-thread',
    spawners: { read: 'worker-thread', write: 'worker-thread', 'peer-store': 'worker-thread', api: 'worker-thread', global: 'worker-thread' },
  },
  { name: 'mixed', spawners: { 'peer-store': 'worker-thread', global: 'worker-thread' } },
  { name: 'mixed, global in a child process', spawners: { 'peer-store': 'worker-thread', global: 'child-process' } },
];

for (const transport of ['memory', 'tcp'] as const) {
  for (const configuration of transport === 'tcp' ? CONFIGURATIONS.slice(0, 1) : CONFIGURATIONS) {
    describe(`two-node scenario over ${transport} (${configuration.name})`, function () {
      this.timeout(30_000);
      let a: MyDhtNode;
      let b: MyDhtNode;

      before(async () => {
        const network = new MemoryNetwork({ seed: 11 });
        const make = (name: string) =>
          createNode({
            global: TOUCH,
            globalConfig: { name },
            spawners: configuration.spawners,
            transports: [transport === 'memory' ? network.transport() : new TcpTransport()],
            listen: [transport === 'memory' ? `/memory/${name}` : '/ip4/127.0.0.1/tcp/0'],
          });
        a = await make('a');
        b = await make('b');
        await a.start();
        await b.start();
      });

      after(async () => {
        await Promise.all([a?.stop(), b?.stop()]);
      });

      it('connect: both sides authenticate each other', async () => {
        const peer = await b.dial(a.addresses[0]!);
        assert.equal(peer, a.id);
        // B's dial resolves when B's side opens; A's opens when the final PONG reaches it.
        await until(async () => (await a.peers()).length === 1);
        const [ofA, ofB] = await Promise.all([a.peers(), b.peers()]);
        assert.deepEqual(
          ofA.map((p) => p.id),
          [b.id],
        );
        assert.deepEqual(
          ofB.map((p) => p.id),
          [a.id],
        );
      });

      it('a local command to the global service', async () => {
        assert.equal(await a.local({ type: 'touch' }), 'a touched locally (1)');
      });

      it('a command answered locally and forwarded to the peer, with 2 replies expected', async () => {
        const { results, complete } = await a.query({ peers: [b.id], command: { type: 'touch' }, local: true, expect: 2, timeoutMs: 5_000 });
        assert.equal(complete, true);
        const values = results.map((r) => String(r.value)).sort();
        assert.deepEqual(values, ['a touched locally (2)', `b touched by ${a.id.slice(0, 8)} (1)`]);
      });

      it("a lookup of each node's peer record by id", async () => {
        const [fromA, fromB] = await Promise.all([a.findPeer(b.id), b.findPeer(a.id)]);
        assert.equal(fromA?.idHex, b.id);
        assert.equal(fromB?.idHex, a.id);
        assert.deepEqual(fromA?.addresses, b.addresses);
      });

      it('a burst of 5,000 session messages gets through (no wait cycle between main loop and write)', async () => {
        const write = a.system.get<NodeProtocols['write']>('write');
        for (let i = 0; i < 5_000; i++) {
          const sent = write.send({ type: 'send', peer: b.id, message: { type: 'global', command: { type: 'touch' } } });
          if (sent !== ACCEPTED) await sent;
        }
        // FIFO all the way: this query is answered after B handled every message before it.
        const { results } = await a.query({ peers: [b.id], command: { type: 'touch' }, expect: 1, timeoutMs: 20_000 });
        assert.match(String(results[0]?.value), /\(5002\)$/);
      });

      it('services run under the configured spawners', () => {
        for (const status of a.services()) {
          const expected = status.name === 'main-loop' ? 'same-loop' : (configuration.spawners[status.name as NodeServiceName] ?? 'same-loop');
          assert.equal(status.spawner, expected, status.name);
          assert.equal(status.state, 'running', status.name);
        }
      });
    });
  }
}
