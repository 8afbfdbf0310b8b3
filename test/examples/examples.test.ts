import assert from 'node:assert/strict';
import { swap } from '../../examples/spawner-swap.ts';

describe('examples', function () {
  this.timeout(60_000);

  it('spawner-swap runs the same chat scenario under every spawner', async () => {
    const results = await swap(2_000);
    assert.deepEqual(
      results.map((result) => [result.spawner, result.lines]),
      [
        ['same-loop', 2_000],
        ['worker-thread', 2_000],
        ['child-process', 2_000],
      ],
    );
  });
});
