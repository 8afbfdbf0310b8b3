import { Deque, Ring } from './deque.ts';
import { ParkedSend } from './parked-send.ts';
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

/** The #notifyAt of a mailbox whose completions nobody waits for. */
const NOTIFY_NEVER = -1;

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

/** A call in the queue: the command and where its reply goes. Plain sends are queued bare. */
class QueuedCall {
  readonly command: unknown;
  readonly reply: ReplySink;
  constructor(command: unknown, reply: ReplySink) {
    this.command = command;
    this.reply = reply;
  }
}

/**
 * A service's bounded FIFO mailbox and the loop that feeds its handlers, on the current event
 * loop. Same-loop services use it directly; the host inside a worker thread or child process
 * uses the very same class, fed by the link from the parent. So FIFO order, backpressure and
 * failure counting are one mechanism under every spawner. It is its own queue (a Ring), so the
 * commands' ring lives in the mailbox's object rather than in one more object to reach.
 */
export class Mailbox extends Ring<unknown> implements Runnable {
  scheduled = false;
  readonly name: string;
  readonly capacity: number;
  /**
   * Made on the first park: most mailboxes never have a sender waiting, and checking an object of
   * their own per command is a cache miss each when thousands of services take turns.
   */
  #waiters: Deque<ParkedSend> | undefined;
  readonly #maxWaiting: number;
  #handlers: Map<string, (command: never) => unknown> | undefined;
  #concurrency = 1;
  /**
   * The last command type handled and its handler; before the first command, any registered
   * pair. Always a string: a comparison that has also seen undefined here is compiled to a
   * generic call instead of a pointer comparison of two strings.
   */
  #lastType = '';
  #lastHandler: (command: never) => unknown = () => undefined;
  #active = 0;
  /** Calls in the queue: while there are none, a command is taken without looking for a reply. */
  #calls = 0;
  #dispatched = 0;
  #handled = 0;
  #failed = 0;
  #closed = false;
  /** The queue's bound while open, 0 once closed: one comparison on the send path covers both. */
  #room: number;
  #idle: (() => void)[] = [];
  /** Called after commands complete, successfully or not, with the number completed so far. */
  onProcessed: ((processed: number) => void) | undefined;
  /**
   * onProcessed is called once that number reaches this. NOTIFY_NEVER while nobody waits is a
   * small integer because Infinity, a double, would be boxed in a heap object of its own.
   */
  #notifyAt = 0;

  constructor(name: string, capacity: number, maxWaiting = DEFAULT_MAX_WAITING_SENDERS) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    super();
    this.name = name;
    this.capacity = capacity;
    this.#room = capacity;
    this.#maxWaiting = maxWaiting;
  }

  /** Attach the running service. Commands queued before this wait for it. */
  attach(body: ServiceBody<Protocol>): void {
    this.#handlers = new Map(Object.entries(body.handlers) as [string, (command: never) => unknown][]);
    const [first] = this.#handlers;
    // A service without handlers knows no type, not even '': the lookup then refuses every command.
    [this.#lastType, this.#lastHandler] = first ?? ['', (command: unknown) => this.#dispatch(new Map(), command)];
    this.#concurrency = Math.max(1, Math.floor(body.concurrency ?? 1));
    if (this.ringSize > 0) schedule(this);
  }

  /**
   * Call onProcessed only once `count` commands have completed (Infinity: never). A same-loop
   * handle sets the count somebody waits for, so completions nobody waits on touch nothing outside
   * the mailbox: in a fan-in, 4000 services' progress objects are 4000 more cache misses a round.
   */
  notifyFrom(count: number): void {
    this.#notifyAt = count === Number.POSITIVE_INFINITY ? NOTIFY_NEVER : count;
  }

  get counters(): MailboxCounters {
    return { queued: this.ringSize, waiting: this.#waiters?.size ?? 0, handled: this.#handled, failed: this.#failed };
  }

  get processed(): number {
    return this.#handled + this.#failed;
  }

  /**
   * Commands given to send, and to offer when it took them: each one is counted as processed once
   * it is handled, fails or is refused, so `processed` reaches this once all are done.
   */
  get dispatched(): number {
    return this.#dispatched;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queue now if there is room and nobody waits ahead; never waits. */
  offer(command: unknown, reply?: ReplySink): boolean {
    if (this.#closed) throw new ServiceStoppedError(this.name);
    if (this.ringSize >= this.capacity || this.#hasWaiters()) return false;
    this.#dispatched++;
    this.#enqueue(command, reply);
    return true;
  }

  /**
   * Queue, waiting for room when the queue is full. Returns ACCEPTED when queued at once, else a
   * ParkedSend that settles once the command is admitted (or refused, if the service stops).
   */
  send(command: unknown, reply?: ReplySink): Promise<void> {
    this.#dispatched++;
    if (this.ringSize < this.#room && !this.#hasWaiters()) {
      this.#enqueue(command, reply);
      return ACCEPTED;
    }
    if (this.#closed) {
      // Counted as failed, so a dispatch counted by the sender still completes for settled().
      this.#failed++;
      this.#notify();
      return Promise.reject(new ServiceStoppedError(this.name));
    }
    const waiters = (this.#waiters ??= new Deque<ParkedSend>());
    if (waiters.size >= this.#maxWaiting) {
      this.#failed++;
      this.#notify();
      return Promise.reject(new QueueFullError(this.name, waiters.size));
    }
    const parked = new ParkedSend(command, reply);
    waiters.push(parked);
    return parked;
  }

  /**
   * Refuse new commands. Queued commands and waiting senders fail with ERR_SERVICE_STOPPED
   * unless `drain` is set, in which case they are handled first. Resolves when nothing runs.
   */
  async close(drain: boolean): Promise<void> {
    if (drain) {
      while ((this.#hasWaiters() || this.ringSize > 0) && this.#handlers !== undefined) await this.#whenIdle();
    }
    this.#closed = true;
    this.#room = 0;
    this.#dropAll(() => new ServiceStoppedError(this.name));
    if (this.#active > 0) await this.#whenIdle();
  }

  /** Fail everything queued and waiting with `error` (the service could not start). */
  failQueued(error: unknown): void {
    this.#dropAll(() => error);
  }

  runSlice(budget: number): boolean {
    const handlers = this.#handlers;
    if (handlers === undefined) return false;
    // Completions of synchronous handlers are counted here and published once per slice.
    let handled = 0;
    let failed = 0;
    while (budget-- > 0 && this.#active < this.#concurrency && this.ringSize > 0) {
      let command = this.ringShift();
      let reply: ReplySink | undefined;
      if (this.#calls > 0 && command instanceof QueuedCall) {
        this.#calls--;
        reply = command.reply;
        command = command.command;
      }
      if (this.#hasWaiters()) this.#admitWaiter();
      if (reply?.abandoned) {
        failed++;
        continue;
      }
      let result: unknown;
      try {
        // Streams of one command type are the norm: the last type's handler is called here, and
        // #dispatch (not inlined: it is too large) only for another type. Only an object has
        // a `type` equal to the last type, a string, so this needs no other check.
        const type = (command as { type?: unknown } | null)?.type;
        result = type === this.#lastType ? this.#lastHandler(command as never) : this.#dispatch(handlers, command);
      } catch (err) {
        reply?.reject(coded(err));
        failed++;
        continue;
      }
      if (result === ACCEPTED || typeof result !== 'object' || result === null) {
        reply?.resolve(result === ACCEPTED ? undefined : result);
        handled++;
      } else if (result instanceof ParkedSend) {
        // The handler forwarded into a full queue: park until the target admits it.
        this.#active++;
        if (result.waiting) result.parkedIn(this, reply);
        else this.#settle(reply, true, undefined);
      } else if (result instanceof Promise) {
        this.#active++;
        result.then(
          (value: unknown) => this.#settle(reply, true, value),
          (err: unknown) => this.#settle(reply, false, err),
        );
      } else {
        reply?.resolve(result);
        handled++;
      }
    }
    if (handled + failed > 0) this.#completed(handled, failed);
    return this.#active < this.#concurrency && this.ringSize > 0;
  }

  /** A command of another type than the last (or a malformed one): look its handler up and remember it. */
  #dispatch(handlers: Map<string, (command: never) => unknown>, command: unknown): unknown {
    const type = (command as { type?: unknown } | null)?.type;
    if (typeof command !== 'object' || command === null || typeof type !== 'string') {
      throw new MalformedMessageError(this.name, 'a command must be an object with a string "type"');
    }
    const handler = handlers.get(type);
    if (handler === undefined) throw new UnknownCommandError(this.name, type);
    this.#lastType = type;
    this.#lastHandler = handler;
    return handler(command as never);
  }

  /** A handler that returned a promise or a parked send has finished. */
  #settle(reply: ReplySink | undefined, ok: boolean, value: unknown): void {
    this.#active--;
    if (ok) reply?.resolve(value);
    else reply?.reject(coded(value));
    this.#completed(ok ? 1 : 0, ok ? 0 : 1);
    if (this.ringSize > 0) schedule(this);
  }

  /** Called by a ParkedSend this mailbox's handler returned, once the send settles. */
  resumeParked(reply: ReplySink | undefined, admitted: boolean, error: unknown): void {
    this.#settle(reply, admitted, error);
  }

  #enqueue(command: unknown, reply: ReplySink | undefined): void {
    // A mailbox with commands queued already is scheduled, running, or waiting for a handler in
    // flight (which schedules it when done): only the first command needs to schedule it.
    const first = this.ringSize === 0;
    if (reply === undefined) this.ringPush(command);
    else {
      this.#calls++;
      this.ringPush(new QueuedCall(command, reply));
    }
    if (first && this.#handlers !== undefined && this.#active < this.#concurrency) schedule(this);
  }

  #hasWaiters(): boolean {
    return this.#waiters !== undefined && this.#waiters.size > 0;
  }

  #admitWaiter(): void {
    const waiter = this.#waiters!.shift()!;
    this.#enqueue(waiter.command, waiter.reply as ReplySink | undefined);
    waiter.admit();
  }

  #completed(handled: number, failed: number): void {
    this.#handled += handled;
    this.#failed += failed;
    this.#notify();
    if (this.#active === 0 && this.ringSize === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const wake of idle) wake();
    }
  }

  #notify(): void {
    const processed = this.#handled + this.#failed;
    if (processed >= this.#notifyAt && this.#notifyAt !== NOTIFY_NEVER) this.onProcessed?.(processed);
  }

  #whenIdle(): Promise<void> {
    if (this.#active === 0 && this.ringSize === 0 && !this.#hasWaiters()) return Promise.resolve();
    return new Promise((wake) => this.#idle.push(wake));
  }

  #dropAll(errorOf: () => unknown): void {
    if (this.ringSize === 0 && !this.#hasWaiters()) return;
    const error = errorOf();
    while (this.ringSize > 0) {
      const item = this.ringShift();
      if (item instanceof QueuedCall) {
        this.#calls--;
        item.reply.reject(error);
      }
      this.#completed(0, 1);
    }
    while (this.#hasWaiters()) {
      const waiter = this.#waiters!.shift()!;
      (waiter.reply as ReplySink | undefined)?.reject(error);
      this.#failed++;
      this.#notify();
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

/**
 * Fire and forget a send: the sender does not wait for room and does not care if the target has
 * stopped. A plain `void port.send(...)` would leave a refusal unhandled, which ends the process.
 */
export function detached(sent: Promise<unknown>): void {
  if (sent !== ACCEPTED) sent.then(undefined, () => {});
}
