import type { SpawnerKind } from './spawner.ts';

/**
 * The contract between LinkedServiceHandle and a spawner that runs services out of process:
 * the spawner starts a worker or child and reports what it says; the handle does the rest.
 */

/** One running worker or child, as the spawner that launched it exposes it. */
export interface RemoteConnection {
  /** Ship one batch (already framed if the launcher asked for framing). */
  write(batch: Uint8Array): void;
  /** End it now: after a crash, or when it does not stop in time. */
  kill(): void;
}

/** What a launched worker or child reports back. */
export interface RemoteEvents {
  /** One batch of envelopes (unframed). */
  batch(bytes: Uint8Array): void;
  /** It is gone: crashed, exited, or killed. Called at most once. */
  exit(reason: string): void;
  /** A line it wrote to stdout or stderr. */
  output(stream: 'stdout' | 'stderr', line: string): void;
}

export interface RemoteLauncher {
  kind: SpawnerKind;
  /** Batches to this remote carry a u32 length prefix (a byte stream needs one, postMessage does not). */
  framed: boolean;
  launch(events: RemoteEvents): RemoteConnection;
}
