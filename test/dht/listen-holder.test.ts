import assert from 'node:assert/strict';
import { createServiceSystem } from '../../src/assemble.ts';
import type { SessionMessage } from '../../src/node/messages.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import type { DhtRecord } from '../../src/dht/records.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import type { RecordingWriteProtocol } from '../fixtures/recording-write.ts';

const LISTEN = serviceModule(import.meta.url, '../../services/listen.ts');
const WRITE = serviceModule(import.meta.url, '../fixtures/recording-write.ts');
const KEY = new Uint8Array(32).fill(5);
const record = (seq: number) => ({ kind: 'mutable', key: KEY, seq, value: new Uint8Array([seq]) }) as unknown as DhtRecord;

type Notify = Extract<SessionMessage, { type: 'notify' }>;

// The holder's side of listen, alone: one subscriber that acknowledges slowly.
describe('listen, holder side: a bounded queue per subscriber, a window, acknowledgements, lagged', () => {
  it('pushes at most a window ahead, moves on with each acknowledgement, and tells a slow subscriber what it lost', async () => {
    const system = createServiceSystem();
    await system.start([
      { name: 'write', module: WRITE, spawner: 'same-loop', config: null },
      { name: 'listen', module: LISTEN, spawner: 'same-loop', config: { self: 'holder', queueLength: 8, window: 4 } },
    ]);
    try {
      const listen = system.get<NodeProtocols['listen']>('listen');
      const write = system.get<RecordingWriteProtocol>('write');
      const notifies = async (): Promise<Notify[]> => {
        await system.settled();
        return (await write.call({ type: 'sent' })).map((sent) => sent.message).filter((message): message is Notify => message.type === 'notify');
      };
      await listen.call({ type: 'message', from: 'slow', message: { type: 'listen', query: 1, key: KEY, ttlMs: 60_000 } });
      await system.settled();
      await write.call({ type: 'sent' }); // the reply to the listen

      for (let seq = 1; seq <= 6; seq++) await listen.call({ type: 'accepted', record: record(seq) });
      assert.deepEqual((await notifies()).map((notify) => notify.n), [0, 1, 2, 3], 'a window of 4 ahead, no more');

      await listen.call({ type: 'message', from: 'slow', message: { type: 'notify-ack', key: KEY, n: 1 } });
      assert.deepEqual((await notifies()).map((notify) => notify.n), [4, 5], 'two acknowledged, two more go');

      // Queue: 4 unacknowledged (2..5) + up to 8 in all; 10 more records overflow it by 6.
      for (let seq = 7; seq <= 16; seq++) await listen.call({ type: 'accepted', record: record(seq) });
      assert.deepEqual(await notifies(), [], 'nothing beyond the window while unacknowledged');
      await listen.call({ type: 'message', from: 'slow', message: { type: 'notify-ack', key: KEY, n: 5 } });
      const next = await notifies();
      assert.equal(next[0]!.lagged, 6, 'the first push after the drops says how many were lost');
      assert.deepEqual(
        next.map((notify) => (notify.record as { seq: number }).seq),
        [13, 14, 15, 16],
        'the oldest unsent went; the newest are kept',
      );
      const stats = await listen.call({ type: 'stats' });
      assert.equal(stats.subscriptions, 1);
      assert.equal(stats.acked, 6);

      // Bad input from a peer is ignored, and the service goes on.
      await listen.call({ type: 'message', from: 'slow', message: { type: 'notify-ack', key: 42 as never, n: 1 } });
      await listen.call({ type: 'message', from: 'slow', message: { type: 'unlisten', key: KEY } });
      assert.equal((await listen.call({ type: 'stats' })).subscriptions, 0);
    } finally {
      await system.stop();
    }
  });
});
