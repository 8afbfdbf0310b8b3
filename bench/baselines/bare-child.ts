// A bare child process, no mydht runtime: fd 3 carries u32-length-prefixed cbor-x frames. It counts
// puts and acknowledges each chunk of them with its running total; it answers an echo with its value.
import { Decoder, Encoder } from 'cbor-x';
import { Socket } from 'node:net';
import { FrameSplitter, joinFrames } from './length-frames.ts';

const link = new Socket({ fd: 3, readable: true, writable: true });
const decoder = new Decoder({ useRecords: false });
const encoder = new Encoder({ useRecords: false });
const frames = new FrameSplitter();
let counted = 0;

link.on('data', (chunk: Buffer) => {
  const before = counted;
  const replies: Uint8Array[] = [];
  frames.push(chunk, (frame) => {
    const message = decoder.decode(frame) as { type?: unknown; value?: unknown };
    if (message.type === 'put') counted++;
    else replies.push(encoder.encode(message.value));
  });
  if (counted !== before) replies.push(encoder.encode(counted));
  if (replies.length > 0) link.write(joinFrames(replies));
});
link.on('close', () => process.exit(0));
link.on('error', () => process.exit(1));
