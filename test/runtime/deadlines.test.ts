import assert from 'node:assert/strict';
import sinon from 'sinon';
import { DeadlineWheel } from '../../src/runtime/deadlines.ts';

describe('deadline wheel', () => {
  it('expires items at their deadline, in order, never before, and not once removed', async () => {
    const wheel = new DeadlineWheel();
    const started = performance.now();
    const expired: { name: string; at: number }[] = [];
    const record = (name: string) => () => void expired.push({ name, at: performance.now() - started });
    const last = new Promise<void>((resolve) =>
      wheel.add({ expire: () => (record('40 ms')(), resolve()) }, 40),
    );
    wheel.add({ expire: record('20 ms') }, 20);
    const removed = { expire: record('removed') };
    wheel.remove(removed, wheel.add(removed, 10));
    await last;
    assert.deepEqual(
      expired.map((entry) => entry.name),
      ['20 ms', '40 ms'],
    );
    assert.ok(expired[0]!.at >= 20 && expired[1]!.at >= 40, 'no deadline expires early');
  });

  it('drops a bucket once its last item is removed (all but the latest), and a deadline added to that slot again still expires', async () => {
    const wheel = new DeadlineWheel();
    const items = Array.from({ length: 50 }, (_, i) => ({ expire: () => assert.fail(`item ${i} was removed`) }));
    const keys = items.map((item, i) => wheel.add(item, 30 + i * 10));
    assert.equal(wheel.buckets, new Set(keys).size);
    items.forEach((item, i) => wheel.remove(item, keys[i]!));
    assert.equal(wheel.buckets, 1, 'of the emptied buckets only the latest, where new deadlines land, is kept');
    // The slots' keys are still in order, so these land on slots that were emptied.
    const started = performance.now();
    const at = await Promise.all([30, 60, 90].map((ms) => new Promise<number>((resolve) => wheel.add({ expire: () => resolve(performance.now() - started) }, ms))));
    assert.ok(at[0]! >= 30 && at[1]! >= 60 && at[2]! >= 90, `expired at ${at.map((t) => t.toFixed(0)).join(', ')} ms`);
    assert.equal(wheel.buckets, 0, 'the latest emptied one went when the next bucket was made');
  });

  it('a timer lost to faked timers does not stall the deadlines after it', async () => {
    const wheel = new DeadlineWheel();
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      wheel.add({ expire: () => {} }, 10); // armed on a fake timer that will never fire
    } finally {
      clock.restore();
    }
    await new Promise<void>((resolve) => wheel.add({ expire: resolve }, 20));
  });
});
