import { Worker } from 'node:worker_threads';
import { LinkedServiceHandle, type RemoteLauncher } from '../../src/runtime/linked-handle.ts';
import type { Protocol } from '../../src/runtime/service.ts';
import type { ServiceHandle, Spawner, SpawnOptions } from '../../src/runtime/spawner.ts';
import { forwardLines } from '../output-lines.ts';

const ENTRY = new URL(`./entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * Runs each service in its own worker thread. Commands cross in batches: a CBOR sequence in one
 * ArrayBuffer, transferred (not cloned) with one postMessage per batch.
 */
export class WorkerThreadSpawner implements Spawner {
  readonly kind = 'worker-thread' as const;

  spawn<P extends Protocol>(options: SpawnOptions): ServiceHandle<P> {
    return new LinkedServiceHandle<P>(options, workerLauncher(options.name));
  }
}

function workerLauncher(name: string): RemoteLauncher {
  return {
    kind: 'worker-thread',
    framed: false,
    launch(events) {
      const worker = new Worker(ENTRY, { name: `mydht:${name}`, stdout: true, stderr: true });
      worker.on('message', (message: unknown) => {
        if (message instanceof ArrayBuffer) events.batch(new Uint8Array(message));
      });
      worker.on('error', (err) => events.exit(`worker threw: ${err.message}`));
      worker.on('exit', (code) => events.exit(`worker exited with code ${code}`));
      worker.on('messageerror', (err) => events.exit(`worker message could not be read: ${err.message}`));
      forwardLines(worker.stdout, (line) => events.output('stdout', line));
      forwardLines(worker.stderr, (line) => events.output('stderr', line));
      return {
        write(batch) {
          // The batch owns its buffer (BatchWriter allocates one per batch), so it can be transferred.
          const buffer = batch.buffer as ArrayBuffer;
          worker.postMessage(buffer, [buffer]);
        },
        kill() {
          void worker.terminate();
        },
      };
    },
  };
}
