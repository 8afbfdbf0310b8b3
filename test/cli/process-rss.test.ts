import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { processTreeRss } from '../../src/cli/testnet.ts';

describe('the testnet report\'s memory', function () {
  this.timeout(30_000);

  it('counts the RSS of child processes with this one\'s (Linux)', async function () {
    if (process.platform !== 'linux') this.skip();
    const alone = processTreeRss();
    // A child that touches 64 MB and waits: the tree's RSS grows by about that much.
    const child = spawn(process.execPath, ['-e', 'globalThis.kept = Buffer.alloc(64 * 2 ** 20, 1); console.log("ready"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(child.stdout, 'data');
      const withChild = processTreeRss();
      assert.ok(withChild - alone > 60 * 2 ** 20, `the tree grew by ${((withChild - alone) / 2 ** 20).toFixed(1)} MB`);
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  });
});
