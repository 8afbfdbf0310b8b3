import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The built executable, as `npx mydht` runs it after `npm install` (npm test builds first).
const BIN = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url));

function mydht(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('mydht executable', function () {
  this.timeout(60_000);

  it('--help lists the commands and exits 0', async () => {
    const { code, stdout } = await mydht('--help');
    assert.equal(code, 0);
    assert.match(stdout, /Usage: mydht/);
    assert.match(stdout, /demo/);
  });

  it('demo --json runs the key-value service under every spawner and verifies each record', async () => {
    const { code, stdout } = await mydht('demo', '--records', '300', '--json');
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as { spawner: string; records: number; verified: number });
    assert.deepEqual(
      lines.map((line) => line.spawner),
      ['same-loop', 'worker-thread', 'child-process'],
    );
    for (const line of lines) assert.equal(line.verified, line.records);
  });

  it('bad usage exits 2 and names the problem', async () => {
    const bad = await mydht('demo', '--spawners', 'bogus');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown spawner "bogus"/);
    const notNumber = await mydht('demo', '--records', 'many');
    assert.equal(notNumber.code, 2);
    assert.match(notNumber.stderr, /positive integer/);
  });
});
