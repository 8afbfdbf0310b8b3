import { Codec } from './codec.ts';
import {
  codeOf,
  errorFromWire,
  messageOf,
  MyDhtError,
  ServiceFailedError,
  ServiceRestartedError,
  ServiceStoppedError,
} from './errors.ts';
import { BatchWriter, Envelope, type HostInit } from './link.ts';
import { OrderedLane } from './ordered-lane.ts';
import { UnsentQueue } from './unsent-queue.ts';
import { LOG_LEVELS, type LogLevel } from './logger.ts';
import { ACCEPTED, QueueFullError } from './mailbox.ts';
import { Progress } from './progress.ts';
import { PendingCall } from './reply.ts';
import { RestartBudget } from './restart-policy.ts';
import type { CallOptions, Command, Protocol, Reply } from './service.ts';
import type { RemoteConnection, RemoteLauncher } from './remote-launcher.ts';
import type { ServiceHandle, ServiceState, ServiceStatus, SpawnerKind, SpawnOptions } from './spawner.ts';

export type { RemoteConnection, RemoteEvents, RemoteLauncher } from './remote-launcher.ts';

/** How long a stopping worker or child may take to drain before it is killed. */
const STOP_GRACE_MS = 5_000;


/**
 * The parent's side of a service that runs in a worker thread or a child process. The same class
 * serves both spawners; only the launcher differs. It keeps the queue bounded by credit (at most
 * `queueCapacity` commands sent and not yet handled), matches replies to calls, forwards what the
 * service sends to its peers, and supervises: a crash fails the calls in flight with
 * ERR_SERVICE_RESTARTED and restarts with backoff, within the restart budget.
 */
export class LinkedServiceHandle<P extends Protocol> implements ServiceHandle<P> {
  readonly name: string;
  readonly spawner: SpawnerKind;
  readonly ready: Promise<void>;
  readonly #options: SpawnOptions;
  readonly #launcher: RemoteLauncher;
  readonly #codec: Codec;
  readonly #progress: Progress;
  readonly #budget: RestartBudget;
  readonly #unsent = new UnsentQueue();
  readonly #calls = new Map<number, PendingCall>();
  #nextCallId = 1;
  #state: ServiceState = 'starting';
  #generation = 0;
  #connection: RemoteConnection | undefined;
  #writer: BatchWriter | undefined;
  /** Commands sent to the current generation, and its running totals of completions. */
  #sent = 0;
  #remoteHandled = 0;
  #remoteFailed = 0;
  /** Completions of earlier generations, including commands lost in a crash. */
  #baseHandled = 0;
  #baseFailed = 0;
  #restarts = 0;
  #lastError: string | undefined;
  /** The error the host said its start failed with (rebuilt from its code and message), until its exit is handled. */
  #startError: MyDhtError | undefined;
  /** The current generation's sends and calls to peers, in order with its PROCESSED counts. */
  #lane: OrderedLane | undefined;
  #outAccepted = 0;
  #readyResolve!: () => void;
  #readyReject!: (error: unknown) => void;
  #stopped: (() => void) | undefined;

  constructor(options: SpawnOptions, launcher: RemoteLauncher) {
    this.name = options.name;
    this.spawner = launcher.kind;
    this.#options = options;
    this.#launcher = launcher;
    this.#codec = new Codec(options.codecLimits);
    this.#progress = new Progress();
    this.#budget = new RestartBudget(options.restart);
    this.ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.ready.catch(() => {});
    this.#launch();
  }

  get dispatched(): number {
    return this.#progress.dispatched;
  }

  get processed(): number {
    return this.#progress.processed;
  }

  whenProcessed(count: number): Promise<void> {
    return this.#progress.whenProcessed(count);
  }

  send(command: Command<P>): Promise<void> {
    if (this.#refusing()) return Promise.reject(new ServiceStoppedError(this.name));
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode([Envelope.SEND, command]);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#progress.dispatch();
    if (this.#canSend()) {
      this.#transmit(bytes);
      return ACCEPTED;
    }
    return this.#wait(bytes, undefined);
  }

  offer(command: Command<P>): boolean {
    if (this.#refusing()) throw new ServiceStoppedError(this.name);
    if (!this.#canSend()) return false;
    const bytes = this.#codec.encode([Envelope.SEND, command]);
    this.#progress.dispatch();
    this.#transmit(bytes);
    return true;
  }

  call<C extends Command<P>>(command: C, options: CallOptions = {}): Promise<Reply<P, C['type']>> {
    const pending = new PendingCall(this.name, String((command as { type?: unknown } | null)?.type), options.timeout ?? this.#options.callTimeoutMs, options.signal);
    const result = pending.promise as Promise<Reply<P, C['type']>>;
    if (pending.abandoned) return result;
    if (this.#refusing()) {
      pending.reject(new ServiceStoppedError(this.name));
      return result;
    }
    const id = this.#nextCallId++;
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode([Envelope.CALL, id, command]);
    } catch (err) {
      pending.reject(err);
      return result;
    }
    this.#calls.set(id, pending);
    pending.onFinish = () => this.#calls.delete(id);
    this.#progress.dispatch();
    if (this.#canSend()) this.#transmit(bytes, true);
    else this.#wait(bytes, pending).catch((err: unknown) => pending.reject(err));
    return result;
  }

  status(): ServiceStatus {
    const status: ServiceStatus = {
      name: this.name,
      spawner: this.spawner,
      state: this.#state,
      queued: this.#sent - this.#remoteHandled - this.#remoteFailed,
      waiting: this.#unsent.size,
      handled: this.#baseHandled + this.#remoteHandled,
      failed: this.#baseFailed + this.#remoteFailed,
      restarts: this.#restarts,
    };
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    return status;
  }

  async stop(options: { drain?: boolean } = {}): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped' || this.#state === 'failed') {
      if (this.#state === 'failed') this.#state = 'stopped';
      return;
    }
    const wasRunning = this.#state === 'running';
    const drain = options.drain === true && wasRunning;
    if (!drain) this.#refuseUnsent(new ServiceStoppedError(this.name));
    while (drain && this.#unsent.size > 0 && this.#state === 'running') await this.#unsent.whenEmpty();
    this.#state = 'stopping';
    this.#refuseUnsent(new ServiceStoppedError(this.name));
    if (wasRunning && this.#writer !== undefined) {
      const stopped = new Promise<void>((resolve) => (this.#stopped = resolve));
      this.#writer.push([Envelope.STOP, drain]);
      this.#writer.flush();
      const grace = setTimeout(() => this.#stopped?.(), STOP_GRACE_MS);
      await stopped;
      clearTimeout(grace);
    }
    this.#endGeneration(new ServiceStoppedError(this.name));
    this.#state = 'stopped';
    this.#readyReject(new ServiceStoppedError(this.name));
  }

  // ---- sending ----------------------------------------------------------------------------

  #refusing(): boolean {
    return this.#state === 'stopping' || this.#state === 'stopped' || this.#state === 'failed';
  }

  #canSend(): boolean {
    return (
      this.#state === 'running' &&
      this.#unsent.size === 0 &&
      this.#sent - this.#remoteHandled - this.#remoteFailed < this.#options.queueCapacity
    );
  }

  /** @param awaited  the command is a call: its caller waits for the reply. */
  #transmit(bytes: Uint8Array, awaited = false): void {
    this.#sent++;
    this.#writer!.pushEncoded(bytes, awaited);
  }

  #wait(bytes: Uint8Array, call: PendingCall | undefined): Promise<void> {
    if (this.#unsent.full) {
      this.#baseFailed++;
      this.#publishProgress();
      return Promise.reject(new QueueFullError(this.name, this.#unsent.size));
    }
    return this.#unsent.wait(bytes, call);
  }

  /** Send what waits, as far as credit allows. */
  #pump(): void {
    const dropped = this.#unsent.pump(
      () => this.#state === 'running' && this.#sent - this.#remoteHandled - this.#remoteFailed < this.#options.queueCapacity,
      (bytes, awaited) => this.#transmit(bytes, awaited),
    );
    if (dropped > 0) {
      this.#baseFailed += dropped;
      this.#publishProgress();
    }
  }

  #refuseUnsent(error: MyDhtError): void {
    this.#baseFailed += this.#unsent.refuseAll(error);
    this.#publishProgress();
  }

  #publishProgress(): void {
    this.#progress.complete(this.#baseHandled + this.#baseFailed + this.#remoteHandled + this.#remoteFailed);
  }

  // ---- lifecycle --------------------------------------------------------------------------

  #launch(): void {
    const generation = ++this.#generation;
    const current = (): boolean => generation === this.#generation;
    let exited = false;
    const connection = this.#launcher.launch({
      batch: (bytes) => {
        if (current()) this.#receive(bytes);
      },
      exit: (reason) => {
        if (exited) return;
        exited = true;
        if (current()) this.#onExit(reason);
      },
      output: (stream, line) => {
        const log = this.#options.log;
        (stream === 'stderr' ? log.warn : log.info)({ service: this.name, stream }, line);
      },
    });
    this.#connection = connection;
    const writer = new BatchWriter(this.#codec, (batch) => connection.write(batch), this.#launcher.framed);
    this.#writer = writer;
    writer.beforeFlush = () => {
      if (this.#outAccepted > 0) {
        const count = this.#outAccepted;
        this.#outAccepted = 0;
        writer.push([Envelope.OUT_ACCEPTED, count]);
      }
    };
    this.#lane = new OrderedLane({
      name: this.name,
      directory: this.#options.directory,
      log: this.#options.log,
      callTimeoutMs: this.#options.callTimeoutMs,
      reply: (envelope) => writer.push(envelope, true),
      processed: (handled, failed) => {
        this.#remoteHandled = handled;
        this.#remoteFailed = failed;
        this.#publishProgress();
        this.#pump();
      },
      accepted: () => {
        this.#outAccepted++;
        writer.schedule();
      },
    });
    const init: HostInit = {
      name: this.name,
      module: this.#options.module,
      config: this.#options.config ?? null,
      queueCapacity: this.#options.queueCapacity,
      callTimeoutMs: this.#options.callTimeoutMs,
      codecLimits: this.#options.codecLimits,
    };
    try {
      this.#writer.push([Envelope.INIT, init]);
    } catch (err) {
      // The config cannot travel: no restart will fix that.
      this.#fail(`its config cannot be sent: ${messageOf(err)}`);
      connection.kill();
    }
  }

  #receive(bytes: Uint8Array): void {
    let envelopes: unknown[];
    try {
      envelopes = this.#codec.decodeSequence(bytes);
    } catch (err) {
      // Our own host wrote garbage: the link cannot be trusted any more. Treat it as a crash.
      this.#options.log.error({ service: this.name, err }, 'undecodable batch from service host');
      this.#connection?.kill();
      this.#onExit(`undecodable batch (${codeOf(err)})`);
      return;
    }
    for (const envelope of envelopes) {
      if (!Array.isArray(envelope)) continue;
      switch (envelope[0]) {
        case Envelope.REPLY:
          this.#calls.get(envelope[1] as number)?.resolve(envelope[2]);
          break;
        case Envelope.ERROR:
          this.#calls.get(envelope[1] as number)?.reject(errorFromWire(String(envelope[2]), String(envelope[3])));
          break;
        case Envelope.LOG:
          this.#log(envelope);
          break;
        case Envelope.READY:
          this.#onReady();
          break;
        case Envelope.START_FAILED:
          this.#startError = errorFromWire(String(envelope[1]), String(envelope[2]));
          break;
        case Envelope.STOPPED:
          this.#stopped?.();
          break;
        case Envelope.OUT_SEND:
        case Envelope.OUT_CALL:
        case Envelope.PROCESSED:
          this.#lane?.push(envelope);
          break;
        default:
          this.#options.log.debug({ service: this.name, kind: envelope[0] }, 'unknown envelope from service host');
      }
    }
  }

  #log(envelope: unknown[]): void {
    const level = LOG_LEVELS.includes(envelope[1] as LogLevel) ? (envelope[1] as LogLevel) : 'info';
    const fields = typeof envelope[2] === 'object' && envelope[2] !== null ? envelope[2] : {};
    const message = typeof envelope[3] === 'string' ? envelope[3] : undefined;
    this.#options.log[level]({ ...fields, service: this.name }, message);
  }

  #onReady(): void {
    if (this.#state !== 'starting' && this.#state !== 'restarting') return;
    this.#state = 'running';
    this.#readyResolve();
    this.#pump();
  }

  #onExit(reason: string): void {
    if (this.#state === 'stopping') {
      this.#stopped?.();
      return;
    }
    if (this.#state === 'stopped' || this.#state === 'failed') return;
    const cause = this.#startError;
    const why = cause === undefined ? reason : `start failed: ${cause.code}: ${cause.message}`;
    this.#startError = undefined;
    this.#lastError = why;
    this.#options.log.error({ service: this.name, reason: why, spawner: this.spawner }, 'service host exited');
    this.#endGeneration(new ServiceRestartedError(this.name, why));
    const delay = this.#budget.next();
    if (delay === undefined) {
      this.#fail(why, cause);
      return;
    }
    this.#restarts++;
    this.#state = 'restarting';
    setTimeout(() => {
      if (this.#state === 'restarting') this.#launch();
    }, delay);
  }

  /** Close the current generation: what was in flight is lost, and its calls fail with `error`. */
  #endGeneration(error: MyDhtError): void {
    this.#writer?.close();
    this.#writer = undefined;
    this.#connection?.kill();
    this.#connection = undefined;
    this.#lane?.close();
    this.#lane = undefined;
    const lost = this.#sent - this.#remoteHandled - this.#remoteFailed;
    this.#baseHandled += this.#remoteHandled;
    this.#baseFailed += this.#remoteFailed + lost;
    this.#sent = 0;
    this.#remoteHandled = 0;
    this.#remoteFailed = 0;
    this.#outAccepted = 0;
    // Calls still waiting to be sent stay queued for the next generation; the ones sent are lost.
    const waiting = this.#unsent.calls();
    for (const call of this.#calls.values()) if (!waiting.has(call)) call.reject(error);
    this.#publishProgress();
  }

  #fail(reason: string, cause?: MyDhtError): void {
    const failure = new ServiceFailedError(this.name, reason, cause === undefined ? undefined : { cause });
    this.#state = 'failed';
    this.#lastError = reason;
    this.#refuseUnsent(failure);
    for (const call of this.#calls.values()) call.reject(failure);
    this.#readyReject(failure);
  }
}
