#!/usr/bin/env node
/**
 * The `mydht` executable. It only checks the runtime, then loads the CLI: mydht needs Node 22 or
 * newer (libp2p 3 does), while many machines still ship Node 20. When the running Node is too
 * old and the project's pinned runtime (the `node` devDependency) is installed, it re-runs itself
 * on that; otherwise it says what is needed, with exit code 2.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN_NODE_MAJOR = 22;
const major = Number(process.versions.node.split('.')[0]);

if (major >= MIN_NODE_MAJOR) {
  const { main } = await import('./main.ts');
  process.exitCode = await main(process.argv);
} else {
  const pinned = findPinnedNode(dirname(fileURLToPath(import.meta.url)));
  if (pinned === undefined) {
    process.stderr.write(
      `mydht needs Node ${MIN_NODE_MAJOR} or newer; this is Node ${process.versions.node}.\n` +
        'Run it through npm (npx mydht ...), which uses the Node the project pins, or install Node 24 LTS.\n',
    );
    process.exit(2);
  }
  const result = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

function findPinnedNode(from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', 'node', 'bin', 'node');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}
