/**
 * The same-loop run queue. A runnable mailbox is queued once; one microtask drains the whole
 * queue, running each mailbox for a bounded budget so a busy service cannot starve the others.
 * One microtask per drain, not per message: a microtask per message costs ~6x the throughput
 * (see shared/reference/limits.md).
 */
export interface Runnable {
  /** Set by the scheduler while the runnable sits in the run queue. */
  scheduled: boolean;
  /** Handle up to `budget` queued commands; return true if it still has runnable work. Never throws. */
  runSlice(budget: number): boolean;
}

/** Commands one service handles before the next service gets its turn. */
const SLICE_BUDGET = 64;

let queue: Runnable[] = [];
let head = 0;
let drainScheduled = false;

export function schedule(runnable: Runnable): void {
  if (runnable.scheduled) return;
  runnable.scheduled = true;
  queue.push(runnable);
  if (!drainScheduled) {
    drainScheduled = true;
    queueMicrotask(drain);
  }
}

function drain(): void {
  while (head < queue.length) {
    const runnable = queue[head++]!;
    runnable.scheduled = false;
    if (runnable.runSlice(SLICE_BUDGET)) schedule(runnable);
    // A long drain keeps appending; drop the consumed prefix now and then.
    if (head >= 8192 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
  }
  queue.length = 0;
  head = 0;
  drainScheduled = false;
}
