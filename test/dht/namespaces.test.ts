import assert from 'node:assert/strict';
import { plainRecord } from '../../src/dht/records.ts';
import { createTestnet, type SpawnerPreset } from '../../src/testnet.ts';
import { createNode } from '../../src/assemble.ts';

const VALIDATORS = new URL('../fixtures/name-validators.ts', import.meta.url).href;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

// The validators are a module: they load wherever the key-value service runs.
for (const spawners of ['same-loop', 'child-process'] as SpawnerPreset[]) {
  describe(`plain records under namespace validators (key-value service ${spawners === 'same-loop' ? 'on the loop' : 'in a child process'})`, function () {
    this.timeout(60_000);

    it('a valid record is stored and got; a refused value and an unknown namespace are stored nowhere', async () => {
      const testnet = await createTestnet({ nodes: 5, spawners, node: { recordValidators: VALIDATORS } });
      try {
        const [a, b] = testnet.nodes as [(typeof testnet.nodes)[0], (typeof testnet.nodes)[0]];
        const good = plainRecord('names', 'alice', utf8('alice.example'));
        assert.equal((await a.put(good)).stored, 5);
        assert.deepEqual((await b.get(good.key))?.value, good.value);

        const refused = plainRecord('names', 'bob', utf8('Not A Name!'));
        await assert.rejects(a.put(refused), (err: Error & { code?: string }) => err.code === 'ERR_PUT_FAILED' && /ERR_RECORD_REFUSED/.test(err.message));
        const unknown = plainRecord('elsewhere', 'carol', utf8('carol'));
        await assert.rejects(a.put(unknown), (err: Error & { code?: string }) => err.code === 'ERR_PUT_FAILED' && /ERR_RECORD_NAMESPACE/.test(err.message));
        for (const node of testnet.nodes) {
          assert.equal(await node.local({ type: 'get', key: refused.key } as never), null);
          assert.equal(await node.get(unknown.key), null);
        }
      } finally {
        await testnet.stop();
      }
    });
  });
}

describe('a validators module that cannot be used', () => {
  it('fails the start with ERR_CONFIG, naming the module', async () => {
    for (const url of [new URL('../fixtures/no-such-validators.ts', import.meta.url).href, 'data:text/javascript,export default { names: 42 }']) {
      const node = await createNode({ recordValidators: url });
      await assert.rejects(node.start(), (err: Error & { code?: string }) => err.code === 'ERR_CONFIG' && err.message.includes('record validators'));
      await node.stop();
    }
  });
});
