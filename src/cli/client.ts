import { readFile } from 'node:fs/promises';
import { jsonValue, recordNameProblem } from '../control/http-api.ts';
import { ProgressBar } from './progress-bar.ts';
import type { NodeStatus } from '../node/node.ts';
import type { ConnectedPeer, KnownPeer } from '../node/protocols.ts';

/** Exit codes, as scripts rely on them. */
export const EXIT = { ok: 0, notFound: 1, usage: 2, unreachable: 3, cannotStart: 4 } as const;

/** The local node's API, where `mydht start` listens by default. */
export const DEFAULT_API = 'http://127.0.0.1:5001';

export interface ClientOptions {
  api: string;
  token?: string | undefined;
  json: boolean;
}

/** The node did not answer at all: exit code 3. */
class Unreachable extends Error {}
/** The node wants its bearer token: a usage error, exit code 2. */
class Unauthorized extends Error {}

function unreachable(options: ClientOptions, err: unknown): Unreachable {
  const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
  return new Unreachable(`cannot reach the node's API at ${options.api}: ${cause} (ERR_API_UNREACHABLE)`);
}

/** One request to the node's control API; an API error comes back as its status and body. */
async function call(options: ClientOptions, method: string, path: string, body?: Uint8Array): Promise<{ status: number; bytes: Uint8Array }> {
  let response: Response;
  try {
    response = await fetch(new URL(path, options.api), {
      method,
      ...(body === undefined ? {} : { body }),
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/octet-stream' }),
      },
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw unreachable(options, err);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (response.status === 401) throw new Unauthorized(`${options.api}: ${failure(bytes)} (pass it with --token or MYDHT_API_TOKEN)`);
  return { status: response.status, bytes };
}

function failure(bytes: Uint8Array): string {
  try {
    const { error } = JSON.parse(Buffer.from(bytes).toString('utf8')) as { error: { code: string; message: string } };
    return `${error.code}: ${error.message}`;
  } catch {
    return Buffer.from(bytes).toString('utf8');
  }
}

/** Run one client command; returns its exit code. Errors go to stderr. */
export async function runClient(
  command:
    | { type: 'put'; name: string; value: string }
    | { type: 'put-file'; file: string }
    | { type: 'get'; name: string }
    | { type: 'listen'; name: string }
    | { type: 'status' }
    | { type: 'peers' },
  options: ClientOptions,
): Promise<number> {
  const named = command.type === 'put' || command.type === 'get' || command.type === 'listen' ? command.name : undefined;
  const problem = named === undefined ? undefined : recordNameProblem(named);
  if (problem !== undefined) {
    process.stderr.write(`${command.type} ${JSON.stringify(named)}: ${problem} (ERR_BAD_REQUEST)\n`);
    return EXIT.usage;
  }
  try {
    switch (command.type) {
      case 'put':
        return await put(options, command.name, new TextEncoder().encode(command.value));
      case 'put-file':
        return await putFile(options, command.file);
      case 'get':
        return await get(options, command.name);
      case 'listen':
        return await listen(options, command.name);
      case 'status':
        return await status(options);
      case 'peers':
        return await peers(options);
    }
  } catch (err) {
    if (err instanceof Unreachable || err instanceof Unauthorized) {
      process.stderr.write(`${err.message}\n`);
      return err instanceof Unreachable ? EXIT.unreachable : EXIT.usage;
    }
    throw err;
  }
}

async function put(options: ClientOptions, name: string, value: Uint8Array, quiet = false): Promise<number> {
  const { status, bytes } = await call(options, 'PUT', `/v1/records/${encodeURIComponent(name)}`, value);
  if (status !== 200) {
    process.stderr.write(`put ${name}: ${failure(bytes)}\n`);
    return status === 400 || status === 413 ? EXIT.usage : EXIT.notFound;
  }
  if (quiet) return EXIT.ok;
  const result = JSON.parse(Buffer.from(bytes).toString('utf8')) as { stored: number; key: string };
  process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : `stored ${name} on ${result.stored} node${result.stored === 1 ? '' : 's'} (key ${result.key})\n`);
  return EXIT.ok;
}

/** Many records from a file, one per line: a name, a tab, the value. */
async function putFile(options: ClientOptions, file: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    process.stderr.write(`put --file ${file}: cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (ERR_FILE_UNREADABLE)\n`);
    return EXIT.usage;
  }
  // Numbered as in the file, blank lines included; a CRLF file's \r is not part of the value.
  const numbered = text.split(/\r?\n/).map((line, i) => ({ line, number: i + 1 }));
  const lines: string[] = [];
  for (const { line, number } of numbered) {
    if (line.trim() === '') continue;
    const at = line.indexOf('\t');
    const problem = at < 0 ? 'has no tab between the name and the value' : recordNameProblem(line.slice(0, at));
    if (problem !== undefined) {
      process.stderr.write(`put --file ${file}: line ${number}: ${problem}\n`);
      return EXIT.usage;
    }
    lines.push(line);
  }
  const bar = new ProgressBar(process.stderr, lines.length);
  let failed = 0;
  for (const line of lines) {
    const at = line.indexOf('\t');
    if ((await put(options, line.slice(0, at), new TextEncoder().encode(line.slice(at + 1)), true)) !== EXIT.ok) failed++;
    bar.tick();
  }
  bar.done();
  const summary = { records: lines.length, stored: lines.length - failed, failed };
  process.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : `stored ${summary.stored} of ${summary.records} records\n`);
  return failed === 0 ? EXIT.ok : EXIT.notFound;
}

async function get(options: ClientOptions, name: string): Promise<number> {
  const { status, bytes } = await call(options, 'GET', `/v1/records/${encodeURIComponent(name)}`);
  if (status === 404) {
    if (options.json) process.stdout.write(`${JSON.stringify({ name, found: false })}\n`);
    else process.stderr.write(`${name}: not found\n`);
    return EXIT.notFound;
  }
  if (status !== 200) {
    process.stderr.write(`get ${name}: ${failure(bytes)}\n`);
    return status === 400 ? EXIT.usage : EXIT.notFound;
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ name, found: true, ...jsonValue(bytes) })}\n`);
  else {
    process.stdout.write(bytes);
    // The value's exact bytes when piped; on a terminal, the prompt on a line of its own.
    if (process.stdout.isTTY && bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) process.stdout.write('\n');
  }
  return EXIT.ok;
}

/** Print each new value under a name as it arrives (a line each), until the node or the user ends it. */
async function listen(options: ClientOptions, name: string): Promise<number> {
  let response: Response;
  try {
    response = await fetch(new URL(`/v1/listen/${encodeURIComponent(name)}`, options.api), {
      headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` },
    });
  } catch (err) {
    throw unreachable(options, err);
  }
  if (response.status === 401) throw new Unauthorized(`${options.api}: ${failure(new Uint8Array(await response.arrayBuffer()))} (pass it with --token or MYDHT_API_TOKEN)`);
  if (response.status !== 200 || response.body === null) {
    process.stderr.write(`listen ${name}: ${failure(new Uint8Array(await response.arrayBuffer()))}\n`);
    return response.status === 400 ? EXIT.usage : EXIT.unreachable;
  }
  // The stream opens once the listen is registered: from here on, no new value is missed.
  process.stderr.write(`listening to ${name}\n`);
  // Server-sent events: blocks of "event: x" and "data: {...}" lines, ended by a blank line.
  let buffered = '';
  try {
    for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === undefined || data === undefined) continue;
        if (options.json) process.stdout.write(`${JSON.stringify({ event, ...(JSON.parse(data) as object) })}\n`);
        else if (event === 'record') {
          const record = JSON.parse(data) as { value?: string; valueBase64?: string };
          process.stdout.write(`${record.value ?? `base64:${record.valueBase64 ?? ''}`}\n`);
        }
        else process.stderr.write(`(${(JSON.parse(data) as { lost: number }).lost} values lost: this listener fell behind)\n`);
      }
    }
  } catch (err) {
    process.stderr.write(`listen ${name}: the connection to the node broke (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})\n`);
    return EXIT.unreachable;
  }
  // The node ends the stream only when it stops.
  process.stderr.write(`listen ${name}: the node ended the stream (it is stopping)\n`);
  return EXIT.unreachable;
}

/**
 * GET a JSON document of the API: with --json printed as it came (and undefined returned),
 * else parsed for the caller to print. An API error exits 3.
 */
async function document<T>(options: ClientOptions, what: string, path: string): Promise<T | number | undefined> {
  const { status: code, bytes } = await call(options, 'GET', path);
  if (code !== 200) {
    process.stderr.write(`${what}: ${failure(bytes)}\n`);
    return EXIT.unreachable;
  }
  if (options.json) {
    process.stdout.write(`${Buffer.from(bytes).toString('utf8')}\n`);
    return undefined;
  }
  return JSON.parse(Buffer.from(bytes).toString('utf8')) as T;
}

/** `1 record`, `2 records`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

async function status(options: ClientOptions): Promise<number> {
  const s = await document<NodeStatus>(options, 'status', '/v1/status');
  if (typeof s === 'number') return s;
  if (s === undefined) return EXIT.ok;
  const lines = [
    `id             ${s.id}`,
    `addresses      ${s.addresses.join(', ')}`,
    `uptime         ${Math.round(s.uptimeMs / 1000)} s`,
    `routing table  ${count(s.routingTable, 'contact')}`,
    `sessions       ${s.connections.sessions} (${count(s.connections.connections, 'connection')})`,
    `store          ${s.store === null ? 'not the key-value store' : `${count(s.store.records, 'record')}, ${s.store.bytes} of ${s.store.quotaBytes} bytes`}`,
    // An older node's status has no such line.
    ...(s.published === undefined ? [] : [`republishing   ${count(s.published.records, 'record')} put here, ${s.published.bytes} of ${s.published.maxBytes} bytes${s.published.unsaved > 0 ? `, ${s.published.unsaved} not saved to disk` : ''}`]),
    'services',
    ...s.services.map((service) => `  ${service.name.padEnd(12)} ${service.spawner.padEnd(14)} ${service.state.padEnd(9)} queued ${service.queued}, restarts ${service.restarts}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

async function peers(options: ClientOptions): Promise<number> {
  const list = await document<{ connected: ConnectedPeer[]; known: KnownPeer[] }>(options, 'peers', '/v1/peers');
  if (typeof list === 'number') return list;
  if (list === undefined) return EXIT.ok;
  const { connected, known } = list;
  const lines = connected.map((peer) => `${peer.id}  ${peer.direction.padEnd(8)}  ${peer.address}`);
  lines.push(`${connected.length} connected, ${known.length} known`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
