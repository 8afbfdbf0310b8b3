import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SPAWNER_KINDS, type SpawnerKind } from '../runtime/spawner.ts';
import { runDemo } from './demo.ts';
import { runTestnet } from './testnet.ts';
import { DEFAULT_API, EXIT, runClient, type ClientOptions } from './client.ts';
import { runStart } from './start.ts';
import { SPAWNER_PRESET_NAMES, TRANSPORT_NAMES } from '../config/node-config.ts';
import { codeOf, messageOf, MyDhtError } from '../runtime/errors.ts';
import { SPAWNER_PRESETS, type SpawnerPreset } from '../testnet.ts';
import { formatQueryMode, parseQueryMode } from '../dht/seek.ts';

export { EXIT } from './client.ts';

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command()
    .name('mydht')
    .description('A pluggable peer-to-peer DHT node.')
    .version(await version(), '-V, --version')
    .exitOverride()
    // Commander's own errors (an unknown option, a bad value) carry the code of every usage error.
    .configureOutput({ outputError: (text, write) => write(`${text.replace(/^error: /, 'mydht: ').trimEnd()} (ERR_USAGE)\n`) });

  let exitCode: number = EXIT.ok;
  program
    .command('demo')
    .description(
      'Run the service runtime demo: a key-value service under each spawner (same-loop, worker-thread, ' +
        'child-process), with records put and read back through it.',
    )
    .option('-r, --records <count>', 'records to put and get under each spawner', positiveInt, 10_000)
    .addOption(
      new Option('-s, --spawners <kinds>', 'comma-separated spawners to run').default(SPAWNER_KINDS.join(',')).argParser(spawnerList),
    )
    .option('--json', 'print one JSON object per spawner instead of a table')
    .action(async (options: { records: number; spawners: SpawnerKind[] | string; json?: boolean }) => {
      const spawners = typeof options.spawners === 'string' ? spawnerList(options.spawners) : options.spawners;
      exitCode = await runDemo({ records: options.records, spawners, json: options.json === true });
    });

  program
    .command('testnet')
    .description('Start a local network of nodes, put random records from random nodes, get each from another node, and report.')
    .option('-n, --nodes <count>', 'nodes to start', positiveInt, 20)
    .option('-r, --records <count>', 'records to put and get', positiveInt, 1000)
    .addOption(new Option('-t, --transport <name>', 'transport between the nodes').choices(['memory', 'tcp', 'udp', 'libp2p']).default('memory'))
    .option('--loss <rate>', 'with --transport udp: the share of datagrams each node drops on purpose (0 to 1)', lossRate)
    .addOption(new Option('--store <kind>', 'where each node keeps its records (lmdb: a temporary dir per node)').choices(['lmdb', 'memory']).default('lmdb'))
    .addOption(new Option('-s, --spawners <preset>', 'where the services that can leave the main loop run').choices(Object.keys(SPAWNER_PRESETS)).default('same-loop'))
    .option('-q, --query <mode>', 'how gets and puts query the network: iterative, proxy, async, mixed or mixed:N (N proxied hops)', queryMode, 'iterative')
    .option('-c, --concurrency <count>', 'operations in flight at once', positiveInt, 32)
    .option('--json', 'print one JSON object instead of a summary')
    .action(
      async (options: {
        nodes: number;
        records: number;
        transport: 'memory' | 'tcp' | 'udp' | 'libp2p';
        loss?: number;
        store: 'lmdb' | 'memory';
        spawners: SpawnerPreset;
        query: string;
        concurrency: number;
        json?: boolean;
      }) => {
        if (options.loss !== undefined && options.transport !== 'udp') {
          throw new MyDhtError('ERR_USAGE', `--loss drops datagrams of the udp transport; with --transport ${options.transport} it would do nothing`);
        }
        exitCode = await runTestnet({ ...options, json: options.json === true });
      },
    );

  program
    .command('start')
    .description('Run a node in the foreground, with its HTTP control API, until SIGINT or SIGTERM (a second signal forces the exit).')
    .option('--config <file>', 'a JSON config file (docs/configuration.md); MYDHT_* variables and these flags override it')
    .option('--listen <multiaddr...>', 'multiaddrs to listen on (default /ip4/0.0.0.0/tcp/4001)')
    .option('--bootstrap <multiaddr...>', 'multiaddrs of nodes to join through')
    .option('--announce <multiaddr...>', "addresses announced in the node's record ahead of those it listens on")
    .addOption(new Option('--transports <names...>', 'transports to run (default tcp)').choices(TRANSPORT_NAMES))
    .option('--data-dir <dir>', 'where the node key, the LMDB store and the API token live (default ./mydht-data)')
    .option('--api <host:port>', 'where the control API listens (default 127.0.0.1:5001; another host needs the bearer token)')
    .addOption(new Option('--spawners <preset>', 'where the movable services run').choices(SPAWNER_PRESET_NAMES))
    .option('--query <mode>', 'how gets and puts query the network: iterative, proxy, async, mixed or mixed:N', queryMode)
    .addOption(new Option('--log-level <level>', 'log lines at this level and above, to stderr').choices(['debug', 'info', 'warn', 'error', 'silent']))
    .option('--json', 'print the ready line as JSON: {"event":"ready","id","addresses","api"}')
    .action(
      async (options: {
        config?: string;
        listen?: string[];
        bootstrap?: string[];
        announce?: string[];
        transports?: (typeof TRANSPORT_NAMES)[number][];
        dataDir?: string;
        api?: string;
        spawners?: (typeof SPAWNER_PRESET_NAMES)[number];
        query?: string;
        logLevel?: 'debug' | 'info' | 'warn' | 'error' | 'silent';
        json?: boolean;
      }) => {
        exitCode = await runStart({
          config: options.config,
          json: options.json === true,
          flags: {
            ...(options.listen === undefined ? {} : { listen: options.listen }),
            ...(options.bootstrap === undefined ? {} : { bootstrap: options.bootstrap }),
            ...(options.announce === undefined ? {} : { announce: options.announce }),
            ...(options.transports === undefined ? {} : { transports: options.transports }),
            ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
            ...(options.api === undefined ? {} : { api: options.api }),
            ...(options.spawners === undefined ? {} : { spawners: options.spawners }),
            ...(options.query === undefined ? {} : { queryMode: options.query }),
            ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
          },
        });
      },
    );

  const client = (command: Command): Command =>
    command
      .option('--api <url>', 'the node\'s control API (default MYDHT_API_URL, else the local node\'s)', process.env.MYDHT_API_URL ?? DEFAULT_API)
      .option('--token <token>', 'the bearer token of a non-loopback API (default MYDHT_API_TOKEN)', process.env.MYDHT_API_TOKEN)
      .option('--json', 'print JSON');
  const clientOptions = (options: { api: string; token?: string; json?: boolean }): ClientOptions => ({
    api: options.api,
    token: options.token,
    json: options.json === true,
  });
  client(
    program
      .command('put')
      .description('Store a value under a name, in the public namespace (exit 1 if no node stored it).')
      .argument('[name]', 'the record\'s name')
      .argument('[value]', 'the value, as text')
      .option('--file <file>', 'many records: one per line, the name, a tab, the value'),
  ).action(async (name: string | undefined, value: string | undefined, options: { api: string; token?: string; json?: boolean; file?: string }) => {
    if (options.file !== undefined) exitCode = await runClient({ type: 'put-file', file: options.file }, clientOptions(options));
    else if (name === undefined || value === undefined) throw new MyDhtError('ERR_USAGE', 'put needs a name and a value, or --file');
    else exitCode = await runClient({ type: 'put', name, value }, clientOptions(options));
  });
  client(program.command('get').description('Print the value stored under a name (exit 1 if not found).').argument('<name>', 'the record\'s name')).action(
    async (name: string, options: { api: string; token?: string; json?: boolean }) => {
      exitCode = await runClient({ type: 'get', name }, clientOptions(options));
    },
  );
  client(
    program.command('listen').description('Print each new value stored under a name as it arrives, until interrupted.').argument('<name>', 'the record\'s name'),
  ).action(async (name: string, options: { api: string; token?: string; json?: boolean }) => {
    exitCode = await runClient({ type: 'listen', name }, clientOptions(options));
  });
  client(program.command('status').description('Show a running node: id, addresses, uptime, routing table, services, store.')).action(
    async (options: { api: string; token?: string; json?: boolean }) => {
      exitCode = await runClient({ type: 'status' }, clientOptions(options));
    },
  );
  client(program.command('peers').description('List the peers a running node is connected to.')).action(async (options: { api: string; token?: string; json?: boolean }) => {
    exitCode = await runClient({ type: 'peers' }, clientOptions(options));
  });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (codeOf(err) === 'ERR_CONFIG' || codeOf(err) === 'ERR_USAGE') {
      process.stderr.write(`mydht: ${(err as Error).message} (${codeOf(err)})\n`);
      return EXIT.usage;
    }
    if (codeOf(err) === 'ERR_START_FAILED') {
      process.stderr.write(`mydht: ${(err as Error).message}\n`);
      return EXIT.cannotStart;
    }
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw err;
  }
  return exitCode;
}

function positiveInt(value: string): number {
  // Digits only: Number() would also take "1e3", "0x10" and " 5 ".
  const parsed = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a positive integer');
  return parsed;
}

function queryMode(value: string): string {
  try {
    return formatQueryMode(parseQueryMode(value));
  } catch (err) {
    throw new InvalidArgumentError(messageOf(err));
  }
}

function lossRate(value: string): number {
  const rate = Number(value);
  if (value.trim() === '' || !(rate >= 0 && rate < 1)) throw new InvalidArgumentError('expected a share of datagrams from 0 to below 1, e.g. 0.1');
  return rate;
}

function spawnerList(value: string): SpawnerKind[] {
  const kinds = value.split(',').map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!SPAWNER_KINDS.includes(kind as SpawnerKind)) {
      throw new InvalidArgumentError(`unknown spawner "${kind}"; expected one of ${SPAWNER_KINDS.join(', ')}`);
    }
  }
  return kinds as SpawnerKind[];
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(await readFile(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'mydht' && typeof pkg.version === 'string') return pkg.version;
    } catch {}
  }
  return 'unknown';
}
