/** Timing and statistics shared by the suites. */

export function now(): number {
  return performance.now();
}

/** The p-th percentile (0..100) of samples, nearest rank. Sorts a copy. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** How long `work` takes, in ms. */
export async function timed(work: () => Promise<void>): Promise<number> {
  const start = now();
  await work();
  return now() - start;
}

/** Messages per second, from a count and a duration in ms. */
export function rate(count: number, ms: number): number {
  return (count / ms) * 1000;
}

/**
 * Run `rounds` rounds of a measured pair, alternating the baseline and the subject so that drift
 * in the machine's load (the second core is shared) hits both alike.
 */
export async function alternate<T>(
  rounds: number,
  baseline: () => Promise<T>,
  subject: () => Promise<T>,
): Promise<{ baseline: T[]; subject: T[] }> {
  const out = { baseline: [] as T[], subject: [] as T[] };
  for (let round = 0; round < rounds; round++) {
    out.baseline.push(await baseline());
    out.subject.push(await subject());
  }
  return out;
}

/**
 * Latencies in microseconds of sequential round trips through a baseline and a subject, taken in
 * small alternating blocks after `warmup` unmeasured trips of each. Cross-thread wake-ups on this
 * VM are bimodal (~15 us while the other vCPU still polls, ~80 us once it halted), and the mode
 * can change from one second to the next: fine interleaving gives both sides the same mix.
 */
export async function interleavedRoundTrips(
  baseline: () => Promise<unknown>,
  subject: () => Promise<unknown>,
  options: { warmup: number; blocks: number; perBlock: number },
): Promise<{ baseline: number[]; subject: number[] }> {
  const out = { baseline: [] as number[], subject: [] as number[] };
  for (let i = 0; i < options.warmup; i++) await baseline();
  for (let i = 0; i < options.warmup; i++) await subject();
  for (let block = 0; block < options.blocks; block++) {
    for (const [trip, samples] of [
      [baseline, out.baseline],
      [subject, out.subject],
    ] as const) {
      for (let i = 0; i < options.perBlock; i++) {
        const start = now();
        await trip();
        samples.push((now() - start) * 1000);
      }
    }
  }
  return out;
}
