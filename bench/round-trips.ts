/**
 * Request/reply round trips per spawner, beside the raw ping-pong of the same path.
 *
 * On this 2-vCPU VM a wake-up across vCPUs costs ~80 us and one on the same vCPU ~10 us, and
 * which of the two a thread pair gets flips every few seconds: an unpinned p50 reads anywhere
 * from 1x to 9x of its baseline, whatever the code does. So the round trips run in a process
 * pinned to one CPU (taskset), the baseline and the runtime alike, which measures what each path
 * costs rather than where the scheduler put it. Without taskset they run unpinned, and say so.
 *
 *   node bench/round-trips.ts <spawner>   # prints the figures as JSON lines (used by runtime.ts)
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServiceSystem } from '../src/assemble.ts';
import type { SpawnerKind } from '../src/runtime/spawner.ts';
import type { Figure } from './figure.ts';
import type { CounterProtocol } from './fixtures/counter.ts';
import { interleavedRoundTrips, percentile } from './measure.ts';
import { COUNTER, RAW_PATHS } from './paths.ts';
import { echoMessage } from './standard-message.ts';

/** Sequential round trips: warm-up calls, then blocks of calls alternating baseline and runtime. */
const ROUND_TRIPS: Record<SpawnerKind, { warmup: number; blocks: number; perBlock: number }> = {
  'same-loop': { warmup: 50_000, blocks: 100, perBlock: 2_000 },
  'worker-thread': { warmup: 2_000, blocks: 100, perBlock: 100 },
  'child-process': { warmup: 2_000, blocks: 100, perBlock: 100 },
};

const ROUND_TRIP_P50_TARGET = 2;

/** Measure in a child pinned to CPU 0; fall back to measuring here when taskset is missing. */
export async function* pinnedRoundTripFigures(kind: SpawnerKind): AsyncGenerator<Figure> {
  const self = fileURLToPath(import.meta.url);
  const output = await new Promise<string | undefined>((resolve) => {
    execFile('taskset', ['-c', '0', process.execPath, self, kind], { timeout: 300_000 }, (error, stdout) =>
      resolve(error === null ? stdout : undefined),
    );
  });
  if (output === undefined) {
    for await (const figure of roundTripFigures(kind)) yield { ...figure, baseline: `${figure.baseline} (unpinned: no taskset)` };
    return;
  }
  for (const line of output.trim().split('\n')) yield JSON.parse(line) as Figure;
}

export async function* roundTripFigures(kind: SpawnerKind, pinned = false): AsyncGenerator<Figure> {
  const raw = await RAW_PATHS[kind]();
  const system = createServiceSystem();
  try {
    const counter = system.spawn<CounterProtocol>({ name: `counter-${kind}`, module: COUNTER, spawner: kind });
    await counter.ready;
    const echo = echoMessage();
    const trips = await interleavedRoundTrips(
      () => raw.roundTrip(echo),
      () => counter.call(echo),
      ROUND_TRIPS[kind],
    );
    for (const [p, target] of [
      [50, ROUND_TRIP_P50_TARGET],
      [99, undefined],
    ] as const) {
      yield {
        name: `${kind}.round-trip-p${p}`,
        value: percentile(trips.subject, p),
        unit: 'us',
        baseline: `${raw.roundTripName}${pinned ? ', both pinned to one CPU' : ''}`,
        baselineValue: percentile(trips.baseline, p),
        better: 'lower',
        ...(target === undefined ? {} : { target }),
      };
    }
  } finally {
    await system.stop();
    await raw.close();
  }
}

if (import.meta.main) {
  const kind = process.argv[2] as SpawnerKind;
  for await (const figure of roundTripFigures(kind, true)) process.stdout.write(`${JSON.stringify(figure)}\n`);
}
