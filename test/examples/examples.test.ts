import assert from 'node:assert/strict';
import { swap } from '../../examples/spawner-swap.ts';
import { localNetwork } from '../../examples/local-network.ts';
import { chat } from '../../examples/custom-service.ts';

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

  it('local-network puts on one node and every other gets the record and the latest version', async () => {
    const seen = await localNetwork();
    assert.equal(seen.length, 4);
    for (const { value } of seen) assert.equal(value, 'hello from node 0 / version 2');
  });

  for (const spawner of ['same-loop', 'child-process'] as const) {
    it(`custom-service: a chat service of one file, registered by configuration (${spawner})`, async () => {
      const lines = await chat(spawner);
      assert.equal(lines.length, 3);
      assert.match(lines[0]!, /^[0-9a-f]{8}: hello alice$/);
      assert.match(lines[2]!, /: bye$/);
    });
  }
});
