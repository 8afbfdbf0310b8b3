import { Decoder, Encoder } from 'cbor-x';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { POOL_MASK } from '../standard-message.ts';
import { FrameSplitter, joinFrames } from './length-frames.ts';
import { BATCH_MESSAGES, WINDOW_BATCHES, type RawPath } from './raw-path.ts';

const CHILD = new URL('./bare-child.ts', import.meta.url);

/**
 * Child-process baselines with a bare child over a socket pair on fd 3: for one way, u32-length-
 * prefixed cbor-x frames, 256 per write, at most 4 writes unacknowledged; for round trips, one
 * frame each way.
 */
export async function openChildProcessPath(): Promise<RawPath> {
  const child = spawn(process.execPath, [CHILD.pathname], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  await once(child, 'spawn');
  const link = child.stdio[3] as Socket;
  const encoder = new Encoder({ useRecords: false });
  const decoder = new Decoder({ useRecords: false });
  const frames = new FrameSplitter();
  let sent = 0;
  let acked = 0;
  let ackWaiter: { count: number; wake: () => void } | undefined;
  let replyWaiter: ((value: unknown) => void) | undefined;
  link.on('data', (chunk: Buffer) =>
    frames.push(chunk, (frame) => {
      const message: unknown = decoder.decode(frame);
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
    }),
  );
  const untilAcked = (count: number): Promise<void> | undefined =>
    acked >= count ? undefined : new Promise((wake) => (ackWaiter = { count, wake }));

  return {
    oneWayName: 'bare child: u32-prefixed cbor-x frames, 256 per write',
    roundTripName: 'bare child: one frame each way',
    async oneWay(messages, total) {
      const target = sent + total;
      const payloads: Uint8Array[] = [];
      for (let first = 0; first < total; first += BATCH_MESSAGES) {
        const count = Math.min(BATCH_MESSAGES, total - first);
        // cbor-x hands out views of its block but never rewrites them, so they wait safely for the join.
        for (let i = first; i < first + count; i++) payloads.push(encoder.encode(messages[i & POOL_MASK]));
        link.write(joinFrames(payloads));
        payloads.length = 0;
        sent += count;
        await untilAcked(sent - (WINDOW_BATCHES - 1) * BATCH_MESSAGES);
      }
      await untilAcked(target);
    },
    roundTrip(message) {
      return new Promise((resolve) => {
        replyWaiter = resolve;
        link.write(joinFrames([encoder.encode(message)]));
      });
    },
    async close() {
      const exited = once(child, 'exit');
      link.end();
      await exited;
    },
  };
}
