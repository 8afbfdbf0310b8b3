import { serviceModule } from '../src/runtime/service.ts';
import type { SpawnerKind } from '../src/runtime/spawner.ts';
import { openChildProcessPath } from './baselines/child-process.ts';
import type { RawPath } from './baselines/raw-path.ts';
import { openSameLoopPath } from './baselines/same-loop.ts';
import { openWorkerThreadPath } from './baselines/worker-thread.ts';

/** The service the one-way and round-trip figures go through: it only counts and echoes. */
export const COUNTER = serviceModule(import.meta.url, './fixtures/counter.ts');

/** The raw path each spawner is measured against. */
export const RAW_PATHS: Record<SpawnerKind, () => Promise<RawPath>> = {
  'same-loop': openSameLoopPath,
  'worker-thread': openWorkerThreadPath,
  'child-process': openChildProcessPath,
};

