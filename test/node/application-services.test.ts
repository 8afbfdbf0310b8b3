import assert from 'node:assert/strict';
import { createNode } from '../../src/assemble.ts';
import { immutableRecord } from '../../src/dht/records.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import type { SpawnerKind } from '../../src/runtime/spawner.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import { MemoryNetwork } from '../../transports/memory.ts';

const TOUCH = serviceModule(import.meta.url, '../fixtures/touch-service.ts');

// MyDHT's custom global commands, beside the DHT's key-value store rather than instead of it.
for (const spawner of ['same-loop', 'worker-thread'] as SpawnerKind[]) {
  describe(`an application service beside the key-value store (${spawner})`, function () {
    this.timeout(30_000);
    let a: MyDhtNode;
    let b: MyDhtNode;

    before(async () => {
      const network = new MemoryNetwork();
      const make = async (name: string): Promise<MyDhtNode> => {
        const node = await createNode({
          transports: [network.transport()],
          listen: [`/memory/${name}`],
          services: { touch: { module: TOUCH, spawner, config: { name } } },
          // The read service routes to it by name, wherever both run.
          spawners: { read: spawner },
        });
        await node.start();
        return node;
      };
      a = await make('a');
      b = await make('b');
      await a.dial(b.addresses[0]!);
    });

    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it('answers its own commands locally and from peers, two replies expected', async () => {
      assert.match(String(await a.local({ type: 'touch' }, { service: 'touch' })), /^a touched locally/);
      const { results, complete } = await a.query({ peers: [b.id], service: 'touch', command: { type: 'touch' }, local: true, expect: 2 });
      assert.equal(complete, true);
      const texts = results.map((result) => String(result.value)).sort();
      assert.match(texts[0]!, /^a touched locally/);
      assert.match(texts[1]!, new RegExp(`^b touched by ${a.id.slice(0, 8)}`));
    });

    it('the DHT goes on beside it', async () => {
      const record = immutableRecord(new TextEncoder().encode('beside the touch service'));
      await a.put(record);
      assert.deepEqual((await b.get(record.key))?.value, record.value);
    });

    it('a service the peer does not run is ERR_NO_SUCH_SERVICE, and the session goes on', async () => {
      const { results } = await a.query({ peers: [b.id], service: 'nope', command: { type: 'touch' }, expect: 1 });
      assert.equal(results[0]?.code, 'ERR_NO_SUCH_SERVICE');
      assert.equal((await a.query({ peers: [b.id], service: 'touch', command: { type: 'touch' }, expect: 1 })).results[0]?.ok, true);
    });
  });
}

describe('application service names', () => {
  it('a name that is not short lowercase, or that is one of the node\'s own, is ERR_CONFIG', async () => {
    for (const name of ['api', 'events', 'Touch', '', 'a'.repeat(40), 'with space']) {
      await assert.rejects(createNode({ services: { [name]: { module: TOUCH } } }), { code: 'ERR_CONFIG' }, name);
    }
  });
});
