import { Deque } from './deque.ts';
import { codeOf, messageOf } from './errors.ts';
import { Envelope } from './link.ts';
import type { Logger } from './logger.ts';
import { ACCEPTED } from './mailbox.ts';
import type { Protocol, ServicePort } from './service.ts';
import type { ServiceDirectory } from './spawner.ts';

export interface OrderedLaneOptions {
  /** The service whose envelopes these are, for logs. */
  name: string;
  directory: ServiceDirectory;
  log: Logger;
  callTimeoutMs: number;
  /** Send an envelope back to the service's host (a reply to one of its calls). */
  reply(envelope: unknown[]): void;
  /** The host's running totals of handled and failed commands. */
  processed(handled: number, failed: number): void;
  /** One of the service's sends was accepted by its target: credit goes back to the host. */
  accepted(): void;
}

/**
 * The parent's side of what a service in a worker or child sends to its peers (OUT_SEND,
 * OUT_CALL), kept in order with the host's PROCESSED counts: a service's sends are dispatched
 * before the count that says it handled the command that made them, which is what settled()
 * relies on. The lane runs synchronously and waits only when a target queue is full; then
 * everything behind waits too (that is the backpressure). One lane serves one generation of the
 * host: when it dies its lane is closed, and nothing of it reaches the next.
 */
export class OrderedLane {
  readonly #options: OrderedLaneOptions;
  readonly #queue = new Deque<unknown[]>();
  readonly #ports = new Map<string, ServicePort<Protocol>>();
  #blocked = false;
  #closed = false;

  constructor(options: OrderedLaneOptions) {
    this.#options = options;
  }

  push(envelope: unknown[]): void {
    if (this.#closed) return;
    this.#queue.push(envelope);
    this.#drain();
  }

  /** Drop what is queued; a send still waiting on a full target is forgotten when it settles. */
  close(): void {
    this.#closed = true;
    this.#queue.drain();
  }

  #drain(): void {
    if (this.#blocked) return;
    for (let envelope = this.#queue.shift(); envelope !== undefined; envelope = this.#queue.shift()) {
      if (envelope[0] === Envelope.PROCESSED) {
        this.#options.processed(envelope[1] as number, envelope[2] as number);
      } else if (envelope[0] === Envelope.OUT_SEND) {
        const sent = this.#send(String(envelope[1]), envelope[2]);
        if (sent === ACCEPTED) {
          this.#options.accepted();
          continue;
        }
        this.#blocked = true;
        const resume = (): void => {
          if (this.#closed) return;
          this.#blocked = false;
          this.#options.accepted();
          this.#drain();
        };
        sent.then(resume, (err: unknown) => {
          this.#options.log.warn({ service: this.#options.name, target: envelope[1], err }, 'a send from the service was refused');
          resume();
        });
        return;
      } else if (envelope[0] === Envelope.OUT_CALL) {
        this.#call(envelope[1] as number, String(envelope[2]), envelope[3]);
      }
    }
  }

  #send(target: string, command: unknown): Promise<void> {
    try {
      return this.#port(target).send(command as never);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #call(id: number, target: string, command: unknown): void {
    let reply: Promise<unknown>;
    try {
      reply = this.#port(target).call(command as never, { timeout: this.#options.callTimeoutMs });
    } catch (err) {
      reply = Promise.reject(err);
    }
    reply.then(
      (value) => {
        if (this.#closed) return;
        try {
          this.#options.reply([Envelope.OUT_REPLY, id, value]);
        } catch (err) {
          this.#options.reply([Envelope.OUT_ERROR, id, codeOf(err), messageOf(err)]);
        }
      },
      (err: unknown) => {
        if (!this.#closed) this.#options.reply([Envelope.OUT_ERROR, id, codeOf(err), messageOf(err)]);
      },
    );
  }

  #port(target: string): ServicePort<Protocol> {
    let port = this.#ports.get(target);
    if (port === undefined) {
      port = this.#options.directory.port(target);
      this.#ports.set(target, port);
    }
    return port;
  }
}
