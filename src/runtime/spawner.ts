import type { CodecLimits } from './codec.ts';
import type { Logger } from './logger.ts';
import type { RestartPolicy } from './restart-policy.ts';
import type { AnyServiceDefinition, Protocol, ServiceModule, ServicePort } from './service.ts';

export type SpawnerKind = 'same-loop' | 'worker-thread' | 'child-process';

export const SPAWNER_KINDS: readonly SpawnerKind[] = ['same-loop', 'worker-thread', 'child-process'];

export type ServiceState = 'starting' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'failed';

export interface ServiceStatus {
  name: string;
  spawner: SpawnerKind;
  state: ServiceState;
  /** Commands accepted and not yet handled: in the queue, or in transit to the thread or process. */
  queued: number;
  /** Senders waiting for room in a full queue. */
  waiting: number;
  handled: number;
  failed: number;
  restarts: number;
  /** Why the last start or run failed, if it did. */
  lastError?: string;
}

/** How a running service reaches the others: by name, whatever spawner runs them. */
export interface ServiceDirectory {
  port<P extends Protocol>(name: string): ServicePort<P>;
}

export interface SpawnOptions {
  name: string;
  module: ServiceModule;
  /** The service's own configuration; it must encode with cbor-x to reach a worker or child. */
  config?: unknown;
  /** The definition itself, when the caller already holds it (same-loop only; others load `module`). */
  definition?: AnyServiceDefinition;
  /** Bound of the service's queue; a full queue makes senders wait. */
  queueCapacity: number;
  /** Default deadline for calls. */
  callTimeoutMs: number;
  restart: RestartPolicy;
  codecLimits: CodecLimits;
  directory: ServiceDirectory;
  log: Logger;
}

/** A running service as its owner sees it. */
export interface ServiceHandle<P extends Protocol = Protocol> extends ServicePort<P> {
  readonly spawner: SpawnerKind;
  /** Resolves when the service first runs; rejects with ERR_SERVICE_FAILED if it never can. */
  readonly ready: Promise<void>;
  status(): ServiceStatus;
  /**
   * Stop the service. Without `drain`, queued commands fail with ERR_SERVICE_STOPPED at once;
   * with it, they are handled first. Calls still in flight afterwards fail with ERR_SERVICE_STOPPED.
   */
  stop(options?: { drain?: boolean }): Promise<void>;
  /** Commands dispatched to this service so far. */
  readonly dispatched: number;
  /** Commands completed so far, handled or failed. */
  readonly processed: number;
  /** Resolves once `processed` reaches `count`. */
  whenProcessed(count: number): Promise<void>;
}

export interface Spawner {
  readonly kind: SpawnerKind;
  spawn<P extends Protocol>(options: SpawnOptions): ServiceHandle<P>;
}
