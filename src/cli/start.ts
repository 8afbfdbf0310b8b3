import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { createNode, transportNamed } from '../assemble.ts';
import { loadNodeConfig, TRANSPORT_NAMES, type NodeConfigInput, type NodeFileConfig } from '../config/node-config.ts';
import { isLoopback, startControlApi } from '../control/http-api.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { ConfigError, messageOf, MyDhtError, rootCodeOf } from '../runtime/errors.ts';
import type { Logger } from '../runtime/logger.ts';
import { NodeIdentity } from '../node/identity.ts';
import type { MyDhtNode, NodeServiceName } from '../node/node.ts';
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
  const log = pino({ level: config.logLevel, base: null }, pino.destination(2)) as unknown as Logger;
  const { node, api, token, nodeLog, unlock } = await startOrExplain(config, log);
  // The signals are taken before the ready line goes out: a pipe write is synchronous, so a
  // supervisor may read the line and send SIGTERM before this process runs its next statement.
  const stopped = new Promise<void>((resolve) => {
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
        await unlock();
        nodeLog.info({ apiCloseMs: Math.round(apiClosed - began), nodeStopMs: Math.round(performance.now() - apiClosed) }, 'stopped');
        resolve();
      })();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  const ready = { event: 'ready', id: node.id, addresses: node.addresses, api: api.url };
  if (options.json) process.stdout.write(`${JSON.stringify(ready)}\n`);
  else process.stdout.write(`mydht node ${node.id}\n  listening on ${node.addresses.join(', ')}\n  control API ${api.url}${token === undefined ? '' : ' (bearer token in ' + join(config.dataDir, TOKEN_FILE) + ')'}\n`);
  nodeLog.info({ addresses: node.addresses, api: api.url }, 'node ready');
  await stopped;
  return 0;
}

/**
 * Everything that can fail once the configuration is valid: the data dir, the key file, the
 * store, the listen and API sockets. A failure stops what had started and becomes one
 * ERR_START_FAILED line (exit 4) naming its cause, instead of a stack trace; an address no
 * transport can parse is a bad option value (exit 2).
 */
async function startOrExplain(config: NodeFileConfig, log: Logger) {
  let node: MyDhtNode | undefined;
  let unlock: (() => Promise<void>) | undefined;
  try {
    await mkdir(config.dataDir, { recursive: true });
    unlock = await lockDataDir(config.dataDir);
    const [host, portText] = splitHostPort(config.api);
    const token = isLoopback(host) ? undefined : await apiToken(config.dataDir);
    const identity = await NodeIdentity.loadOrCreate(config.dataDir, log);
    // Every line names the node, and the services' lines their service too.
    const nodeLog = log.child({ node: identity.idHex.slice(0, 16) });
    const transports = TRANSPORT_NAMES.filter((name) => config.transports.includes(name)).map((name) => transportNamed(name, { identity }));
    // A well-formed address that none of the node's transports takes (a /dns4 one, a /udp one
    // without udp) is an option to fix, not a peer that happens to be down.
    for (const [field, purpose] of [['listen', 'listen'], ['bootstrap', 'dial']] as const) {
      for (const address of config[field]) {
        if (!transports.some((transport) => transport.handles(address, purpose))) {
          throw new ConfigError(`${field}: no transport of this node handles ${JSON.stringify(address)} (transports: ${config.transports.join(', ')})`);
        }
      }
    }
    node = await createNode({
      identity,
      log: nodeLog,
      dataDir: config.dataDir,
      listen: config.listen,
      transports,
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
    return { node, api, token, nodeLog, unlock };
  } catch (err) {
    await node?.stop().catch(() => {});
    await unlock?.();
    // A service that failed to start says why in its cause: that code, not ERR_SERVICE_FAILED.
    if (err instanceof ConfigError) throw err;
    const code = rootCodeOf(err);
    if (code === 'ERR_ADDRESS_INVALID') throw new ConfigError(`listen: ${messageOf(err)}`);
    throw new StartFailedError(`cannot start: ${messageOf(err)}${code === 'ERR_HANDLER' ? '' : ` (${code})`}`, { cause: err });
  }
}

/** The node could not start although its configuration is valid (exit 4). */
export class StartFailedError extends MyDhtError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_START_FAILED', message, options);
  }
}

function spawnersOf(config: NodeFileConfig): Partial<Record<NodeServiceName, SpawnerKind>> {
  return typeof config.spawners === 'string' ? { ...SPAWNER_PRESETS[config.spawners] } : { ...config.spawners };
}

/** `host:port` or `[ipv6]:port` (as the config checked it): the host without its brackets, and the port. */
function splitHostPort(api: string): [string, string] {
  const at = api.lastIndexOf(':');
  const host = api.slice(0, at);
  return [host.startsWith('[') ? host.slice(1, -1) : host, api.slice(at + 1)];
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
