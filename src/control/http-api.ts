import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { codeOf, messageOf, MyDhtError } from '../runtime/errors.ts';
import { PUBLIC_NAMESPACE } from '../dht/namespace-validators.ts';
import { plainRecord } from '../dht/records.ts';
import type { MyDhtNode } from '../node/node.ts';
import { createMetrics } from './metrics.ts';

export interface ControlApiOptions {
  node: MyDhtNode;
  host: string;
  port: number;
  /** Required of every request when set (`Authorization: Bearer <token>`). */
  token?: string | undefined;
  /** The largest value a PUT may carry, bytes. */
  maxValueBytes: number;
  /** How often a listen stream carries a comment line while no value comes (LISTEN_HEARTBEAT_MS). */
  listenHeartbeatMs?: number;
  /** How long a client has to send a request's headers, from its connection or its last request (HEADERS_TIMEOUT_MS). */
  headersTimeoutMs?: number;
}

export interface ControlApi {
  readonly url: string;
  close(): Promise<void>;
}

/** Record names the API takes: those a plain record allows. */
const MAX_NAME_LENGTH = 256;
/** Status of each error code the API answers with; anything else is a 500. */
const STATUS: Record<string, number> = {
  ERR_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_BAD_REQUEST: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_FORBIDDEN_HOST: 403,
  ERR_RECORD_TOO_LARGE: 413,
  ERR_PUT_FAILED: 503,
  ERR_RECORD_INVALID: 400,
  ERR_LISTEN_LIMIT: 429,
};

/**
 * A comment line on every listen stream this often, so that a quiet name does not look like a
 * dead connection: undici's fetch (the CLI's) gives up on a body silent for 300 s, and proxies
 * often after 60 s.
 */
const LISTEN_HEARTBEAT_MS = 30_000;

/** How long a closing API lets requests in flight finish: a put's own deadline is longer. */
const CLOSE_GRACE_MS = 10_000;

/**
 * A connection that has not sent a request's headers this long after it opened (or after its
 * last answer) is closed, whether it sent part of them (slowloris) or nothing at all. Node checks
 * its connections' deadlines every CONNECTIONS_CHECK_MS (30 s by default, which let an idle
 * connection stay three times as long).
 */
const HEADERS_TIMEOUT_MS = 10_000;
const CONNECTIONS_CHECK_MS = 1_000;

/** Is this a loopback host, where the API may listen without a token? */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The host of a Host header: without its port, and without the brackets of an IPv6 address. */
function hostOf(header: string): string {
  if (header.startsWith('[')) {
    const end = header.indexOf(']');
    return header.slice(1, end < 0 ? undefined : end);
  }
  const colon = header.lastIndexOf(':');
  return (colon < 0 ? header : header.slice(0, colon)).toLowerCase();
}

/**
 * The node's HTTP JSON control API, which the CLI uses:
 * - `GET /v1/status`, `GET /v1/peers`: JSON;
 * - `GET /metrics`: Prometheus text, the `mydht_*` series and the process defaults;
 * - `GET /v1/listen/:name`: server-sent events, each new value under `name`;
 * - `PUT /v1/records/:name` (the body is the value), `GET /v1/records/:name` (the value, or 404):
 *   values under `name` in the built-in `public` namespace.
 * Errors are `{ "error": { "code", "message" } }` with a status that fits the code.
 */
export async function startControlApi(options: ControlApiOptions): Promise<ControlApi> {
  const { node } = options;
  const metrics = createMetrics(node);
  const expected = options.token === undefined ? undefined : Buffer.from(`Bearer ${options.token}`);
  /** Aborted when the API closes: ends the listen streams. */
  const closing = new AbortController();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    // Without a token the API trusts whoever can reach loopback. A web page can reach it too,
    // through DNS rebinding (its own name made to resolve to 127.0.0.1), but its requests then
    // carry that name as their Host: only loopback names are served.
    if (expected === undefined && request.headers.host !== undefined && !isLoopback(hostOf(request.headers.host))) {
      throw new MyDhtError('ERR_FORBIDDEN_HOST', `this API serves loopback names only, not Host ${JSON.stringify(request.headers.host.slice(0, 64))}`);
    }
    if (expected !== undefined) {
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new MyDhtError('ERR_UNAUTHORIZED', 'this API needs its bearer token (kept in the node\'s data dir, file api-token)');
      }
    }
    // The path as sent, without the query: a URL parser would turn /v1/records/.. into /v1/.
    const path = /^[^?#]*/.exec(request.url ?? '/')![0];
    let route: (typeof routes)[number] | undefined;
    let part = '';
    for (const candidate of routes) {
      const match = candidate.pattern.exec(path);
      if (match === null) continue;
      route = candidate;
      part = match[1] ?? '';
      break;
    }
    if (route === undefined) throw new MyDhtError('ERR_NOT_FOUND', `no route ${path}`);
    const method = request.method ?? '';
    const serve = Object.hasOwn(route.methods, method) ? route.methods[method] : undefined;
    if (serve === undefined) {
      const allowed = Object.keys(route.methods);
      response.setHeader('allow', allowed.join(', '));
      throw new MyDhtError('ERR_METHOD_NOT_ALLOWED', `${method} ${path}: this path takes ${allowed.join(' or ')}`);
    }
    return serve(request, response, part);
  };

  /** The API's paths, and a handler for each method a path takes (another is a 405 that says which it takes). */
  type Serve = (request: IncomingMessage, response: ServerResponse, part: string) => Promise<void>;
  const routes: { pattern: RegExp; methods: Record<string, Serve> }[] = [
    {
      pattern: /^\/metrics$/,
      methods: {
        GET: async (_request, response) => {
          const text = await metrics.metrics();
          response.writeHead(200, { 'content-type': metrics.contentType });
          response.end(text);
        },
      },
    },
    { pattern: /^\/v1\/status$/, methods: { GET: async (_request, response) => json(response, 200, await node.status()) } },
    {
      pattern: /^\/v1\/peers$/,
      methods: { GET: async (_request, response) => json(response, 200, { connected: await node.peers(), known: await node.knownPeers() }) },
    },
    { pattern: /^\/v1\/listen\/([^/]+)$/, methods: { GET: (request, response, name) => listen(request, response, recordName(name)) } },
    {
      pattern: /^\/v1\/records\/([^/]+)$/,
      methods: {
        GET: async (_request, response, encoded) => {
          const name = recordName(encoded);
          const found = await node.get(keyOf(name));
          if (found === null) throw new MyDhtError('ERR_NOT_FOUND', `no record named ${JSON.stringify(name)}`);
          response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': found.value.length });
          response.end(found.value);
        },
        PUT: async (request, response, encoded) => {
          const name = recordName(encoded);
          const value = await body(request, options.maxValueBytes);
          const { stored, hops } = await node.put(plainRecord(PUBLIC_NAMESPACE, name, value));
          json(response, 200, { name, key: Buffer.from(keyOf(name)).toString('hex'), stored, hops });
        },
      },
    },
  ];

  /**
   * Server-sent events: `record` with `{ name, value }` (or `valueBase64`, see jsonValue) for each new
   * value, `lagged` with `{ lost }` when this client fell behind. Ends when the client goes.
   */
  const listen = async (request: IncomingMessage, response: ServerResponse, name: string): Promise<void> => {
    const abort = new AbortController();
    const subscription = node.listen(keyOf(name), { signal: AbortSignal.any([abort.signal, closing.signal]) });
    request.on('close', () => abort.abort());
    await subscription.ready;
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    response.write(': listening\n\n');
    const heartbeat = setInterval(() => response.write(': alive\n\n'), options.listenHeartbeatMs ?? LISTEN_HEARTBEAT_MS);
    try {
      for await (const item of subscription) {
        if (item.type === 'lagged') response.write(`event: lagged\ndata: ${JSON.stringify({ lost: item.lost })}\n\n`);
        else response.write(`event: record\ndata: ${JSON.stringify({ name, ...jsonValue(item.record.value) })}\n\n`);
      }
    } finally {
      clearInterval(heartbeat);
    }
    response.end();
  };

  const server = createServer({ connectionsCheckingInterval: CONNECTIONS_CHECK_MS }, (request, response) => {
    // While closing, a connection whose last answer went out is closed rather than kept alive.
    response.on('finish', () => {
      if (closing.signal.aborted) setImmediate(() => server.closeIdleConnections());
    });
    handle(request, response).catch((err: unknown) => {
      const code = codeOf(err);
      json(response, STATUS[code] ?? 500, { error: { code, message: messageOf(err) } });
    });
  });
  // A slow or idle client cannot hold a connection open for long.
  server.requestTimeout = 30_000;
  server.headersTimeout = options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    // No new connection is taken; requests in flight (a put waiting for its holders) get their
    // answer for up to CLOSE_GRACE_MS, and listen streams end now.
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        closing.abort();
        server.closeIdleConnections();
      }),
  };
}

function recordName(encoded: string): string {
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    throw new MyDhtError('ERR_BAD_REQUEST', `a record name must be percent-encoded UTF-8, got ${JSON.stringify(encoded.slice(0, 64))}`);
  }
  const problem = recordNameProblem(name);
  if (problem !== undefined) throw new MyDhtError('ERR_BAD_REQUEST', problem);
  return name;
}

/**
 * Why a name cannot be a record's name in this API, if it cannot: its length, or "." and "..",
 * which every URL parser (the WHATWG one, curl's) removes from a path as dot segments before a
 * request is sent, even percent-encoded, so no client could name them. The CLI checks the same.
 */
export function recordNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return `a record name is 1 to ${MAX_NAME_LENGTH} characters`;
  if (name === '.' || name === '..') return 'a record name cannot be "." or ".." (a URL path cannot carry them)';
  return undefined;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A value as JSON carries it: `{ value }`, its text, when the bytes are UTF-8; else
 * `{ valueBase64 }`, so that no byte is lost to a replacement character.
 */
export function jsonValue(bytes: Uint8Array): { value: string } | { valueBase64: string } {
  try {
    return { value: strictUtf8.decode(bytes) };
  } catch {
    return { valueBase64: Buffer.from(bytes).toString('base64') };
  }
}

/** The key of a name in the public namespace. */
function keyOf(name: string): Uint8Array {
  return plainRecord(PUBLIC_NAMESPACE, name, new Uint8Array(0)).key;
}

function json(response: ServerResponse, status: number, value: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const text = JSON.stringify(value, (_key, field: unknown) => (field instanceof Uint8Array ? Buffer.from(field).toString('hex') : field));
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(text);
}

/** The request body, refused past `max` bytes without reading the rest. */
async function body(request: IncomingMessage, max: number): Promise<Uint8Array> {
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (declared > max) throw new MyDhtError('ERR_RECORD_TOO_LARGE', `a ${declared}-byte value exceeds ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > max) throw new MyDhtError('ERR_RECORD_TOO_LARGE', `the value exceeds ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
