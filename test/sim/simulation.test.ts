import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ScenarioResult } from './scenarios.ts';

const RUN = fileURLToPath(new URL('./run.ts', import.meta.url));

/** One simulator run in a process of its own: the virtual clock must be installed before mydht loads. */
async function simulate(scenario: string, seed: number, nodes: number, keys: number, extra: string[] = []): Promise<ScenarioResult & { rssMbPerNode: number }> {
  const args = [RUN, '--scenario', scenario, '--seed', String(seed), '--nodes', String(nodes), '--keys', String(keys), '--json', ...extra];
  const { stdout } = await promisify(execFile)(process.execPath, args, {
    maxBuffer: 1 << 20,
  }).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`simulator failed (seed ${seed}): ${err.stderr ?? ''}${err.stdout ?? ''}`);
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ScenarioResult & { rssMbPerNode: number };
}

describe('deterministic simulation (virtual clock, real nodes, in-memory network)', function () {
  this.timeout(300_000);

  it('the same seed gives the same run: two runs agree on the event log hash; another seed does not', async () => {
    const [first, second, other] = await Promise.all([simulate('join', 5, 20, 20), simulate('join', 5, 20, 20), simulate('join', 6, 20, 20)]);
    console.log(`      seed 5: ${first.events} events, hash ${first.hash.slice(0, 16)}; seed 6: hash ${other.hash.slice(0, 16)}`);
    assert.equal(second.hash, first.hash);
    assert.equal(second.events, first.events);
    assert.equal(second.virtualMs, first.virtualMs);
    assert.notEqual(other.hash, first.hash);
    assert.ok(first.bars.every((bar) => bar.pass));
  });

  it('under loss (5% of writes reset their connection): two runs of one seed agree, and every key is read back', async () => {
    const [first, second] = await Promise.all([simulate('join', 8, 30, 40, ['--loss', '0.05']), simulate('join', 8, 30, 40, ['--loss', '0.05'])]);
    console.log(`      ${first.events} events, hash ${first.hash.slice(0, 16)}, keys retrievable ${first.bars[0]!.value}`);
    assert.equal(second.hash, first.hash);
    assert.deepEqual(
      first.bars.filter((bar) => !bar.pass).map((bar) => bar.name),
      [],
      'seed 8: replay with npm run sim -- --scenario join --seed 8 --nodes 30 --keys 40 --loss 0.05',
    );
  });

  for (const [scenario, nodes, keys] of [
    ['sudden-loss', 60, 200],
    ['partition', 40, 60],
  ] as const) {
    it(`${scenario} at ${nodes} nodes clears its bars (the full size is npm run sim)`, async () => {
      const result = await simulate(scenario, 11, nodes, keys);
      for (const bar of result.bars) console.log(`      ${bar.name}: ${bar.value} (bar ${bar.bar})`);
      assert.deepEqual(
        result.bars.filter((bar) => !bar.pass).map((bar) => bar.name),
        [],
        `seed 11: replay with npm run sim -- --scenario ${scenario} --seed 11 --nodes ${nodes} --keys ${keys}`,
      );
    });
  }

  it('eclipse at 300 nodes: the defended lookups clear their bars, the undefended ones do not (the full size is npm run sim)', async () => {
    const result = await simulate('eclipse', 11, 300, 40);
    for (const bar of result.bars) console.log(`      ${bar.name}: ${bar.value} (bar ${bar.bar})`);
    const open = result.notes['eclipse (20% Sybils): node lookups return the closest honest node, open, 1 path']!;
    console.log(`      undefended (open, 1 path): node lookups ${open}, gets ${result.notes['eclipse (20% Sybils): gets successful, open, 1 path']}`);
    assert.deepEqual(
      result.bars.filter((bar) => !bar.pass).map((bar) => bar.name),
      [],
      'seed 11: replay with npm run sim -- --scenario eclipse --seed 11 --nodes 300 --keys 40',
    );
    // The attack is real: without the defences, it hides the honest nodes around its targets.
    assert.ok(open < 0.95, `undefended node lookups ${open}`);
  });
});
