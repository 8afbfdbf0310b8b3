/**
 * Per-service bookkeeping for quiescence (clocked dispatch, seed 004): every dispatch ticks this
 * service's count; completions raise `processed`. `settled()` waits for `processed` to reach the
 * count dispatched before it was called. A same-loop handle keeps only the waiting side here:
 * its mailbox counts the dispatches.
 */
export class Progress {
  dispatched = 0;
  processed = 0;
  #waiters: { count: number; wake: () => void }[] = [];
  /** The smallest count any waiter waits for: completions below it touch no list. */
  #nextWake = Number.POSITIVE_INFINITY;

  dispatch(): void {
    this.dispatched++;
  }

  /** The dispatch did not happen after all (the queue refused it). */
  undo(): void {
    this.dispatched--;
  }

  /** The smallest count somebody waits for; infinite when nobody waits. */
  get nextWake(): number {
    return this.#nextWake;
  }

  complete(processed: number): void {
    this.processed = processed;
    if (processed < this.#nextWake) return;
    const still: { count: number; wake: () => void }[] = [];
    this.#nextWake = Number.POSITIVE_INFINITY;
    for (const waiter of this.#waiters) {
      if (waiter.count <= processed) waiter.wake();
      else {
        still.push(waiter);
        this.#nextWake = Math.min(this.#nextWake, waiter.count);
      }
    }
    this.#waiters = still;
  }

  whenProcessed(count: number): Promise<void> {
    if (this.processed >= count) return Promise.resolve();
    this.#nextWake = Math.min(this.#nextWake, count);
    return new Promise((wake) => this.#waiters.push({ count, wake }));
  }
}
