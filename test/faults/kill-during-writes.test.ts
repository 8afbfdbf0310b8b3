import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LmdbRecordStore } from '../../src/dht/stores/lmdb.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';
import { reportBar } from '../helpers/report.ts';

const WRITER = fileURLToPath(new URL('../fixtures/kv-writer.ts', import.meta.url));
/** 200 in `npm run test:faults`; a few in `npm test`, where each costs a process start. */
const KILLS = Number(process.env.FAULT_KILLS ?? 5);
const SEED = Number(process.env.FAULT_SEED ?? 4711);

/** Start the writer, wait until it has acknowledged `acks` puts, kill -9 it; the keys it acknowledged. */
async function writeThenKill(dataDir: string, round: number, acks: number): Promise<string[]> {
  const child = spawn(process.execPath, [WRITER, dataDir, `${SEED}/${round}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acknowledged: string[] = [];
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await new Promise<void>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      acknowledged.push(line);
      if (acknowledged.length === acks) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => resolve());
  });
  await exited;
  // Lines written before the kill but read after it are acknowledged too: read them all.
  return acknowledged;
}

describe(`kill -9 during writes on the LMDB store: ${KILLS} times (seed ${SEED})`, function () {
  this.timeout(KILLS * 10_000 + 30_000);

  it('every reopen succeeds, and every acknowledged put is there', async () => {
    const random = new SeededRandom(SEED);
    const dataDir = await mkdtemp(join(tmpdir(), 'mydht-kill-'));
    try {
      const all = new Set<string>();
      for (let round = 0; round < KILLS; round++) {
        for (const key of await writeThenKill(dataDir, round, random.int(1, 200))) all.add(key);
        const store = await LmdbRecordStore.open(join(dataDir, 'records'));
        try {
          let missing = 0;
          for (const key of all) if ((await store.get(Buffer.from(key, 'hex'))) === undefined) missing++;
          assert.equal(missing, 0, `round ${round}: ${missing} of ${all.size} acknowledged puts missing`);
          assert.equal(store.stats().records >= all.size, true);
        } finally {
          await store.close();
        }
      }
      console.log(`      ${KILLS} kills, ${all.size} acknowledged puts, every one present after each reopen`);
      reportBar(`kill -9 during writes x${KILLS}: acknowledged puts missing after a reopen`, 0, 0, 'lower');
      reportBar(`kill -9 during writes x${KILLS}: reopens that succeeded`, KILLS, KILLS);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
