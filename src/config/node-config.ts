import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { multiaddr } from '@multiformats/multiaddr';
import { z } from 'zod';
import { ConfigError } from '../runtime/errors.ts';
import { SPAWNER_KINDS } from '../runtime/spawner.ts';
import { parseQueryMode } from '../dht/seek.ts';

/** Services whose spawner the configuration may choose; the main loop and events stay on the node's loop. */
const MOVABLE_SERVICES = ['read', 'write', 'peer-store', 'api', 'global'] as const;
/** Where each preset runs the movable services (the same presets as `mydht testnet --spawners`). */
export const SPAWNER_PRESET_NAMES = ['same-loop', 'worker-thread', 'child-process', 'mixed'] as const;

/** Transports a node started from the CLI may run, in the order they claim addresses (TCP before libp2p: a plain TCP address is TCP's). */
export const TRANSPORT_NAMES = ['tcp', 'udp', 'libp2p'] as const;

const ms = (what: string) => z.number().int().positive().describe(what);

/** A multiaddr: it parses (an IP, a port up to 65535, known protocols), whichever transport it is for. */
const address = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((text, ctx) => {
    try {
      multiaddr(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a multiaddr (${err instanceof Error ? err.message : String(err)})` });
    }
  });

/**
 * The node's configuration file (JSON), every field optional, each with its default. Defaults
 * and meanings are listed in docs/configuration.md; a test keeps the two in step.
 */
export const NODE_CONFIG_SCHEMA = z.strictObject({
  dataDir: z.string().min(1).default('./mydht-data').describe('where the node key, the LMDB record store and the API token live'),
  listen: z.array(address).default(['/ip4/0.0.0.0/tcp/4001']).describe('multiaddrs to listen on'),
  bootstrap: z.array(address).default([]).describe('multiaddrs of nodes to join through'),
  announce: z
    .array(address.refine((text) => text.length <= 255, 'expected at most 255 characters'))
    .max(8)
    .default([])
    .describe("addresses announced in the node's record ahead of those it listens on (a NAT's public address)"),
  transports: z
    .array(z.enum(TRANSPORT_NAMES))
    .min(1)
    .default(['tcp'])
    .describe('the transports the node runs; each listen and bootstrap address goes to the first that handles it'),
  api: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):\d{1,5}$/, 'expected host:port, or [ipv6]:port')
    .refine((api) => Number(api.slice(api.lastIndexOf(':') + 1)) <= 65_535, 'expected a port from 0 to 65535')
    .default('127.0.0.1:5001')
    .describe('where the HTTP control API listens; any host but loopback requires the bearer token'),
  spawners: z
    .union([z.enum(SPAWNER_PRESET_NAMES), z.partialRecord(z.enum(MOVABLE_SERVICES), z.enum(SPAWNER_KINDS))])
    .default('same-loop')
    .describe('a preset, or the spawner of each service'),
  queryMode: z
    .string()
    .refine((mode) => isQueryMode(mode), 'expected iterative, proxy, async, mixed or mixed:N')
    .default('iterative')
    .describe('how lookups, gets and puts query the network'),
  replication: z.number().int().min(1).max(64).default(20).describe("Kademlia's k"),
  exemptPrivateAddresses: z.boolean().default(true).describe('loopback and private addresses escape the IP diversity limits'),
  ipDiversity: z
    .strictObject({ perBucket: z.number().int().min(1).default(2), perTable: z.number().int().min(1).default(10) })
    .default({ perBucket: 2, perTable: 10 })
    .describe('contacts of one /24 at most per bucket and lookup result, and per routing table'),
  disjointPaths: z.number().int().min(1).max(8).default(2).describe('disjoint paths of an iterative lookup (S/Kademlia)'),
  maxValueBytes: z.number().int().min(1).max(1024 * 1024).default(64 * 1024).describe('largest record value'),
  recordValidators: z.string().min(1).optional().describe('a module of plain-record namespace validators'),
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info').describe('log lines at this level and above'),
  livenessIntervalMs: ms('ping interval of connected peers').default(5_000),
  livenessTimeoutMs: ms('a peer silent this long is offline').default(15_000),
  handshakeTimeoutMs: ms('a connection has this long to authenticate').default(10_000),
  targetPeers: z.number().int().min(0).max(1_000).default(8).describe('connected peers the pool keeps'),
  idleTimeoutMs: z.number().int().min(0).default(300_000).describe('past targetPeers, a session idle this long is closed (0: never)'),
  peerRateLimit: z
    .strictObject({ perSecond: z.number().positive(), burst: z.number().min(1) })
    .default({ perSecond: 1_024, burst: 8_192 })
    .describe("session messages a peer may send a second, and save up; past it they are dropped"),
  refreshIntervalMs: ms('bucket refresh interval').default(10 * 60_000),
  republishIntervalMs: ms('republish interval of records this node put').default(60 * 60_000),
  republishMaxBytes: z
    .number()
    .int()
    .min(0)
    .default(64 * 1024 * 1024)
    .describe('bytes of values of the records this node put kept for republishing; the oldest go first'),
  recordRefreshIntervalMs: ms('refresh interval of records this node holds').default(60 * 60_000),
});

export type NodeFileConfig = z.output<typeof NODE_CONFIG_SCHEMA>;
export type NodeConfigInput = z.input<typeof NODE_CONFIG_SCHEMA>;

function isQueryMode(mode: string): boolean {
  try {
    parseQueryMode(mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * The environment variables that override the file, and the field each sets. Lists are
 * comma-separated; numbers are parsed.
 */
export const ENVIRONMENT: Record<string, keyof NodeConfigInput> = {
  MYDHT_DATA_DIR: 'dataDir',
  MYDHT_LISTEN: 'listen',
  MYDHT_BOOTSTRAP: 'bootstrap',
  MYDHT_ANNOUNCE: 'announce',
  MYDHT_TRANSPORTS: 'transports',
  MYDHT_API: 'api',
  MYDHT_SPAWNERS: 'spawners',
  MYDHT_QUERY_MODE: 'queryMode',
  MYDHT_REPLICATION: 'replication',
  MYDHT_LOG_LEVEL: 'logLevel',
};

const LIST_FIELDS = new Set<string>(['listen', 'bootstrap', 'announce', 'transports']);
const NUMBER_FIELDS = new Set<string>(['replication']);

/**
 * The configuration: the file (if any), then `MYDHT_*` variables, then flags, each overriding the
 * one before; validated as a whole. Anything wrong is a ConfigError (exit code 2) that names the
 * field, the value and what was expected.
 */
export async function loadNodeConfig(options: {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: Partial<NodeConfigInput>;
}): Promise<NodeFileConfig> {
  let fromFile: unknown = {};
  if (options.file !== undefined) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`config file ${options.file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      fromFile = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config file ${options.file}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof fromFile !== 'object' || fromFile === null || Array.isArray(fromFile)) {
      throw new ConfigError(`config file ${options.file}: expected a JSON object of options`);
    }
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [variable, field] of Object.entries(ENVIRONMENT)) {
    const raw = (options.env ?? {})[variable];
    if (raw === undefined || raw === '') continue;
    if (LIST_FIELDS.has(field)) fromEnv[field] = raw.split(',').map((part) => part.trim()).filter((part) => part !== '');
    // A number that does not parse stays text, so the error shows what was given.
    else if (NUMBER_FIELDS.has(field)) fromEnv[field] = Number.isFinite(Number(raw)) ? Number(raw) : raw;
    else fromEnv[field] = raw;
  }
  const merged = { ...(fromFile as object), ...fromEnv, ...definedOnly(options.flags ?? {}) };
  const parsed = NODE_CONFIG_SCHEMA.safeParse(merged, { reportInput: true });
  if (!parsed.success) {
    const source = options.file === undefined ? 'config' : `config (${options.file}, MYDHT_* and flags)`;
    throw new ConfigError(
      parsed.error.issues
        .map((issue) => {
          const field = issue.path.length === 0 ? '(top level)' : issue.path.join('.');
          const got = issue.code === 'unrecognized_keys' ? '' : `, got ${JSON.stringify(issue.input)}`;
          return `${source}: ${field}: ${issue.message}${got}`;
        })
        .join('\n'),
    );
  }
  const config = parsed.data;
  // A validators module named by a relative path is relative to the working directory.
  if (config.recordValidators !== undefined && !/^[a-z]+:/.test(config.recordValidators)) {
    config.recordValidators = pathToFileURL(resolve(config.recordValidators)).href;
  }
  return config;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}
