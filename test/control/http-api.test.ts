import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createNode } from '../../src/assemble.ts';
import { startControlApi, type ControlApi } from '../../src/control/http-api.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { MemoryNetwork } from '../../transports/memory.ts';

/** A GET with the path exactly as given: fetch and curl would remove "." and ".." segments. */
function rawGet(api: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(api), { path, method: 'GET' }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

describe('control API', function () {
  this.timeout(30_000);
  let node: MyDhtNode;
  let api: ControlApi;

  before(async () => {
    node = await createNode({ transports: [new MemoryNetwork({ seed: 5 }).transport()], listen: ['/memory/api'] });
    await node.start();
    api = await startControlApi({ node, host: '127.0.0.1', port: 0, maxValueBytes: 1024, listenHeartbeatMs: 20 });
  });

  after(async () => {
    await api?.close();
    await node?.stop();
  });

  it('a name that is not percent-encoded UTF-8, or is "." or "..", is a 400 ERR_BAD_REQUEST', async () => {
    for (const path of ['/v1/records/%ZZ', '/v1/records/%C0%AF', '/v1/listen/%ZZ', '/v1/records/..', '/v1/records/.', '/v1/listen/..']) {
      const { status, body } = await rawGet(api.url, path);
      assert.equal(status, 400, path);
      assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'ERR_BAD_REQUEST', path);
    }
  });

  it('a listen stream carries a comment line while no value comes, so a quiet name is not a dead connection', async () => {
    const controller = new AbortController();
    const response = await fetch(`${api.url}/v1/listen/quiet`, { signal: controller.signal });
    assert.equal(response.status, 200);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while ((text.match(/^: alive$/gm) ?? []).length < 2) text += (await reader.read()).value ?? '';
    assert.match(text, /^: listening\n\n(: alive\n\n)+/);
    controller.abort();
  });
});
