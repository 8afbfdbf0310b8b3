import assert from 'node:assert/strict';
import fc from 'fast-check';
import sinon from 'sinon';
import { DEFAULT_RESTART_POLICY, RestartBudget, type RestartPolicy } from '../../src/runtime/restart-policy.ts';

/** Fixed so that a failure reproduces; set FC_SEED to explore other inputs. */
const SEED = Number(process.env.FC_SEED ?? 0x2e57a27);

/** `count` calls of next(now), all at the same instant. */
function delaysAt(budget: RestartBudget, now: number, count: number): (number | undefined)[] {
  return Array.from({ length: count }, () => budget.next(now));
}

describe('RestartBudget', () => {
  afterEach(() => sinon.restore());

  it('the default policy: 5 restarts per 10 s, backoff from 50 ms up to 2 s', () => {
    assert.deepStrictEqual(DEFAULT_RESTART_POLICY, { maxRestarts: 5, windowMs: 10_000, backoffMs: 50, maxBackoffMs: 2_000 });
  });

  it('the backoff doubles with each restart inside the window, then the budget is spent', () => {
    const budget = new RestartBudget(DEFAULT_RESTART_POLICY);
    assert.deepStrictEqual(delaysAt(budget, 0, 6), [50, 100, 200, 400, 800, undefined]);
  });

  it('the backoff is capped at maxBackoffMs', () => {
    const budget = new RestartBudget({ maxRestarts: 8, windowMs: 60_000, backoffMs: 100, maxBackoffMs: 1_000 });
    assert.deepStrictEqual(delaysAt(budget, 0, 8), [100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000]);
  });

  it('a spent budget stays spent inside the window, and refusals do not count as restarts', () => {
    const budget = new RestartBudget(DEFAULT_RESTART_POLICY);
    delaysAt(budget, 0, 5);
    assert.deepStrictEqual(delaysAt(budget, 5_000, 10), new Array(10).fill(undefined));
    // Only the five restarts at t=0 count: once they leave the window the budget is whole again.
    assert.equal(budget.next(10_001), 50);
  });

  it('a restart exactly windowMs old still counts; one millisecond later it has left the window', () => {
    const budget = new RestartBudget(DEFAULT_RESTART_POLICY);
    delaysAt(budget, 0, 4);
    assert.equal(budget.next(1_000), 800); // the fifth, at t=1000
    assert.equal(budget.next(10_000), undefined); // the four at t=0 are exactly 10 s old
    assert.equal(budget.next(10_001), 100); // they left; the one at t=1000 remains: 50 * 2^1
  });

  it('restarts spread out wider than the window never spend the budget', () => {
    const budget = new RestartBudget({ maxRestarts: 2, windowMs: 1_000, backoffMs: 10, maxBackoffMs: 1_000 });
    for (let i = 0; i < 100; i++) assert.equal(budget.next(i * 1_001), 10, `restart ${i}`);
  });

  it('maxRestarts 0 never allows a restart', () => {
    const budget = new RestartBudget({ ...DEFAULT_RESTART_POLICY, maxRestarts: 0 });
    assert.deepStrictEqual(delaysAt(budget, 0, 3), [undefined, undefined, undefined]);
  });

  it('reads the clock when no time is passed (fake timers)', () => {
    // Only Date is faked, and restored whatever happens: faked timers left installed would stall
    // every timer of the tests that run after this one.
    const clock = sinon.useFakeTimers({ now: 1_700_000_000_000, toFake: ['Date'] });
    try {
      const budget = new RestartBudget(DEFAULT_RESTART_POLICY);
      assert.deepStrictEqual([budget.next(), budget.next(), budget.next(), budget.next(), budget.next(), budget.next()], [50, 100, 200, 400, 800, undefined]);
      clock.tick(DEFAULT_RESTART_POLICY.windowMs);
      assert.equal(budget.next(), undefined);
      clock.tick(1);
      assert.equal(budget.next(), 50);
    } finally {
      clock.restore();
    }
  });

  it('backoffMs 0 means no delay, however many restarts the window allows', () => {
    const budget = new RestartBudget({ maxRestarts: 2_000, windowMs: 60_000, backoffMs: 0, maxBackoffMs: 1_000 });
    const delays = delaysAt(budget, 0, 2_000);
    const wrong = delays.findIndex((delay) => delay !== 0);
    assert.equal(wrong, -1, `restart ${wrong + 1} was given a delay of ${String(delays[wrong])} instead of 0`);
  });

  it('property: next() matches a model of the window and the backoff, and every delay is a finite number in [0, maxBackoffMs]', () => {
    console.log(`      fast-check seed ${SEED} (set FC_SEED to change it)`);
    const policy = fc.record({
      maxRestarts: fc.integer({ min: 0, max: 20 }),
      windowMs: fc.integer({ min: 0, max: 100_000 }),
      backoffMs: fc.integer({ min: 0, max: 10_000 }),
      maxBackoffMs: fc.integer({ min: 0, max: 100_000 }),
    });
    const gaps = fc.array(fc.integer({ min: 0, max: 30_000 }), { maxLength: 60 });
    fc.assert(
      fc.property(policy, gaps, (p: RestartPolicy, steps) => {
        const budget = new RestartBudget(p);
        const granted: number[] = [];
        let now = 0;
        for (const gap of steps) {
          now += gap;
          const inWindow = granted.filter((t) => now - t <= p.windowMs).length;
          const expected = inWindow >= p.maxRestarts ? undefined : Math.min(p.maxBackoffMs, p.backoffMs * 2 ** inWindow);
          const delay = budget.next(now);
          assert.equal(delay, expected, `at t=${now} with ${inWindow} restarts in the window`);
          if (delay !== undefined) {
            assert.ok(Number.isFinite(delay) && delay >= 0 && delay <= p.maxBackoffMs);
            granted.push(now);
          }
        }
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });
});
