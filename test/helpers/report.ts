import { appendFileSync } from 'node:fs';

/**
 * One bar of the reliability report: the figure a test measured, the bar it must clear, and
 * whether it did. The test asserts the bar itself; this only records it, as a JSON line in the
 * file `MYDHT_REPORT` names (`npm run test:reliability` sets it), and nowhere otherwise.
 */
export function reportBar(name: string, value: number, bar: number, better: 'higher' | 'lower' = 'higher'): void {
  const file = process.env.MYDHT_REPORT;
  if (file === undefined || file === '') return;
  const pass = better === 'higher' ? value >= bar : value <= bar;
  appendFileSync(file, `${JSON.stringify({ name, value, bar, better, pass })}\n`);
}
