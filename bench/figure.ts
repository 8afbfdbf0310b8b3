/** What a benchmark measures, in the unit it is reported in. MB/s is 10^6 bytes a second. */
export type Unit = 'msgs/s' | 'ops/s' | 'us' | 'ms' | 'MB' | 'MB/s' | '%';

/**
 * One reported figure and the raw baseline measured beside it in the same run: absolute figures
 * drift between runs and machines, the ratio to a baseline much less (shared/reference/limits.md).
 */
export interface Figure {
  /** Stable name, `<subject>.<measure>`, e.g. `worker-thread.one-way`. */
  name: string;
  value: number;
  unit: Unit;
  /** What the baseline is, in a few words. */
  baseline: string;
  baselineValue: number;
  /** Throughput is better higher; latencies and durations are better lower. */
  better: 'higher' | 'lower';
  /** The ratio value / baselineValue to reach: at least this if higher is better, at most if lower. */
  target?: number;
}

/** A suite yields its figures as it measures them, so a long run shows progress. */
export interface Suite {
  readonly name: string;
  run(): AsyncIterable<Figure>;
}

export function ratioOf(figure: Figure): number {
  return figure.value / figure.baselineValue;
}

/** Undefined when the figure has no target. */
export function meetsTarget(figure: Figure): boolean | undefined {
  if (figure.target === undefined) return undefined;
  const ratio = ratioOf(figure);
  return figure.better === 'higher' ? ratio >= figure.target : ratio <= figure.target;
}
