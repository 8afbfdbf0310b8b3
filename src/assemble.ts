/**
 * The one place in src/ that names concrete spawners (and, later, transports and services):
 * everything else depends on the contracts only.
 */
import { ChildProcessSpawner } from '../spawners/child-process/index.ts';
import { SameLoopSpawner } from '../spawners/same-loop.ts';
import { WorkerThreadSpawner } from '../spawners/worker-thread/index.ts';
import type { Spawner, SpawnerKind } from './runtime/spawner.ts';
import { ServiceSystem, type SystemOptions } from './runtime/system.ts';

export function defaultSpawners(): Record<SpawnerKind, Spawner> {
  return {
    'same-loop': new SameLoopSpawner(),
    'worker-thread': new WorkerThreadSpawner(),
    'child-process': new ChildProcessSpawner(),
  };
}

/** A service system with all three spawners available. */
export function createServiceSystem(options: Omit<SystemOptions, 'spawners'> = {}): ServiceSystem {
  return new ServiceSystem({ ...options, spawners: defaultSpawners() });
}
