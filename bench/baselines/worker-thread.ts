import { Encoder } from 'cbor-x';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { POOL_MASK, type PutMessage } from '../standard-message.ts';
import { BATCH_MESSAGES, WINDOW_BATCHES, type RawPath } from './raw-path.ts';

const WORKER = new URL('./bare-worker.ts', import.meta.url);

/**
 * Worker-thread baselines with a bare worker: for one way, batches of 256 cbor-x messages in one
 * buffer, transferred, at most 4 batches unacknowledged; for round trips, a postMessage ping-pong.
 */
export async function openWorkerThreadPath(): Promise<RawPath> {
  const worker = new Worker(WORKER);
  await once(worker, 'online');
  const encoder = new Encoder({ useRecords: false });
  let sent = 0;
  let acked = 0;
  let ackWaiter: { count: number; wake: () => void } | undefined;
  let replyWaiter: ((value: unknown) => void) | undefined;
  worker.on('message', (message: unknown) => {
    if (typeof message === 'number') {
      acked = message;
      if (ackWaiter !== undefined && acked >= ackWaiter.count) {
        const { wake } = ackWaiter;
        ackWaiter = undefined;
        wake();
      }
    } else {
      const reply = replyWaiter;
      replyWaiter = undefined;
      reply?.(message);
    }
  });
  const untilAcked = (count: number): Promise<void> | undefined =>
    acked >= count ? undefined : new Promise((wake) => (ackWaiter = { count, wake }));

  return {
    oneWayName: 'bare worker: cbor-x batches of 256 in one transferred buffer',
    roundTripName: 'bare worker: postMessage ping-pong',
    async oneWay(messages, total) {
      const target = sent + total;
      for (let first = 0; first < total; first += BATCH_MESSAGES) {
        const count = Math.min(BATCH_MESSAGES, total - first);
        const batch = encodeBatch(encoder, messages, first, count);
        worker.postMessage(batch.buffer, [batch.buffer]);
        sent += count;
        // At most WINDOW_BATCHES unacknowledged once the next one is posted.
        await untilAcked(sent - (WINDOW_BATCHES - 1) * BATCH_MESSAGES);
      }
      await untilAcked(target);
    },
    roundTrip(message) {
      return new Promise((resolve) => {
        replyWaiter = resolve;
        worker.postMessage(message);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

/** A CBOR sequence of `count` messages in a buffer of its own, so it can be transferred. */
function encodeBatch(encoder: Encoder, messages: readonly PutMessage[], first: number, count: number): Uint8Array<ArrayBuffer> {
  const parts: Uint8Array[] = [];
  let bytes = 0;
  for (let i = first; i < first + count; i++) {
    // cbor-x returns a view of its reusable block: copied into the batch below.
    const part = encoder.encode(messages[i & POOL_MASK]);
    parts.push(part);
    bytes += part.length;
  }
  const batch = new Uint8Array(bytes);
  let offset = 0;
  for (const part of parts) {
    batch.set(part, offset);
    offset += part.length;
  }
  return batch;
}
