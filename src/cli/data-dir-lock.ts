import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MyDhtError } from '../runtime/errors.ts';

/** The file in the data dir that names the process running a node on it. */
export const LOCK_FILE = 'lock';

/**
 * One node per data dir. Two would share one identity and one store, and LMDB lets several
 * processes open the same environment, so nothing else would stop the second. The lock is a file
 * holding the owner's pid, made exclusively; one left by a process that is gone (kill -9, a
 * crash) is taken over. Returns the release, which removes the file.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const file = await open(path, 'wx', 0o644);
      await file.writeFile(`${process.pid}\n`);
      await file.close();
      return () => unlink(path).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(owner) && owner > 0 && isRunning(owner)) {
      throw new MyDhtError(
        'ERR_DATA_DIR_LOCKED',
        `data dir ${dataDir} is in use by process ${owner}; if no node runs there, remove ${path}`,
      );
    }
    await unlink(path).catch(() => {});
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
