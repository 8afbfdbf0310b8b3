import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNode } from '../../src/assemble.ts';
import { immutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { codeOf } from '../../src/runtime/errors.ts';
import { until } from '../helpers/until.ts';
import { reportBar } from '../helpers/report.ts';

/** The pid of this process's child running a child-process service, from the OS. */
function serviceChildPid(): number {
  const pids = execFileSync('pgrep', ['-P', String(process.pid), '-f', 'child-process/entry'], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(pids.length, 1, `one service child, found ${pids.join(', ')}`);
  return Number(pids[0]);
}

/**
 * Worker threads this process starts, recorded as they are made: the spawner's `Worker` is
 * node:worker_threads' export, which a test can wrap (and re-export to ES modules) before the
 * node starts. `terminate()` then stops one at once, from outside, as kill -9 stops a process.
 */
const workers: Worker[] = [];
function recordWorkers(): void {
  const threads = createRequire(import.meta.url)('node:worker_threads') as { Worker: typeof Worker };
  if ((threads.Worker as { recorded?: boolean }).recorded === true) return;
  const Original = threads.Worker;
  threads.Worker = class RecordedWorker extends Original {
    static recorded = true;
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      workers.push(this);
    }
  };
  syncBuiltinESMExports();
}

/** The node runs only its key-value service in a worker: the newest recorded worker is its current one. */
const globalWorker = (): Worker => workers.at(-1)!;

/** How each spawner's process or thread is killed from outside, and told apart from its successor. */
const KILLS = {
  'child-process': {
    how: 'kill -9 of its child process',
    available: (): boolean => {
      try {
        execFileSync('pgrep', ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        console.log('      skipped: pgrep (procps) is not installed, and the test finds the service child with it');
        return false;
      }
    },
    prepare: (): void => {},
    kill: (): number => {
      const pid = serviceChildPid();
      process.kill(pid, 'SIGKILL');
      return pid;
    },
    current: (): number => serviceChildPid(),
  },
  'worker-thread': {
    how: 'terminate() of its worker thread',
    available: (): boolean => true,
    prepare: recordWorkers,
    kill: (): number => {
      const worker = globalWorker();
      void worker.terminate();
      return worker.threadId;
    },
    current: (): number => globalWorker().threadId,
  },
} as const;

for (const [spawner, kill] of Object.entries(KILLS) as [keyof typeof KILLS, (typeof KILLS)[keyof typeof KILLS]][]) describe(`the key-value service killed under load (${kill.how})`, function () {
  this.timeout(120_000);

  before(function () {
    if (!kill.available()) this.skip();
    kill.prepare();
  });

  it('is restarted; calls in flight fail with a clear error; then 100% success, and nothing acknowledged is lost', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mydht-crash-'));
    const node = await createNode({ dataDir, spawners: { global: spawner } });
    await node.start();
    try {
      const acknowledged: DhtRecord[] = [];
      const failures: string[] = [];
      let phase: 'before' | 'after' = 'before';
      let afterOk = 0;
      let afterFailed = 0;
      let next = 0;
      let stop = false;
      const client = async (): Promise<void> => {
        while (!stop) {
          const record = immutableRecord(new Uint8Array(createHash('sha256').update(`crash/${next++}`).digest()));
          const inAfter = phase === 'after';
          try {
            await node.local({ type: 'put', record } as { type: string });
            acknowledged.push(record);
            const back = acknowledged[Math.floor(Math.random() * acknowledged.length)]!;
            const got = (await node.local({ type: 'get', key: back.key } as { type: string })) as DhtRecord | null;
            assert.ok(got !== null && Buffer.compare(got.value, back.value) === 0, 'an acknowledged record reads back');
            if (inAfter) afterOk++;
          } catch (err) {
            if (inAfter) afterFailed++;
            else failures.push(codeOf(err));
          }
        }
      };
      const clients = Array.from({ length: 32 }, client);
      await until(() => acknowledged.length >= 500, 30_000);
      const killed = kill.kill();
      await until(() => node.services().find((service) => service.name === 'global')!.restarts >= 1 && node.services().find((service) => service.name === 'global')!.state === 'running', 30_000);
      assert.notEqual(kill.current(), killed, 'a new child or thread');
      phase = 'after';
      await until(() => afterOk + afterFailed >= 1_000, 30_000);
      stop = true;
      await Promise.all(clients);

      // In flight when it died: each failed with a code that says so, nothing else.
      assert.ok(failures.length > 0, 'some calls were in flight');
      const byCode: Record<string, number> = {};
      for (const code of failures) byCode[code] = (byCode[code] ?? 0) + 1;
      console.log(`      ${acknowledged.length} puts acknowledged; in flight at the kill: ${JSON.stringify(byCode)}; after the restart: ${afterOk} ok, ${afterFailed} failed`);
      reportBar(`${spawner} service killed under 32 clients: in-flight calls failing with another error than ERR_SERVICE_RESTARTED`, failures.length - (byCode.ERR_SERVICE_RESTARTED ?? 0), 0, 'lower');
      reportBar(`${spawner} service killed under 32 clients: success after the restart, %`, (100 * afterOk) / (afterOk + afterFailed), 100);
      assert.deepEqual(Object.keys(byCode), ['ERR_SERVICE_RESTARTED'], 'the one clear error: the service restarted under the call');
      assert.equal(afterFailed, 0, 'after the restart, every put and get succeeds');
      let missing = 0;
      for (const record of acknowledged) if ((await node.local({ type: 'get', key: record.key } as { type: string })) === null) missing++;
      reportBar(`${spawner} service killed under 32 clients: acknowledged puts lost`, missing, 0, 'lower');
      assert.equal(missing, 0, `of ${acknowledged.length} acknowledged puts`);
    } finally {
      await node.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
