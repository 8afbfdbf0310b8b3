import assert from 'node:assert/strict';
import { createNode } from '../../src/assemble.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import { until } from '../helpers/until.ts';

const TOUCH = serviceModule(import.meta.url, '../fixtures/touch-service.ts');

describe('proxying when the direct path is gone (a - b - c, no session between a and c)', function () {
  this.timeout(20_000);
  let a: MyDhtNode;
  let b: MyDhtNode;
  let c: MyDhtNode;

  before(async () => {
    const network = new MemoryNetwork({ seed: 5 });
    const make = async (name: string) => {
      // A long liveness interval: the peer pool must not dial c on its own during the test.
      const node = await createNode({
        global: TOUCH,
        globalConfig: { name },
        transports: [network.transport()],
        listen: [`/memory/${name}`],
        livenessIntervalMs: 60_000,
        livenessTimeoutMs: 120_000,
      });
      await node.start();
      return node;
    };
    [a, b, c] = [await make('a'), await make('b'), await make('c')];
    await a.dial(b.addresses[0]!);
    await c.dial(b.addresses[0]!);
    await until(async () => (await b.peers()).length === 2);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  });

  it('without a route, a query to c fails at once with ERR_NO_ROUTE', async () => {
    const { results } = await a.query({ peers: [c.id], command: { type: 'touch' }, expect: 1, timeoutMs: 2_000 });
    assert.equal(results[0]?.code, 'ERR_NO_ROUTE');
  });

  it("a finds c's record through b, and then reaches c through b", async () => {
    const record = await a.findPeer(c.id);
    assert.equal(record?.idHex, c.id);
    const { results, complete } = await a.query({ peers: [c.id], command: { type: 'touch' }, expect: 1, timeoutMs: 5_000 });
    assert.equal(complete, true);
    assert.equal(results[0]?.from, c.id);
    assert.match(String(results[0]?.value), new RegExp(`^c touched by ${a.id.slice(0, 8)}`));
    assert.equal((await a.peers()).some((peer) => peer.id === c.id), false, 'still no direct session');
  });

  it('a relay whose next hop is gone answers the query with ERR_NO_ROUTE instead of silence', async () => {
    await c.stop();
    await until(async () => (await b.peers()).length === 1);
    const { results } = await a.query({ peers: [c.id], command: { type: 'touch' }, expect: 1, timeoutMs: 5_000 });
    assert.equal(results[0]?.ok, false);
    assert.equal(results[0]?.code, 'ERR_NO_ROUTE');
  });
});
