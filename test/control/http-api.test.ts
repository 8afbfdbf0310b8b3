import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import sinon from 'sinon';
import { createNode } from '../../src/assemble.ts';
import { startControlApi, type ControlApi } from '../../src/control/http-api.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { MemoryNetwork } from '../../transports/memory.ts';

/** A request with the path exactly as given (fetch and curl would remove "." and ".." segments), and any Host. */
function rawGet(api: string, path: string, host?: string, method = 'GET'): Promise<{ status: number; body: string; allow?: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(api), { path, method, ...(host === undefined ? {} : { headers: { host } }) }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, allow: response.headers.allow }));
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

  it('a method a path does not take is a 405 ERR_METHOD_NOT_ALLOWED naming those it takes; an unknown path is a 404', async () => {
    for (const [method, path, allow] of [
      ['DELETE', '/v1/records/name', 'GET, PUT'],
      ['POST', '/v1/records/name', 'GET, PUT'],
      ['PUT', '/v1/status', 'GET'],
      ['POST', '/v1/listen/name', 'GET'],
      ['DELETE', '/metrics', 'GET'],
    ] as const) {
      const { status, body, allow: allowed } = await rawGet(api.url, path, undefined, method);
      assert.equal(status, 405, `${method} ${path}`);
      assert.equal(allowed, allow, `${method} ${path}`);
      assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'ERR_METHOD_NOT_ALLOWED');
    }
    for (const path of ['/v1/nothing', '/v1/records/', '/v1/records/a/b']) {
      const { status, body } = await rawGet(api.url, path, undefined, 'GET');
      assert.equal(status, 404, path);
      assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'ERR_NOT_FOUND');
    }
  });

  it('a connection that sends no request, or only part of its headers, is closed after the headers timeout', async () => {
    const quick = await startControlApi({ node, host: '127.0.0.1', port: 0, maxValueBytes: 1024, headersTimeoutMs: 300 });
    try {
      const { port } = new URL(quick.url);
      for (const sent of ['', 'GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n']) {
        const socket = connect(Number(port), '127.0.0.1');
        socket.on('error', () => {});
        if (sent !== '') socket.write(sent);
        let answer = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
        const opened = Date.now();
        await new Promise<void>((resolve) => socket.once('close', () => resolve()));
        // Closed by the server, at a check after the timeout (with nothing to parse, no answer is owed).
        assert.ok(Date.now() - opened < 10_000, `closed after ${Date.now() - opened} ms`);
        if (sent !== '') assert.match(answer, /^HTTP\/1\.1 408/);
      }
    } finally {
      await quick.close();
    }
  });

  it('without a token, only loopback names are served as Host: a DNS-rebound page is refused', async () => {
    for (const host of ['evil.example', 'evil.example:80', '10.0.0.1:5001', '[2001:db8::1]:5001']) {
      const { status, body } = await rawGet(api.url, '/v1/status', host);
      assert.equal(status, 403, host);
      assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'ERR_FORBIDDEN_HOST');
    }
    for (const host of ['localhost', 'LOCALHOST:5001', '127.0.0.1:5001', '127.1.2.3', '[::1]:5001']) {
      assert.equal((await rawGet(api.url, '/v1/status', host)).status, 200, host);
    }
  });

  it('closing lets a put in flight finish and ends listen streams', async () => {
    const closing = await startControlApi({ node, host: '127.0.0.1', port: 0, maxValueBytes: 1024 });
    let release!: () => void;
    const entered = new Promise<void>((resolve) => {
      sinon.stub(node, 'put').callsFake(async () => {
        resolve();
        await new Promise<void>((done) => (release = done));
        return { stored: 1, hops: 0 };
      });
    });
    try {
      const listening = await fetch(`${closing.url}/v1/listen/news`);
      const stream = listening.body!.getReader();
      const put = fetch(`${closing.url}/v1/records/slow`, { method: 'PUT', body: 'value' });
      await entered;
      const closed = closing.close();
      while (!(await stream.read()).done);
      release();
      const answer = await put;
      assert.equal(answer.status, 200);
      assert.equal(((await answer.json()) as { stored: number }).stored, 1);
      await closed;
      await assert.rejects(fetch(`${closing.url}/v1/status`), 'no new request once closed');
    } finally {
      sinon.restore();
    }
  });
});
