import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ENVIRONMENT, loadNodeConfig, NODE_CONFIG_SCHEMA } from '../../src/config/node-config.ts';

describe('node configuration', () => {
  it('docs/configuration.md lists every option of the schema, and every variable', async () => {
    const doc = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const option of Object.keys(NODE_CONFIG_SCHEMA.shape)) assert.ok(doc.includes(`| \`${option}\` |`), `${option} is documented`);
    for (const variable of Object.keys(ENVIRONMENT)) assert.ok(doc.includes(variable), `${variable} is documented`);
  });

  it('file, then MYDHT_* variables, then flags: each overrides the one before', async () => {
    const config = await loadNodeConfig({
      env: { MYDHT_LISTEN: '/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2', MYDHT_REPLICATION: '7', MYDHT_API: '127.0.0.1:1' },
      flags: { api: '127.0.0.1:2' },
    });
    assert.deepEqual(config.listen, ['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2']);
    assert.equal(config.replication, 7);
    assert.equal(config.api, '127.0.0.1:2');
    assert.equal(config.dataDir, './mydht-data');
    assert.equal(config.spawners, 'same-loop');
  });

  it('a per-service spawner map is taken; the main loop is not among the services it may move', async () => {
    assert.deepEqual((await loadNodeConfig({ flags: { spawners: { global: 'child-process' } } })).spawners, { global: 'child-process' });
    await assert.rejects(loadNodeConfig({ flags: { spawners: { 'main-loop': 'worker-thread' } as never } }), { code: 'ERR_CONFIG' });
  });

  it('a number that does not parse is shown as given', async () => {
    await assert.rejects(loadNodeConfig({ env: { MYDHT_REPLICATION: 'many' } }), (err: Error & { code?: string }) => err.code === 'ERR_CONFIG' && err.message.includes('"many"'));
  });

  it('a query mode is checked like the --query flag', async () => {
    await assert.rejects(loadNodeConfig({ flags: { queryMode: 'mixed:x' } }), (err: Error) => /queryMode: expected iterative, proxy, async, mixed or mixed:N/.test(err.message));
  });

  it('announced addresses come from the file, MYDHT_ANNOUNCE or --announce; a bad one names the field', async () => {
    const config = await loadNodeConfig({ env: { MYDHT_ANNOUNCE: '/ip4/203.0.113.7/tcp/4001,/ip4/203.0.113.7/udp/4001' } });
    assert.deepEqual(config.announce, ['/ip4/203.0.113.7/tcp/4001', '/ip4/203.0.113.7/udp/4001']);
    await assert.rejects(loadNodeConfig({ flags: { announce: ['203.0.113.7:4001'] } }), (err: Error & { code?: string }) => err.code === 'ERR_CONFIG' && /announce/.test(err.message));
  });

  it('IP diversity limits take what is given and default the rest; disjoint paths are 1 to 8', async () => {
    const config = await loadNodeConfig({ flags: { ipDiversity: { perBucket: 3 } } });
    assert.deepEqual(config.ipDiversity, { perBucket: 3, perTable: 10 });
    assert.equal(config.disjointPaths, 2);
    await assert.rejects(loadNodeConfig({ flags: { disjointPaths: 9 } }), { code: 'ERR_CONFIG' });
    await assert.rejects(loadNodeConfig({ flags: { ipDiversity: { perBucket: 0 } } }), { code: 'ERR_CONFIG' });
  });
});
