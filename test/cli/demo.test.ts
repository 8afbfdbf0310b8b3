import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../helpers/until.ts';
import type { TestnetReport } from '../../src/cli/testnet.ts';
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

  for (const query of ['iterative', 'mixed:1']) {
    it(`testnet --query ${query} --json starts a network, and every record put is got back`, async () => {
      const { code, stdout } = await mydht('testnet', '--nodes', '5', '--records', '30', '--query', query, '--json');
      assert.equal(code, 0);
      const report = JSON.parse(stdout) as TestnetReport;
      assert.equal(report.nodes, 5);
      assert.equal(report.transport, 'memory');
      assert.equal(report.store, 'lmdb', 'the embedded store by default');
      assert.equal(report.query, query);
      assert.deepEqual([report.put.ok, report.put.failed], [30, 0]);
      assert.deepEqual([report.get.ok, report.get.notFound, report.get.failed], [30, 0, 0]);
      for (const figure of [report.bootstrapMs, report.put.opsPerSec, report.get.p99Ms, report.hops.max, report.rssMbPerNode]) {
        assert.equal(typeof figure, 'number');
      }
    });
  }

  it('testnet interrupted (SIGINT) stops its nodes and removes their temporary stores', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'mydht-interrupt-'));
    try {
      const child = spawn(process.execPath, [BIN, 'testnet', '--nodes', '3', '--records', '1000000', '--json'], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'ignore'] });
      let stdout = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      const exited = once(child, 'exit');
      // Running once its three stores exist.
      await until(async () => (await readdir(tmp)).filter((name) => name.startsWith('mydht-testnet-')).length === 3, 30_000);
      child.kill('SIGINT');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 130);
      assert.deepEqual(await readdir(tmp), [], 'no store left behind');
      assert.equal(stdout, '', 'no report of operations cut short by the stop');
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('bad usage exits 2 and names the problem', async () => {
    const bad = await mydht('demo', '--spawners', 'bogus');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown spawner "bogus"/);
    for (const count of ['many', '1e3', '0x10', ' 5', '0']) {
      const notCount = await mydht('demo', '--records', count);
      assert.equal(notCount.code, 2, count);
      assert.match(notCount.stderr, /^mydht: .*expected a positive integer \(ERR_USAGE\)$/m, count);
    }
    const unknown = await mydht('testnet', '--bogus');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^mydht: unknown option '--bogus' \(ERR_USAGE\)$/m);
    const mode = await mydht('testnet', '--query', 'mixed:x');
    assert.equal(mode.code, 2);
    assert.match(mode.stderr, /query mode "mixed:x": expected iterative, proxy, async, mixed or mixed:N/);
  });
});
