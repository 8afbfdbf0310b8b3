import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SPAWNER_KINDS, type SpawnerKind } from '../runtime/spawner.ts';
import { runDemo } from './demo.ts';
import { runTestnet } from './testnet.ts';
import { SPAWNER_PRESETS, type SpawnerPreset } from '../testnet.ts';
import { formatQueryMode, parseQueryMode } from '../dht/seek.ts';
import { messageOf } from '../runtime/errors.ts';

/** Exit codes, as scripts rely on them. */
export const EXIT = { ok: 0, notFound: 1, usage: 2, unreachable: 3 } as const;

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command()
    .name('mydht')
    .description('A pluggable peer-to-peer DHT node.')
    .version(await version(), '-V, --version')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

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
    .addOption(new Option('-t, --transport <name>', 'transport between the nodes').choices(['memory', 'tcp']).default('memory'))
    .addOption(new Option('--store <kind>', 'where each node keeps its records (lmdb: a temporary dir per node)').choices(['lmdb', 'memory']).default('lmdb'))
    .addOption(new Option('-s, --spawners <preset>', 'where the services that can leave the main loop run').choices(Object.keys(SPAWNER_PRESETS)).default('same-loop'))
    .option('-q, --query <mode>', 'how gets and puts query the network: iterative, proxy, async, mixed or mixed:N (N proxied hops)', queryMode, 'iterative')
    .option('-c, --concurrency <count>', 'operations in flight at once', positiveInt, 32)
    .option('--json', 'print one JSON object instead of a summary')
    .action(
      async (options: {
        nodes: number;
        records: number;
        transport: 'memory' | 'tcp';
        store: 'lmdb' | 'memory';
        spawners: SpawnerPreset;
        query: string;
        concurrency: number;
        json?: boolean;
      }) => {
        exitCode = await runTestnet({ ...options, json: options.json === true });
      },
    );

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    throw err;
  }
  return exitCode;
}

function positiveInt(value: string): number {
  const parsed = Number(value);
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
