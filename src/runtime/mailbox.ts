import { Deque } from './deque.ts';
import {
  HandlerError,
  MalformedMessageError,
  messageOf,
  MyDhtError,
  ServiceStoppedError,
  UnknownCommandError,
} from './errors.ts';
import type { ReplySink } from './reply.ts';
import { schedule, type Runnable } from './scheduler.ts';
import type { Protocol, ServiceBody } from './service.ts';

/**
 * A send that an accepted command returns. A handler that forwards with `return port.send(cmd)`
 * hands this back when the target had room; the mailbox recognises it and stays on its fast path
 * instead of waiting a microtask for a promise that is already resolved.
 */
export const ACCEPTED: Promise<void> = Promise.resolve();

/** A queue that is full and has this many senders waiting refuses more: a producer that never awaits. */
export const DEFAULT_MAX_WAITING_SENDERS = 65_536;

export class QueueFullError extends MyDhtError {
  constructor(service: string, waiting: number) {
    super('ERR_QUEUE_FULL', `service "${service}" has ${waiting} senders waiting on a full queue; await send()`);
  }
}

export interface MailboxCounters {
  /** Commands in the queue now (accepted, not yet started). */
  queued: number;
  /** Senders waiting for room in a full queue. */
  waiting: number;
  /** Commands handled successfully. */
  handled: number;
  /** Commands that failed: the handler threw, the command was malformed, or it was dropped. */
  failed: number;
}

interface Waiter {
  command: unknown;
  reply: ReplySink | undefined;
  resume: () => void;
  refuse: (error: unknown) => void;
}

/**
 * A service's bounded FIFO mailbox and the loop that feeds its handlers, on the current event
 * loop. Same-loop services use it directly; the host inside a worker thread or child process
 * uses the very same class, fed by the link from the parent. So FIFO order, backpressure and
 * failure counting are one mechanism under every spawner.
 */
export class Mailbox implements Runnable {
  scheduled = false;
  readonly name: string;
  readonly capacity: number;
  readonly #commands: Deque<unknown>;
  readonly #replies: Deque<ReplySink | undefined>;
  readonly #waiters = new Deque<Waiter>();
  readonly #maxWaiting: number;
  #handlers: Map<string, (command: never) => unknown> | undefined;
  #concurrency = 1;
  #active = 0;
  #handled = 0;
  #failed = 0;
  #closed = false;
  #idle: (() => void)[] = [];
  /** Called after every command completes, successfully or not, with the number completed. */
  onProcessed: ((processed: number) => void) | undefined;

  constructor(name: string, capacity: number, maxWaiting = DEFAULT_MAX_WAITING_SENDERS) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.name = name;
    this.capacity = capacity;
    this.#maxWaiting = maxWaiting;
    this.#commands = new Deque(Math.min(capacity, 1024));
    this.#replies = new Deque(Math.min(capacity, 1024));
  }

  /** Attach the running service. Commands queued before this wait for it. */
  attach(body: ServiceBody<Protocol>): void {
    this.#handlers = new Map(Object.entries(body.handlers) as [string, (command: never) => unknown][]);
    this.#concurrency = Math.max(1, Math.floor(body.concurrency ?? 1));
    if (this.#commands.size > 0) schedule(this);
  }

  /** Detach the body (it crashed or is restarting); queued commands stay queued. */
  detach(): void {
    this.#handlers = undefined;
  }

  get counters(): MailboxCounters {
    return { queued: this.#commands.size, waiting: this.#waiters.size, handled: this.#handled, failed: this.#failed };
  }

  get processed(): number {
    return this.#handled + this.#failed;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queue now if there is room and nobody waits ahead; never waits. */
  offer(command: unknown, reply?: ReplySink): boolean {
    if (this.#closed) throw new ServiceStoppedError(this.name);
    if (this.#commands.size >= this.capacity || this.#waiters.size > 0) return false;
    this.#enqueue(command, reply);
    return true;
  }

  /** Queue, waiting for room when the queue is full. Resolves once the command is queued. */
  send(command: unknown, reply?: ReplySink): Promise<void> {
    if (this.offer(command, reply)) return ACCEPTED;
    if (this.#waiters.size >= this.#maxWaiting) {
      this.#failed++;
      this.onProcessed?.(this.#handled + this.#failed);
      return Promise.reject(new QueueFullError(this.name, this.#waiters.size));
    }
    return new Promise<void>((resume, refuse) => this.#waiters.push({ command, reply, resume, refuse }));
  }

  /**
   * Refuse new commands. Queued commands and waiting senders fail with ERR_SERVICE_STOPPED
   * unless `drain` is set, in which case they are handled first. Resolves when nothing runs.
   */
  async close(drain: boolean): Promise<void> {
    if (!drain) this.#dropAll(new ServiceStoppedError(this.name));
    else {
      while (this.#waiters.size > 0 || this.#commands.size > 0) {
        if (this.#handlers === undefined) {
          this.#dropAll(new ServiceStoppedError(this.name));
          break;
        }
        await this.#whenIdle();
      }
    }
    this.#closed = true;
    this.#dropAll(new ServiceStoppedError(this.name));
    if (this.#active > 0) await this.#whenIdle();
  }

  /** Fail everything queued and waiting with `error` (the host died, or the service stops). */
  failQueued(error: unknown): void {
    this.#dropAll(error);
  }

  runSlice(budget: number): boolean {
    const handlers = this.#handlers;
    if (handlers === undefined) return false;
    while (budget-- > 0 && this.#active < this.#concurrency && this.#commands.size > 0) {
      const command = this.#commands.shift();
      const reply = this.#replies.shift();
      this.#admitWaiter();
      if (reply?.abandoned) {
        this.#done(false);
        continue;
      }
      this.#active++;
      let result: unknown;
      try {
        result = this.#dispatch(handlers, command);
      } catch (err) {
        this.#active--;
        reply?.reject(coded(err));
        this.#done(false);
        continue;
      }
      if (result === ACCEPTED || !(result instanceof Promise)) {
        this.#active--;
        reply?.resolve(result === ACCEPTED ? undefined : result);
        this.#done(true);
      } else {
        result.then(
          (value: unknown) => this.#settle(reply, true, value),
          (err: unknown) => this.#settle(reply, false, err),
        );
      }
    }
    return this.#active < this.#concurrency && this.#commands.size > 0;
  }

  #dispatch(handlers: Map<string, (command: never) => unknown>, command: unknown): unknown {
    const type = (command as { type?: unknown } | null)?.type;
    if (typeof command !== 'object' || command === null || typeof type !== 'string') {
      throw new MalformedMessageError(this.name, 'a command must be an object with a string "type"');
    }
    const handler = handlers.get(type);
    if (handler === undefined) throw new UnknownCommandError(this.name, type);
    return handler(command as never);
  }

  #settle(reply: ReplySink | undefined, ok: boolean, value: unknown): void {
    this.#active--;
    if (ok) reply?.resolve(value);
    else reply?.reject(coded(value));
    this.#done(ok);
    if (this.#commands.size > 0) schedule(this);
  }

  #enqueue(command: unknown, reply: ReplySink | undefined): void {
    this.#commands.push(command);
    this.#replies.push(reply);
    if (this.#handlers !== undefined && this.#active < this.#concurrency) schedule(this);
  }

  #admitWaiter(): void {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) return;
    this.#enqueue(waiter.command, waiter.reply);
    waiter.resume();
  }

  #done(ok: boolean): void {
    if (ok) this.#handled++;
    else this.#failed++;
    this.onProcessed?.(this.#handled + this.#failed);
    if (this.#active === 0 && this.#commands.size === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const wake of idle) wake();
    }
  }

  #whenIdle(): Promise<void> {
    if (this.#active === 0 && this.#commands.size === 0 && this.#waiters.size === 0) return Promise.resolve();
    return new Promise((wake) => this.#idle.push(wake));
  }

  #dropAll(error: unknown): void {
    while (this.#commands.size > 0) {
      this.#commands.shift();
      this.#replies.shift()?.reject(error);
      this.#done(false);
    }
    while (this.#waiters.size > 0) {
      const waiter = this.#waiters.shift()!;
      waiter.reply?.reject(error);
      this.#failed++;
      this.onProcessed?.(this.#handled + this.#failed);
      waiter.refuse(error);
    }
  }
}

/**
 * What a caller receives when a handler throws: the error itself when it carries a string code,
 * else an ERR_HANDLER wrapping it, so callers match on codes under every spawner alike.
 */
function coded(err: unknown): unknown {
  return typeof (err as { code?: unknown } | null)?.code === 'string' ? err : new HandlerError(messageOf(err), { cause: err });
}
