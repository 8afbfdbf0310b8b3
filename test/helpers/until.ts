/**
 * Wait for a condition that an event will make true, turning the event loop between checks
 * (I/O included). Not a sleep: it returns as soon as the condition holds, and fails loudly if
 * it never does within `withinMs`.
 */
export async function until(condition: () => boolean | Promise<boolean>, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition still false after ${withinMs} ms`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Let the event loop turn `count` times, I/O included. */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
