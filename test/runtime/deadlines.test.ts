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
