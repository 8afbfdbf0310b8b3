/**
 * A bare same-loop actor scheduler (limits.md): each actor has an array mailbox, and one run queue
 * of actors with mail is drained in a single microtask. No bounds, no counters, no replies: the
 * floor under the runtime's Mailbox + scheduler for the daisy-chain and fan-out figures.
 */

/** An actor whose messages are tokens (numbers), as the runtime's relay services pass. */
class Actor {
  mailbox: number[] = [];
  scheduled = false;
  handle: (token: number) => void = () => {};
}

class Scheduler {
  #queue: Actor[] = [];
  #draining = false;
  #idle: (() => void) | undefined;

  send(actor: Actor, token: number): void {
    actor.mailbox.push(token);
    if (actor.scheduled) return;
    actor.scheduled = true;
    this.#queue.push(actor);
    if (!this.#draining) {
      this.#draining = true;
      queueMicrotask(() => this.#drain());
    }
  }

  /** Resolves when the run queue is empty. */
  idle(): Promise<void> {
    return this.#draining ? new Promise((resolve) => (this.#idle = resolve)) : Promise.resolve();
  }

  #drain(): void {
    const queue = this.#queue;
    for (let head = 0; head < queue.length; head++) {
      const actor = queue[head]!;
      actor.scheduled = false;
      const mailbox = actor.mailbox;
      // Mail that arrives while the actor runs is handled in this same turn.
      for (let i = 0; i < mailbox.length; i++) actor.handle(mailbox[i]!);
      mailbox.length = 0;
    }
    queue.length = 0;
    this.#draining = false;
    this.#idle?.();
    this.#idle = undefined;
  }
}

/** A chain of `actors`, `messages` sent into its head; ms from the first send until all are quiet. */
export async function bareDaisyChain(actors: number, messages: number): Promise<number> {
  const scheduler = new Scheduler();
  const chain = Array.from({ length: actors }, () => new Actor());
  let received = 0;
  chain.forEach((actor, i) => {
    const next = chain[i + 1];
    actor.handle = next === undefined ? () => void received++ : (token) => scheduler.send(next, token);
  });
  const start = performance.now();
  for (let token = 0; token < messages; token++) scheduler.send(chain[0]!, token);
  await scheduler.idle();
  const elapsed = performance.now() - start;
  if (received !== messages) throw new Error(`bare daisy chain delivered ${received} of ${messages}`);
  return elapsed;
}

/** One source sends each of `messages` to every one of `actors`, each forwarding to one sink; ms. */
export async function bareFanOutFanIn(actors: number, messages: number): Promise<number> {
  const scheduler = new Scheduler();
  let received = 0;
  const sink = new Actor();
  sink.handle = () => void received++;
  const fans = Array.from({ length: actors }, () => new Actor());
  for (const fan of fans) fan.handle = (token) => scheduler.send(sink, token);
  const source = new Actor();
  source.handle = (token) => {
    for (const fan of fans) scheduler.send(fan, token);
  };
  const start = performance.now();
  for (let token = 0; token < messages; token++) scheduler.send(source, token);
  await scheduler.idle();
  const elapsed = performance.now() - start;
  if (received !== actors * messages) throw new Error(`bare fan-out delivered ${received} of ${actors * messages}`);
  return elapsed;
}

/**
 * The same scheduler with bounded mailboxes and parking, the least that the runtime's contract
 * needs: a send into a full mailbox parks the sending actor (it handles nothing more) with its
 * message in the target's waiting line; each message the target takes admits one waiter and
 * reschedules its sender. No promises, no counters, no replies.
 */
class BoundedActor {
  mailbox: number[] = [];
  head = 0;
  scheduled = false;
  parked = false;
  waiting: [BoundedActor, number][] = [];
  waitingHead = 0;
  handle: (token: number) => void = () => {};
}

class BoundedScheduler {
  readonly #capacity: number;
  #queue: BoundedActor[] = [];
  #draining = false;
  #idle: (() => void) | undefined;
  /** The actor whose handler runs now: a send that finds a full mailbox parks it. */
  #running: BoundedActor | undefined;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  send(target: BoundedActor, token: number): void {
    if (target.mailbox.length - target.head >= this.#capacity || target.waitingHead < target.waiting.length) {
      const sender = this.#running!;
      sender.parked = true;
      target.waiting.push([sender, token]);
      return;
    }
    target.mailbox.push(token);
    this.#schedule(target);
  }

  inject(target: BoundedActor, token: number): void {
    target.mailbox.push(token);
    this.#schedule(target);
  }

  idle(): Promise<void> {
    return this.#draining ? new Promise((resolve) => (this.#idle = resolve)) : Promise.resolve();
  }

  #schedule(actor: BoundedActor): void {
    if (actor.scheduled || actor.parked) return;
    actor.scheduled = true;
    this.#queue.push(actor);
    if (!this.#draining) {
      this.#draining = true;
      queueMicrotask(() => this.#drain());
    }
  }

  #drain(): void {
    const queue = this.#queue;
    for (let at = 0; at < queue.length; at++) {
      const actor = queue[at]!;
      actor.scheduled = false;
      this.#running = actor;
      while (!actor.parked && actor.head < actor.mailbox.length) {
        const token = actor.mailbox[actor.head++]!;
        if (actor.waitingHead < actor.waiting.length) {
          const [sender, waitingToken] = actor.waiting[actor.waitingHead++]!;
          if (actor.waitingHead === actor.waiting.length) {
            actor.waiting.length = 0;
            actor.waitingHead = 0;
          }
          actor.mailbox.push(waitingToken);
          sender.parked = false;
          this.#schedule(sender);
        }
        actor.handle(token);
      }
      if (actor.head === actor.mailbox.length) {
        actor.mailbox.length = 0;
        actor.head = 0;
      }
    }
    this.#running = undefined;
    queue.length = 0;
    this.#draining = false;
    this.#idle?.();
    this.#idle = undefined;
  }
}

/** Fan-out / fan-in with every mailbox bounded at `capacity`; ms. */
export async function bareBoundedFanOutFanIn(actors: number, messages: number, capacity: number): Promise<number> {
  const scheduler = new BoundedScheduler(capacity);
  let received = 0;
  const sink = new BoundedActor();
  sink.handle = () => void received++;
  const fans = Array.from({ length: actors }, () => new BoundedActor());
  for (const fan of fans) fan.handle = (token) => scheduler.send(sink, token);
  const source = new BoundedActor();
  // The source only fans out; bounding it too would park it on the first full fan mailbox.
  source.handle = (token) => {
    for (const fan of fans) scheduler.inject(fan, token);
  };
  const start = performance.now();
  for (let token = 0; token < messages; token++) scheduler.inject(source, token);
  await scheduler.idle();
  const elapsed = performance.now() - start;
  if (received !== actors * messages) throw new Error(`bare bounded fan-out delivered ${received} of ${actors * messages}`);
  return elapsed;
}
