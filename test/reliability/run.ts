/**
 * The reliability report: `npm run test:reliability [-- --json]`.
 *
 * Runs the fault and hostile-input suites against live nodes (kill -9 x200, a service killed
 * under load, connection and request floods, slow handshakes, fuzzed frames, UDP amplification
 * and floods), then the simulator's scenarios (churn, sudden loss, partition, eclipse), and
 * prints one line per bar: `{name, value, bar, pass}` with --json, a table otherwise. Each
 * suite asserts its own bars; the report gathers what they measured (test/helpers/report.ts).
 * Exit code 0 only when every bar passes and every test passed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Line {
  name: string;
  value: number;
  bar: number;
  better?: 'higher' | 'lower';
  pass: boolean;
}

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false }, seed: { type: 'string', default: '1' } } });
const root = fileURLToPath(new URL('../..', import.meta.url));
const SUITES = [
  'test/faults/kill-during-writes.test.ts',
  'test/faults/service-crash.test.ts',
  'test/faults/namespaces.test.ts',
  'test/node/hostile-connections.test.ts',
  'test/node/rate-limit.test.ts',
  'test/node/live-fuzz.test.ts',
  'test/transports/udp.test.ts',
  'test/transports/udp-flood.test.ts',
];
/**
 * The simulator's scenarios at the sizes of security.md (200 nodes for churn and sudden loss).
 * Churn puts 200 keys here, not its default 1,000: its two simulated hours of republishing and
 * refreshing cost ~10 M events with 1,000 keys (26 min on this machine with one lookup path),
 * which the report's 15 minutes cannot hold. With two paths, 300 keys took 14.3 of them. One key
 * lost fails its 99.9 % bar at 200 keys as at 300. `npm run sim -- --scenario churn` runs the
 * full one.
 */
const SCENARIOS: { name: string; args: string[] }[] = [
  { name: 'churn', args: ['--keys', '200'] },
  { name: 'sudden-loss', args: [] },
  { name: 'partition', args: [] },
  // Half its default size, three networks of 500: the full 1,000 takes 4-5 minutes.
  { name: 'eclipse', args: ['--nodes', '500'] },
];

/** Run a command from the project root; its output goes to stderr, so stdout stays the report's. */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      process.stderr.write(chunk);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

const lines: Line[] = [];
const started = performance.now();

/** One scenario of the simulator, its bars as report lines. */
async function simulate({ name, args }: { name: string; args: string[] }): Promise<Line[]> {
  const sim = await run([join(root, 'test/sim/run.ts'), '--scenario', name, '--seed', values.seed, '--json', ...args], {});
  const result = sim.stdout.trim().split('\n').filter((line) => line.startsWith('{')).at(-1);
  if (result === undefined) return [{ name: `simulation ${name}: ran`, value: 0, bar: 1, pass: false }];
  return (JSON.parse(result) as { bars: Line[] }).bars;
}

// The longest scenario runs on the second core beside everything else: one after the other,
// the report would not fit its 15 minutes on this 2-core machine.
const [longest, ...rest] = SCENARIOS;
const longestLines = simulate(longest!);
const dir = await mkdtemp(join(tmpdir(), 'mydht-reliability-'));
try {
  const reportFile = join(dir, 'bars.jsonl');
  const mocha = await run(
    [join(root, 'node_modules/mocha/bin/mocha.js'), '--no-config', '--extension', 'ts', '--timeout', '600000', '--exit', ...SUITES],
    { MYDHT_REPORT: reportFile, FAULT_KILLS: '200' },
  );
  const recorded = await readFile(reportFile, 'utf8').catch(() => '');
  for (const line of recorded.split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Line);
  lines.push({ name: 'fault and hostile-input suites: tests failing', value: mocha.code, bar: 0, better: 'lower', pass: mocha.code === 0 });
  for (const scenario of rest) lines.push(...(await simulate(scenario)));
  lines.push(...(await longestLines));
} finally {
  await rm(dir, { recursive: true, force: true });
}

const minutes = (performance.now() - started) / 60_000;
lines.push({ name: 'the whole report: minutes', value: Math.round(minutes * 10) / 10, bar: 15, better: 'lower', pass: minutes <= 15 });
if (values.json) {
  for (const line of lines) process.stdout.write(`${JSON.stringify({ name: line.name, value: line.value, bar: line.bar, pass: line.pass })}\n`);
} else {
  for (const line of lines) {
    process.stdout.write(`${line.pass ? 'pass' : 'FAIL'}  ${line.name}: ${line.value} (bar ${line.better === 'lower' ? '<=' : '>='} ${line.bar})\n`);
  }
}
process.exit(lines.every((line) => line.pass) ? 0 : 1);
