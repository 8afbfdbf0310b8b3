import assert from 'node:assert/strict';
import { createNode } from '../../src/assemble.ts';
import { mutableRecord } from '../../src/dht/records.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import { seededIdentities, stopAll } from '../helpers/graphs.ts';

/**
 * A peer whose process is frozen (SIGSTOP, a swapped-out VM) keeps its sessions open and never
 * answers: until liveness closes them, every lookup that asks it used to wait for the step's
 * whole deadline. Lookups now go on without it after the slow limit (1 s at first): with a
 * 60 s deadline on each call, these puts and gets end within the test's 20 s only so.
 */
describe('a frozen peer does not hold up lookups, puts and gets', function () {
  this.timeout(20_000);
  const NODES = 8;
  let network: MemoryNetwork;
  let nodes: MyDhtNode[] = [];

  before(async () => {
    network = new MemoryNetwork({ seed: 5 });
    for (const [i, identity] of seededIdentities(NODES, 11, 'frozen-peer').entries()) {
      const node = await createNode({ identity, transports: [network.transport()], listen: [`/memory/f${i}`], livenessIntervalMs: 600_000 });
      await node.start();
      nodes.push(node);
    }
    for (let a = 0; a < NODES; a++) for (let b = a + 1; b < NODES; b++) await nodes[a]!.dial(nodes[b]!.addresses[0]!);
  });

  after(async () => {
    network.heal();
    await stopAll(nodes);
    nodes = [];
  });

  it('the frozen peer is reported slow and left out; puts store on the others and gets find them', async () => {
    const frozen = nodes[NODES - 1]!;
    const [origin, reader] = nodes as [MyDhtNode, MyDhtNode];
    const identity = seededIdentities(1, 12, 'frozen-writer')[0]!;
    const before = mutableRecord(identity, new TextEncoder().encode('before'), 1);
    assert.equal((await origin.put(before)).stored, NODES, 'every node holds it');

    // Its sessions stay open, and whatever is written to it is swallowed.
    network.partition(nodes.slice(0, -1).map((_, i) => `f${i}`));
    const events: { type: string; peer?: string; result?: { closest: { idHex: string }[] } }[] = [];
    for await (const event of origin.lookupEvents(before.key, { timeoutMs: 60_000 })) events.push(event);
    assert.ok(events.some((event) => event.type === 'slow' && event.peer === frozen.id), 'reported slow');
    const done = events.at(-1)!;
    assert.equal(done.type, 'done');
    assert.ok(!done.result!.closest.some((peer) => peer.idHex === frozen.id), 'only peers that answered are results');

    const after = mutableRecord(identity, new TextEncoder().encode('after'), 2);
    const put = await origin.put(after, { timeoutMs: 60_000 });
    assert.equal(put.stored, NODES - 1, 'stored on every node but the frozen one');
    // A mutable record's get runs to the end of its lookup (a newer version could be anywhere).
    const got = await reader.get(after.key, { timeoutMs: 60_000 });
    assert.equal(new TextDecoder().decode(got!.value), 'after');
  });
});
