import { strict as assert } from 'node:assert';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Codec } from '../../src/runtime/codec.ts';
import { BATCH_MAX_MESSAGES, BatchWriter } from '../../src/runtime/link.ts';

/** A writer whose shipped batches are decoded back into their envelopes. */
function recordingWriter(): { writer: BatchWriter; batches: unknown[][] } {
  const codec = new Codec();
  const batches: unknown[][] = [];
  const writer = new BatchWriter(codec, (batch) => batches.push(codec.decodeSequence(batch)), false);
  return { writer, batches };
}

describe('BatchWriter', () => {
  it('ships the sends of a producer that awaits each one as one batch', async () => {
    const { writer, batches } = recordingWriter();
    const send = (n: number): Promise<void> => {
      writer.push(['send', n]);
      return Promise.resolve();
    };
    for (let n = 0; n < 10; n++) await send(n);
    assert.equal(batches.length, 0, 'nothing ships while the burst goes on');
    await nextTurn();
    assert.deepEqual(batches, [Array.from({ length: 10 }, (_, n) => ['send', n])]);
  });

  it('ships a call or a reply at the end of the current microtask, with what came before it', async () => {
    const { writer, batches } = recordingWriter();
    writer.push(['send', 1]);
    writer.push(['call', 2], true);
    writer.push(['call', 3], true);
    await null;
    assert.deepEqual(batches, [
      [
        ['send', 1],
        ['call', 2],
        ['call', 3],
      ],
    ]);
  });

  it('ships what beforeFlush adds in the same batch, and schedules no second flush for it', async () => {
    const { writer, batches } = recordingWriter();
    // Like the host's running counters; bounded so that a writer which flushed again for every
    // counter it pushed fails this test instead of spinning.
    let flushes = 0;
    writer.beforeFlush = () => {
      if (++flushes <= 3) writer.push(['counter', flushes]);
    };
    writer.push(['reply', 1], true);
    await nextTurn();
    assert.deepEqual(batches, [
      [
        ['reply', 1],
        ['counter', 1],
      ],
    ]);
    assert.equal(flushes, 1);
  });

  it(`never holds more than ${BATCH_MAX_MESSAGES} envelopes in one batch`, async () => {
    const { writer, batches } = recordingWriter();
    for (let n = 0; n < BATCH_MAX_MESSAGES + 1; n++) writer.push(['send', n]);
    await nextTurn();
    assert.deepEqual(
      batches.map((batch) => batch.length),
      [BATCH_MAX_MESSAGES, 1],
    );
  });

  it('drops what is unsent once closed, and ships nothing after', async () => {
    const { writer, batches } = recordingWriter();
    writer.push(['send', 1]);
    writer.close();
    writer.push(['send', 2], true);
    await nextTurn();
    assert.deepEqual(batches, []);
  });
});
