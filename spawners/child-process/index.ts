import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { FrameDecoder } from '../../src/runtime/frames.ts';
import { LinkedServiceHandle, type RemoteLauncher } from '../../src/runtime/linked-handle.ts';
import type { Protocol } from '../../src/runtime/service.ts';
import type { ServiceHandle, Spawner, SpawnOptions } from '../../src/runtime/spawner.ts';
import { forwardLines } from '../output-lines.ts';

const ENTRY = new URL(`./entry${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** The link is fd 3 of the child: a socket pair, so batches are u32-length-prefixed frames. */
export const LINK_FD = 3;

/**
 * Runs each service in its own child process (this same Node binary). Commands cross as
 * length-prefixed CBOR batches over a socket pair: no `serialization: 'advanced'` IPC, which is
 * several times slower. The child's stdout and stderr are read line by line into the parent's log.
 */
export class ChildProcessSpawner implements Spawner {
  readonly kind = 'child-process' as const;

  spawn<P extends Protocol>(options: SpawnOptions): ServiceHandle<P> {
    return new LinkedServiceHandle<P>(options, childLauncher(options.name, options.codecLimits.maxBytes));
  }
}

function childLauncher(name: string, maxFrame: number): RemoteLauncher {
  return {
    kind: 'child-process',
    framed: true,
    launch(events) {
      const child = spawn(process.execPath, [...process.execArgv, ENTRY.pathname, name, String(maxFrame)], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        env: { ...process.env, MYDHT_SERVICE: name },
      });
      const link = child.stdio[LINK_FD] as Socket;
      const frames = new FrameDecoder(maxFrame);
      link.on('data', (chunk: Buffer) => {
        let batches: Uint8Array[];
        try {
          batches = frames.push(chunk);
        } catch (err) {
          child.kill('SIGKILL');
          events.exit(`oversized frame from child: ${(err as Error).message}`);
          return;
        }
        for (const batch of batches) events.batch(batch);
      });
      link.on('error', () => {});
      child.on('error', (err) => events.exit(`child could not run: ${err.message}`));
      child.on('exit', (code, signal) => events.exit(signal === null ? `child exited with code ${code}` : `child killed by ${signal}`));
      forwardLines(child.stdout, (line) => events.output('stdout', line));
      forwardLines(child.stderr, (line) => events.output('stderr', line));
      return {
        write(batch) {
          if (!link.destroyed) link.write(batch);
        },
        kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        },
      };
    },
  };
}
