import assert from 'node:assert/strict';
import { createNode } from '../../src/assemble.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import { ACCEPTED } from '../../src/runtime/mailbox.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import { reportBar } from '../helpers/report.ts';

const LIMIT = { perSecond: 200, burst: 200 };
const FLOOD = 4_000;
// Within its own allowance (the burst), twice over: alone, then during the flood.
const HONEST = 60;

// security.md: one peer at 10x its limit: excess dropped, honest success unchanged within 1%.
describe(`a request flood: one peer at over 10x its limit of ${LIMIT.perSecond}/s`, function () {
  this.timeout(30_000);
  let victim: MyDhtNode;
  let honest: MyDhtNode;
  let flooder: MyDhtNode;

  before(async () => {
    const network = new MemoryNetwork();
    const make = async (name: string, extra: object = {}): Promise<MyDhtNode> => {
      const node = await createNode({ transports: [network.transport()], listen: [`/memory/${name}`], ...extra });
      await node.start();
      return node;
    };
    victim = await make('victim', { peerRateLimit: LIMIT });
    honest = await make('honest');
    flooder = await make('flooder');
    await honest.dial(victim.addresses[0]!);
    await flooder.dial(victim.addresses[0]!);
  });

  after(async () => {
    await Promise.all([victim, honest, flooder].map((node) => node?.stop()));
  });

  const honestGets = async (): Promise<number> => {
    const results = await Promise.all(
      Array.from({ length: HONEST }, () =>
        honest.query({ peers: [victim.id], command: { type: 'get', key: new Uint8Array(32) } as { type: string }, expect: 1, timeoutMs: 5_000 }),
      ),
    );
    return results.filter((result) => result.results[0]?.ok === true).length;
  };

  it('the excess is dropped before any work, and the honest peer succeeds as often as without the flood', async () => {
    const alone = await honestGets();
    const read = victim.system.get<NodeProtocols['read']>('read');
    const before = await read.call({ type: 'limited' });
    const write = flooder.system.get<NodeProtocols['write']>('write');
    const started = performance.now();
    const flood = (async () => {
      for (let i = 0; i < FLOOD; i++) {
        const sent = write.send({ type: 'send', peer: victim.id, message: { type: 'global', command: { type: 'get', key: new Uint8Array(32) } as { type: string } } });
        if (sent !== ACCEPTED) await sent;
      }
    })();
    const during = await honestGets();
    await flood;
    await victim.system.settled();
    const elapsedS = (performance.now() - started) / 1000;
    const dropped = (await read.call({ type: 'limited' })) - before;
    const allowed = LIMIT.burst + LIMIT.perSecond * elapsedS;
    console.log(
      `      flood of ${FLOOD} in ${elapsedS.toFixed(2)} s (${Math.round(FLOOD / elapsedS)}/s, ${(FLOOD / elapsedS / LIMIT.perSecond).toFixed(0)}x the limit): ` +
        `${dropped} dropped; honest: ${alone}/${HONEST} alone, ${during}/${HONEST} during`,
    );
    reportBar('request flood (10x the rate limit): honest requests successful, %', (100 * during) / HONEST, 99);
    reportBar('request flood: flood rate / the rate limit', Math.round(FLOOD / elapsedS / LIMIT.perSecond), 10);
    assert.ok(FLOOD / elapsedS >= 10 * LIMIT.perSecond, 'the flood ran at 10x the limit or more');
    assert.ok(dropped >= FLOOD - allowed, `at least the excess over ${Math.round(allowed)} dropped`);
    assert.ok(during >= alone - Math.ceil(HONEST / 100), 'honest success within 1% of its success without the flood');
    assert.equal(during, HONEST);
  });
});
