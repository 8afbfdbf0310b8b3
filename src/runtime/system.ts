import { DEFAULT_CODEC_LIMITS, type CodecLimits } from './codec.ts';
import { ConfigError, NoSuchServiceError } from './errors.ts';
import { silentLogger, type Logger } from './logger.ts';
import { DEFAULT_CALL_TIMEOUT_MS } from './reply.ts';
import { DEFAULT_RESTART_POLICY, type RestartPolicy } from './restart-policy.ts';
import type { AnyServiceDefinition, CallOptions, Command, Protocol, Reply, ServiceModule, ServicePort } from './service.ts';
import type {
  ServiceDirectory,
  ServiceHandle,
  ServiceStatus,
  Spawner,
  SpawnerKind,
} from './spawner.ts';

/** Default bound of a service queue: deep enough to keep a worker busy between two batches. */
export const DEFAULT_QUEUE_CAPACITY = 1024;

/** How one service is run: what to load, under which spawner, with which bounds. */
export interface ServiceSpec {
  name: string;
  module: ServiceModule;
  spawner: SpawnerKind;
  config?: unknown;
  /** Same-loop only: the definition object itself, skipping the module import. */
  definition?: AnyServiceDefinition;
  queueCapacity?: number;
  callTimeoutMs?: number;
  restart?: Partial<RestartPolicy>;
}

export interface SystemOptions {
  spawners: Partial<Record<SpawnerKind, Spawner>>;
  log?: Logger;
  codecLimits?: Partial<CodecLimits>;
}

/**
 * The dispatcher: owns the services of one node, resolves them by name, and knows when all of
 * them are quiet. Which spawner runs each service is a field of its spec and nothing else.
 */
export class ServiceSystem implements ServiceDirectory {
  readonly log: Logger;
  readonly #spawners: Partial<Record<SpawnerKind, Spawner>>;
  readonly #codecLimits: CodecLimits;
  readonly #handles = new Map<string, ServiceHandle>();

  constructor(options: SystemOptions) {
    this.#spawners = options.spawners;
    this.log = options.log ?? silentLogger;
    this.#codecLimits = { ...DEFAULT_CODEC_LIMITS, ...options.codecLimits };
  }

  spawn<P extends Protocol>(spec: ServiceSpec): ServiceHandle<P> {
    if (this.#handles.has(spec.name)) throw new ConfigError(`a service named "${spec.name}" already exists`);
    const spawner = this.#spawners[spec.spawner];
    if (spawner === undefined) throw new ConfigError(`service "${spec.name}": no spawner "${spec.spawner}" is available`);
    const handle = spawner.spawn<P>({
      name: spec.name,
      module: spec.module,
      config: spec.config,
      ...(spec.definition === undefined ? {} : { definition: spec.definition }),
      queueCapacity: spec.queueCapacity ?? DEFAULT_QUEUE_CAPACITY,
      callTimeoutMs: spec.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      restart: { ...DEFAULT_RESTART_POLICY, ...spec.restart },
      codecLimits: this.#codecLimits,
      directory: this,
      log: this.log,
    });
    this.#handles.set(spec.name, handle as unknown as ServiceHandle);
    return handle;
  }

  /** Spawn several services and wait until every one runs. */
  async start(specs: readonly ServiceSpec[]): Promise<void> {
    const handles = specs.map((spec) => this.spawn(spec));
    await Promise.all(handles.map((handle) => handle.ready));
  }

  get<P extends Protocol>(name: string): ServiceHandle<P> {
    const handle = this.#handles.get(name);
    if (handle === undefined) throw new NoSuchServiceError(name);
    return handle as unknown as ServiceHandle<P>;
  }

  has(name: string): boolean {
    return this.#handles.has(name);
  }

  /**
   * A port by name: the handle itself when the service exists, else one resolved on first use,
   * so services may name each other before all are spawned.
   */
  port<P extends Protocol>(name: string): ServicePort<P> {
    return (this.#handles.get(name) as ServicePort<P> | undefined) ?? new NamedPort<P>(this, name);
  }

  status(): ServiceStatus[] {
    return [...this.#handles.values()].map((handle) => handle.status());
  }

  /**
   * Resolves once every service has handled everything dispatched before this call, and
   * everything those commands dispatched in turn: the system is quiet. Tests wait on this
   * rather than on a clock.
   */
  async settled(): Promise<void> {
    for (;;) {
      const handles = [...this.#handles.values()];
      const dispatched = new Array<number>(handles.length);
      // Only services with work outstanding are waited for: with thousands of services, a
      // promise for each quiet one was a tenth of a same-loop daisy chain's time.
      const busy: Promise<void>[] = [];
      for (let i = 0; i < handles.length; i++) {
        const handle = handles[i]!;
        const count = (dispatched[i] = handle.dispatched);
        if (handle.processed < count) busy.push(handle.whenProcessed(count));
      }
      if (busy.length > 0) await Promise.all(busy);
      // Quiet when no service was sent anything meanwhile (and none was spawned).
      if (this.#handles.size === handles.length && handles.every((handle, i) => handle.dispatched === dispatched[i])) return;
    }
  }

  /** Stop every service, the last spawned first; `drain` handles queued commands first. */
  async stop(options: { drain?: boolean } = {}): Promise<void> {
    const handles = [...this.#handles.values()].reverse();
    await Promise.all(handles.map((handle) => handle.stop(options)));
  }
}

class NamedPort<P extends Protocol> implements ServicePort<P> {
  readonly name: string;
  readonly #system: ServiceSystem;
  #handle: ServiceHandle<P> | undefined;

  constructor(system: ServiceSystem, name: string) {
    this.#system = system;
    this.name = name;
  }

  #resolve(): ServiceHandle<P> {
    return (this.#handle ??= this.#system.get<P>(this.name));
  }

  send(command: Command<P>): Promise<void> {
    try {
      return this.#resolve().send(command);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  offer(command: Command<P>): boolean {
    return this.#resolve().offer(command);
  }

  call<C extends Command<P>>(command: C, options?: CallOptions): Promise<Reply<P, C['type']>> {
    try {
      return this.#resolve().call(command, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
