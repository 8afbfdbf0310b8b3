import { ServiceFailedError, messageOf } from '../src/runtime/errors.ts';
import { ACCEPTED, Mailbox } from '../src/runtime/mailbox.ts';
import { Progress } from '../src/runtime/progress.ts';
import { DEFAULT_CALL_TIMEOUT_MS, PendingCall } from '../src/runtime/reply.ts';
import { RestartBudget } from '../src/runtime/restart-policy.ts';
import {
  isServiceDefinition,
  loadServiceDefinition,
  type CallOptions,
  type Command,
  type Protocol,
  type Reply,
  type ServiceBody,
  type ServiceContext,
} from '../src/runtime/service.ts';
import type { ServiceHandle, ServiceState, ServiceStatus, Spawner, SpawnOptions } from '../src/runtime/spawner.ts';

/**
 * Runs a service on the caller's event loop. Commands are passed by reference: no copy, no
 * encoding, so a shared ref arrives as the very object that was sent.
 */
export class SameLoopSpawner implements Spawner {
  readonly kind = 'same-loop' as const;

  spawn<P extends Protocol>(options: SpawnOptions): ServiceHandle<P> {
    return new SameLoopHandle<P>(options);
  }
}

class SameLoopHandle<P extends Protocol> implements ServiceHandle<P> {
  readonly spawner = 'same-loop' as const;
  readonly name: string;
  readonly ready: Promise<void>;
  readonly #options: SpawnOptions;
  readonly #mailbox: Mailbox;
  /** Completions waited for (settled, whenProcessed); dispatches are counted by the mailbox. */
  readonly #progress: Progress;
  readonly #stopping = new AbortController();
  #body: ServiceBody<Protocol> | undefined;
  #state: ServiceState = 'starting';
  #restarts = 0;
  #lastError: string | undefined;

  constructor(options: SpawnOptions) {
    this.name = options.name;
    this.#options = options;
    this.#mailbox = new Mailbox(options.name, options.queueCapacity);
    this.#progress = new Progress();
    // The mailbox counts completions itself and reports them only when somebody waits for them.
    this.#mailbox.notifyFrom(Number.POSITIVE_INFINITY);
    this.#mailbox.onProcessed = (processed) => {
      this.#progress.complete(processed);
      this.#mailbox.notifyFrom(this.#progress.nextWake);
    };
    this.ready = this.#start();
    this.ready.catch(() => {}); // observed through status() and by whoever awaits ready
  }

  get dispatched(): number {
    return this.#mailbox.dispatched;
  }

  get processed(): number {
    return this.#mailbox.processed;
  }

  whenProcessed(count: number): Promise<void> {
    this.#progress.complete(this.#mailbox.processed);
    const processed = this.#progress.whenProcessed(count);
    this.#mailbox.notifyFrom(this.#progress.nextWake);
    return processed;
  }

  // The mailbox counts dispatches itself: it is reached anyway, and a count in another object
  // was one more object to reach per command (~9% of the daisy chain).
  send(command: Command<P>): Promise<void> {
    return this.#mailbox.send(command);
  }

  offer(command: Command<P>): boolean {
    return this.#mailbox.offer(command);
  }

  call<C extends Command<P>>(command: C, options: CallOptions = {}): Promise<Reply<P, C['type']>> {
    const pending = new PendingCall(
      this.name,
      String((command as { type?: unknown } | null)?.type),
      options.timeout ?? this.#options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
      options.signal,
    );
    if (pending.abandoned) return pending.promise as Promise<Reply<P, C['type']>>;
    const queued = this.#mailbox.send(command, pending);
    if (queued !== ACCEPTED) queued.catch((err: unknown) => pending.reject(err));
    return pending.promise as Promise<Reply<P, C['type']>>;
  }

  status(): ServiceStatus {
    const counters = this.#mailbox.counters;
    const status: ServiceStatus = {
      name: this.name,
      spawner: this.spawner,
      state: this.#state,
      queued: counters.queued,
      waiting: counters.waiting,
      handled: counters.handled,
      failed: counters.failed,
      restarts: this.#restarts,
    };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    return status;
  }

  async stop(options: { drain?: boolean } = {}): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    this.#stopping.abort();
    await this.#mailbox.close(options.drain === true && wasRunning);
    try {
      await this.#body?.stop?.();
    } catch (err) {
      this.#options.log.error({ service: this.name, err }, 'service stop failed');
    }
    this.#state = 'stopped';
  }

  // A service whose start throws is retried with backoff, like a crashed worker or child.
  async #start(): Promise<void> {
    const budget = new RestartBudget(this.#options.restart);
    const context: ServiceContext = {
      name: this.name,
      config: this.#options.config,
      log: this.#options.log.child({ service: this.name }),
      signal: this.#stopping.signal,
      service: (name) => this.#options.directory.port(name),
    };
    for (;;) {
      try {
        const given = this.#options.definition;
        const definition = isServiceDefinition(given) ? given : await loadServiceDefinition(this.#options.module);
        const body = await definition.init(context);
        if (this.#state === 'stopping' || this.#state === 'stopped') {
          await body.stop?.();
          return;
        }
        this.#body = body;
        this.#mailbox.attach(body);
        this.#state = 'running';
        return;
      } catch (err) {
        this.#lastError = messageOf(err);
        this.#options.log.error({ service: this.name, err }, 'service failed to start');
        const delay = budget.next();
        if (delay === undefined || this.#state === 'stopping' || this.#state === 'stopped') {
          const failure = new ServiceFailedError(this.name, this.#lastError, { cause: err });
          if (this.#state !== 'stopping' && this.#state !== 'stopped') this.#state = 'failed';
          this.#mailbox.failQueued(failure);
          await this.#mailbox.close(false);
          throw failure;
        }
        this.#restarts++;
        this.#state = 'restarting';
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
