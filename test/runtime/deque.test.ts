import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Deque } from '../../src/runtime/deque.ts';

/** Fixed so that a failure reproduces; set FC_SEED to explore other inputs. */
const SEED = Number(process.env.FC_SEED ?? 0xde9e);

describe('Deque', () => {
  it('an empty deque has size 0, and shift, peek and drain give nothing', () => {
    const deque = new Deque<number>();
    assert.equal(deque.size, 0);
    assert.equal(deque.shift(), undefined);
    assert.equal(deque.peek(), undefined);
    assert.deepStrictEqual(deque.drain(), []);
    assert.equal(deque.size, 0);
  });

  it('shift returns items first in, first out', () => {
    const deque = new Deque<string>();
    for (const item of ['a', 'b', 'c']) deque.push(item);
    assert.equal(deque.size, 3);
    assert.deepStrictEqual([deque.shift(), deque.shift(), deque.shift(), deque.shift()], ['a', 'b', 'c', undefined]);
    assert.equal(deque.size, 0);
  });

  it('peek returns the oldest item without removing it', () => {
    const deque = new Deque<number>();
    deque.push(1);
    deque.push(2);
    assert.equal(deque.peek(), 1);
    assert.equal(deque.peek(), 1);
    assert.equal(deque.size, 2);
  });

  it('growing past the initial capacity keeps the order', () => {
    const deque = new Deque<number>(4);
    for (let i = 0; i < 1000; i++) deque.push(i);
    assert.equal(deque.size, 1000);
    assert.deepStrictEqual(deque.drain(), Array.from({ length: 1000 }, (_, i) => i));
  });

  it('growing while the ring has wrapped around keeps the order', () => {
    const deque = new Deque<number>(8);
    for (let i = 0; i < 6; i++) deque.push(i);
    for (let i = 0; i < 5; i++) assert.equal(deque.shift(), i); // head is now at slot 5
    for (let i = 6; i < 30; i++) deque.push(i); // wraps, then grows twice
    assert.deepStrictEqual(deque.drain(), Array.from({ length: 25 }, (_, i) => i + 5));
  });

  it('drain returns everything oldest first and leaves an empty, usable deque', () => {
    const deque = new Deque<number>(2);
    for (let i = 0; i < 5; i++) deque.push(i);
    deque.shift();
    assert.deepStrictEqual(deque.drain(), [1, 2, 3, 4]);
    assert.equal(deque.size, 0);
    deque.push(9);
    assert.equal(deque.shift(), 9);
  });

  it('falsy items (0, "", false, null, undefined) are kept and counted', () => {
    const deque = new Deque<unknown>();
    const items = [0, '', false, null, undefined];
    for (const item of items) deque.push(item);
    assert.equal(deque.size, 5);
    assert.deepStrictEqual(deque.drain(), items);
  });

  for (const capacity of [0, 1, 3, 16, 17, 1000]) {
    it(`an initial capacity of ${capacity} works (rounded up to a power of two)`, () => {
      const deque = new Deque<number>(capacity);
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 40; i++) deque.push(i);
        for (let i = 0; i < 40; i++) assert.equal(deque.shift(), i);
      }
      assert.equal(deque.size, 0);
    });
  }

  it('property: any sequence of push, shift, peek and drain behaves like an array queue', () => {
    console.log(`      fast-check seed ${SEED} (set FC_SEED to change it)`);
    const operation = fc.oneof(
      { weight: 5, arbitrary: fc.integer().map((value) => ({ op: 'push' as const, value })) },
      { weight: 4, arbitrary: fc.constant({ op: 'shift' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'peek' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'drain' as const }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.array(operation, { maxLength: 300 }), (capacity, operations) => {
        const deque = new Deque<number>(capacity);
        const model: number[] = [];
        for (const step of operations) {
          switch (step.op) {
            case 'push':
              deque.push(step.value);
              model.push(step.value);
              break;
            case 'shift':
              assert.equal(deque.shift(), model.shift());
              break;
            case 'peek':
              assert.equal(deque.peek(), model[0]);
              break;
            case 'drain':
              assert.deepStrictEqual(deque.drain(), model.splice(0));
              break;
          }
          assert.equal(deque.size, model.length);
        }
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });
});
