import assert from 'node:assert/strict';
import { once } from 'node:events';
import { immutableRecord } from '../../src/dht/records.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import { createTestnet, SPAWNER_PRESETS, type SpawnerPreset } from '../../src/testnet.ts';
import { graph, seededIdentities, stopAll } from '../helpers/graphs.ts';
import { until } from '../helpers/until.ts';

type Step = Awaited<ReturnType<typeof collect>>[number];

async function collect(iterable: AsyncIterable<{ type: string }>) {
  const events: ({ type: string } & Record<string, unknown>)[] = [];
  for await (const event of iterable) events.push(event as { type: string } & Record<string, unknown>);
  return events;
}

// Events cross from services in workers to the node's listeners: the same scenario under both.
for (const spawners of ['same-loop', 'worker-thread'] as SpawnerPreset[]) {
  describe(`node events and lookup progress (${spawners})`, function () {
    this.timeout(60_000);

    it('peer:discovery and peer:connect as a peer is first met, peer:disconnect as it goes', async () => {
      const [a, b] = (await graph(seededIdentities(2, 5, `events-${spawners}`), [], () => ({ spawners: SPAWNER_PRESETS[spawners] }))) as [MyDhtNode, MyDhtNode];
      try {
        const discovered = once(a, 'peer:discovery');
        const connected = once(a, 'peer:connect');
        await a.dial(b.addresses[0]!);
        assert.deepEqual((await discovered)[0], { peer: b.id, addresses: b.addresses });
        assert.deepEqual((await connected)[0], { peer: b.id, address: b.addresses[0] });
        const gone = once(a, 'peer:disconnect');
        await b.stop();
        assert.deepEqual((await gone)[0], { peer: b.id });
      } finally {
        await stopAll([a, b]);
      }
    });

    it('lookupEvents yields asked, answered and value steps, then done with the result', async () => {
      const testnet = await createTestnet({ nodes: 8, spawners });
      try {
        const [origin, other] = testnet.nodes as [(typeof testnet.nodes)[0], (typeof testnet.nodes)[0]];
        const record = immutableRecord(new TextEncoder().encode('watched as it is found'));
        await other.put(record);
        for (const mode of ['iterative', 'proxy']) {
          const events: Step[] = await collect(origin.lookupEvents(record.key, { want: 'value', mode }));
          const done = events.at(-1)!;
          assert.equal(done.type, 'done', mode);
          assert.equal(events.filter((event) => event.type === 'done').length, 1);
          const asked = new Set(events.filter((event) => event.type === 'asked').map((event) => event.peer));
          const answered = events.filter((event) => event.type === 'answered');
          assert.ok(asked.size >= 1, `${mode}: peers asked`);
          assert.ok(answered.length >= 1, `${mode}: answers`);
          assert.ok(events.some((event) => event.type === 'value'), `${mode}: the record was seen`);
          assert.ok((done.result as { values: unknown[] }).values.length >= 1);
        }
      } finally {
        await testnet.stop();
      }
    });

    it('leaving the loop early cancels the lookup: no query is left pending', async () => {
      const testnet = await createTestnet({ nodes: 8, spawners });
      try {
        const origin = testnet.nodes[0]!;
        for await (const event of origin.lookupEvents(new Uint8Array(32).fill(9))) if (event.type === 'answered') break;
        const api = origin.system.get<NodeProtocols['api']>('api');
        await until(async () => (await api.call({ type: 'pending' })) === 0);
      } finally {
        await testnet.stop();
      }
    });
  });
}
