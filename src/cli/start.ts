import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { createNode, transportNamed } from '../assemble.ts';
import { loadNodeConfig, TRANSPORT_NAMES, type NodeConfigInput, type NodeFileConfig } from '../config/node-config.ts';
import { isLoopback, startControlApi } from '../control/http-api.ts';
import type { Logger } from '../runtime/logger.ts';
import { NodeIdentity } from '../node/identity.ts';
import type { NodeServiceName } from '../node/node.ts';
import type { SpawnerKind } from '../runtime/spawner.ts';
import { SPAWNER_PRESETS } from '../testnet.ts';

export interface StartOptions {
  config?: string | undefined;
  flags: Partial<NodeConfigInput>;
  json: boolean;
}

/** The file in the data dir that holds the API's bearer token. */
export const TOKEN_FILE = 'api-token';

/**
 * `mydht start`: run a node in the foreground, with its HTTP control API, until SIGINT or
 * SIGTERM. The first signal stops it gracefully (no new requests or connections, sessions
 * closed, the store flushed and closed); a second forces the exit. Logs go to stderr as JSON
 * lines (pino); stdout carries only the ready line.
 */
export async function runStart(options: StartOptions): Promise<number> {
  const config = await loadNodeConfig({ file: options.config, env: process.env, flags: options.flags });
  await mkdir(config.dataDir, { recursive: true });
  const log = pino({ level: config.logLevel, base: null }, pino.destination(2)) as unknown as Logger;
  const [host, portText] = splitHostPort(config.api);
  const token = isLoopback(host) ? undefined : await apiToken(config.dataDir);
  const identity = await NodeIdentity.loadOrCreate(config.dataDir, log);
  // Every line names the node, and the services' lines their service too.
  const nodeLog = log.child({ node: identity.idHex.slice(0, 16) });
  const node = await createNode({
    identity,
    log: nodeLog,
    dataDir: config.dataDir,
    listen: config.listen,
    transports: TRANSPORT_NAMES.filter((name) => config.transports.includes(name)).map((name) => transportNamed(name, { identity })),
    bootstrap: config.bootstrap,
    announce: config.announce,
    ipDiversity: config.ipDiversity,
    disjointPaths: config.disjointPaths,
    spawners: spawnersOf(config),
    queryMode: config.queryMode,
    replication: config.replication,
    exemptPrivateAddresses: config.exemptPrivateAddresses,
    maxValueBytes: config.maxValueBytes,
    livenessIntervalMs: config.livenessIntervalMs,
    livenessTimeoutMs: config.livenessTimeoutMs,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    targetPeers: config.targetPeers,
    idleTimeoutMs: config.idleTimeoutMs,
    peerRateLimit: config.peerRateLimit,
    refreshIntervalMs: config.refreshIntervalMs,
    republishIntervalMs: config.republishIntervalMs,
    republishMaxBytes: config.republishMaxBytes,
    recordRefreshIntervalMs: config.recordRefreshIntervalMs,
    ...(config.recordValidators === undefined ? {} : { recordValidators: config.recordValidators }),
  });
  await node.start();
  const api = await startControlApi({ node, host, port: Number(portText), token, maxValueBytes: config.maxValueBytes });
  const ready = { event: 'ready', id: node.id, addresses: node.addresses, api: api.url };
  if (options.json) process.stdout.write(`${JSON.stringify(ready)}\n`);
  else process.stdout.write(`mydht node ${node.id}\n  listening on ${node.addresses.join(', ')}\n  control API ${api.url}${token === undefined ? '' : ' (bearer token in ' + join(config.dataDir, TOKEN_FILE) + ')'}\n`);
  nodeLog.info({ addresses: node.addresses, api: api.url }, 'node ready');

  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        nodeLog.warn({ signal }, 'second signal: exiting at once');
        process.exit(130);
      }
      stopping = true;
      nodeLog.info({ signal }, 'stopping: no new requests, sessions closed, store flushed');
      void (async () => {
        const began = performance.now();
        await api.close().catch(() => {});
        const apiClosed = performance.now();
        await node.stop().catch((err: unknown) => nodeLog.error({ err }, 'stopping failed'));
        nodeLog.info({ apiCloseMs: Math.round(apiClosed - began), nodeStopMs: Math.round(performance.now() - apiClosed) }, 'stopped');
        resolve();
      })();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return 0;
}

function spawnersOf(config: NodeFileConfig): Partial<Record<NodeServiceName, SpawnerKind>> {
  return typeof config.spawners === 'string' ? { ...SPAWNER_PRESETS[config.spawners] } : { ...config.spawners };
}

function splitHostPort(api: string): [string, string] {
  const at = api.lastIndexOf(':');
  return [api.slice(0, at), api.slice(at + 1)];
}

/** The API's bearer token, created (random, mode 0600) in the data dir on first need. */
async function apiToken(dataDir: string): Promise<string> {
  const file = join(dataDir, TOKEN_FILE);
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const token = randomBytes(32).toString('base64url');
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' }).catch(async () => undefined);
    await chmod(file, 0o600);
    return (await readFile(file, 'utf8')).trim();
  }
}
