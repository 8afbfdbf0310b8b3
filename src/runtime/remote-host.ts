import { Codec } from './codec.ts';
import { Deque } from './deque.ts';
import { codeOf, errorFromWire, messageOf, ServiceStoppedError } from './errors.ts';
import { BatchWriter, Envelope, type HostInit } from './link.ts';
import { forwardingLogger } from './logger.ts';
import { ACCEPTED, Mailbox } from './mailbox.ts';
import { PendingCall, type ReplySink } from './reply.ts';
import {
  loadServiceDefinition,
  type CallOptions,
  type Command,
  type Protocol,
  type Reply,
  type ServiceBody,
  type ServiceContext,
  type ServicePort,
} from './service.ts';

/** How the host reaches its parent: the worker's port or the child's socket. */
export interface HostMedium {
  /** Batches to the parent carry a u32 length prefix. */
  framed: boolean;
  write(batch: Uint8Array): void;
  /** Leave: the service stopped, or could not start. */
  exit(code: number): void;
}

/**
 * The inside of a worker thread or child process: it receives the INIT envelope, loads the
 * service module, and runs the service on a Mailbox exactly as the same-loop spawner does.
 * Commands come in batches from the parent; replies, counters, logs and the service's own sends
 * to its peers go back the same way.
 */
export class ServiceHost {
  readonly #medium: HostMedium;
  #codec = new Codec();
  #writer: BatchWriter;
  #mailbox: Mailbox | undefined;
  #body: ServiceBody<Protocol> | undefined;
  #init: HostInit | undefined;
  #reportedHandled = -1;
  #reportedFailed = -1;
  /** Commands that arrived before the service was attached, or past the queue bound. */
  readonly #backlog = new Deque<[unknown, ReplySink | undefined]>();
  readonly #stopping = new AbortController();
  // Sends to peers are bounded by credit: at most `queueCapacity` not yet accepted by the parent.
  #outOutstanding = 0;
  readonly #outWaiting = new Deque<{ bytes: Uint8Array; resume: () => void }>();
  readonly #outCalls = new Map<number, PendingCall>();
  #nextOutCall = 1;

  constructor(medium: HostMedium) {
    this.#medium = medium;
    this.#writer = this.#newWriter();
  }

  #newWriter(): BatchWriter {
    const writer = new BatchWriter(this.#codec, (batch) => this.#medium.write(batch), this.#medium.framed);
    writer.beforeFlush = () => this.#reportProgress();
    return writer;
  }

  /** One batch from the parent. */
  receive(bytes: Uint8Array): void {
    let envelopes: unknown[];
    try {
      envelopes = this.#codec.decodeSequence(bytes);
    } catch (err) {
      this.#log('error', { err: messageOf(err), code: codeOf(err) }, 'undecodable batch from parent');
      this.#medium.exit(1);
      return;
    }
    for (const envelope of envelopes) {
      if (Array.isArray(envelope)) this.#handle(envelope);
    }
  }

  #handle(envelope: unknown[]): void {
    switch (envelope[0]) {
      case Envelope.INIT:
        void this.#start(envelope[1] as HostInit);
        break;
      case Envelope.SEND:
        this.#deliver(envelope[1], undefined);
        break;
      case Envelope.CALL:
        this.#deliver(envelope[2], new RemoteReply(this.#writer, envelope[1] as number));
        break;
      case Envelope.OUT_REPLY:
        this.#outCalls.get(envelope[1] as number)?.resolve(envelope[2]);
        break;
      case Envelope.OUT_ERROR:
        this.#outCalls.get(envelope[1] as number)?.reject(errorFromWire(String(envelope[2]), String(envelope[3])));
        break;
      case Envelope.OUT_ACCEPTED:
        this.#outOutstanding -= envelope[1] as number;
        this.#pumpOut();
        break;
      case Envelope.STOP:
        void this.#stop(envelope[1] === true);
        break;
      default:
        this.#log('debug', { kind: envelope[0] }, 'unknown envelope from parent');
    }
  }

  async #start(init: HostInit): Promise<void> {
    this.#init = init;
    this.#codec = new Codec(init.codecLimits);
    this.#writer = this.#newWriter();
    const mailbox = new Mailbox(init.name, init.queueCapacity);
    mailbox.onProcessed = () => this.#writer.schedule();
    this.#mailbox = mailbox;
    const context: ServiceContext = {
      name: init.name,
      config: init.config,
      log: forwardingLogger((level, fields, message) => this.#log(level, fields, message)),
      signal: this.#stopping.signal,
      service: (name) => new ParentPort(this, name),
    };
    try {
      const definition = await loadServiceDefinition(init.module);
      this.#body = await definition.init(context);
    } catch (err) {
      this.#writer.push([Envelope.START_FAILED, codeOf(err), messageOf(err)]);
      this.#writer.flush();
      this.#medium.exit(1);
      return;
    }
    mailbox.attach(this.#body);
    this.#writer.push([Envelope.READY]);
    while (this.#backlog.size > 0) {
      const [command, reply] = this.#backlog.shift()!;
      this.#deliver(command, reply);
    }
  }

  #deliver(command: unknown, reply: ReplySink | undefined): void {
    const mailbox = this.#mailbox;
    if (mailbox === undefined || this.#backlog.size > 0) {
      this.#backlog.push([command, reply]);
      return;
    }
    try {
      // The parent sends no more than the queue holds, so this has room; if a parent ever
      // oversends, the command waits rather than being dropped.
      if (!mailbox.offer(command, reply)) void mailbox.send(command, reply).catch(() => {});
    } catch (err) {
      reply?.reject(err);
    }
  }

  async #stop(drain: boolean): Promise<void> {
    this.#stopping.abort();
    try {
      await this.#mailbox?.close(drain);
      await this.#body?.stop?.();
    } catch (err) {
      this.#log('error', { err: messageOf(err) }, 'service stop failed');
    }
    for (const call of this.#outCalls.values()) call.reject(new ServiceStoppedError(this.#init?.name ?? 'service'));
    this.#writer.push([Envelope.STOPPED]);
    this.#writer.flush();
    this.#medium.exit(0);
  }

  #reportProgress(): void {
    const mailbox = this.#mailbox;
    if (mailbox === undefined) return;
    const { handled, failed } = mailbox.counters;
    if (handled === this.#reportedHandled && failed === this.#reportedFailed) return;
    this.#reportedHandled = handled;
    this.#reportedFailed = failed;
    this.#writer.push([Envelope.PROCESSED, handled, failed]);
  }

  #log(level: string, fields: object, message: string | undefined): void {
    try {
      this.#writer.push([Envelope.LOG, level, fields, message ?? null]);
    } catch {
      this.#writer.push([Envelope.LOG, level, {}, `${message ?? ''} (fields could not be encoded)`]);
    }
  }

  // ---- the service's sends to its peers, through the parent ---------------------------------

  outSend(target: string, command: unknown): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = this.#writer.encode([Envelope.OUT_SEND, target, command]);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#outWaiting.size === 0 && this.#outOutstanding < this.#capacity()) {
      this.#outOutstanding++;
      this.#writer.pushEncoded(bytes);
      return ACCEPTED;
    }
    return new Promise((resume) => this.#outWaiting.push({ bytes, resume }));
  }

  outOffer(target: string, command: unknown): boolean {
    if (this.#outWaiting.size > 0 || this.#outOutstanding >= this.#capacity()) return false;
    this.#writer.push([Envelope.OUT_SEND, target, command]);
    this.#outOutstanding++;
    return true;
  }

  outCall(target: string, command: { type: string }, options: CallOptions): Promise<unknown> {
    const pending = new PendingCall(target, command.type, options.timeout ?? this.#init?.callTimeoutMs ?? 30_000, options.signal);
    if (pending.abandoned) return pending.promise;
    const id = this.#nextOutCall++;
    try {
      this.#writer.push([Envelope.OUT_CALL, id, target, command], true);
    } catch (err) {
      pending.reject(err);
      return pending.promise;
    }
    this.#outCalls.set(id, pending);
    const forget = (): void => void this.#outCalls.delete(id);
    pending.promise.then(forget, forget);
    return pending.promise;
  }

  #capacity(): number {
    return this.#init?.queueCapacity ?? 1;
  }

  #pumpOut(): void {
    while (this.#outWaiting.size > 0 && this.#outOutstanding < this.#capacity()) {
      const next = this.#outWaiting.shift()!;
      this.#outOutstanding++;
      this.#writer.pushEncoded(next.bytes);
      next.resume();
    }
  }
}

/** The reply to a call from the parent: one REPLY or ERROR envelope. */
class RemoteReply implements ReplySink {
  readonly abandoned = false;
  readonly #writer: BatchWriter;
  readonly #id: number;

  constructor(writer: BatchWriter, id: number) {
    this.#writer = writer;
    this.#id = id;
  }

  resolve(value: unknown): void {
    try {
      this.#writer.push([Envelope.REPLY, this.#id, value], true);
    } catch (err) {
      this.reject(err);
    }
  }

  reject(error: unknown): void {
    this.#writer.push([Envelope.ERROR, this.#id, codeOf(error), messageOf(error)], true);
  }
}

/** A port to another service, seen from inside a worker or child: everything goes via the parent. */
class ParentPort<P extends Protocol> implements ServicePort<P> {
  readonly name: string;
  readonly #host: ServiceHost;

  constructor(host: ServiceHost, name: string) {
    this.#host = host;
    this.name = name;
  }

  send(command: Command<P>): Promise<void> {
    return this.#host.outSend(this.name, command);
  }

  offer(command: Command<P>): boolean {
    return this.#host.outOffer(this.name, command);
  }

  call<C extends Command<P>>(command: C, options: CallOptions = {}): Promise<Reply<P, C['type']>> {
    return this.#host.outCall(this.name, command as { type: string }, options) as Promise<Reply<P, C['type']>>;
  }
}
