import { Socket } from 'node:net';
import { DEFAULT_CODEC_LIMITS } from '../../src/runtime/codec.ts';
import { FrameDecoder } from '../../src/runtime/frames.ts';
import { ServiceHost } from '../../src/runtime/remote-host.ts';

// Inside the child: fd 3 is the link to the parent. When the parent goes, so does the child.
const LINK_FD = 3;
const link = new Socket({ fd: LINK_FD, readable: true, writable: true });
// argv: [node, entry, service name, frame cap]. A batch never exceeds the codec's byte cap.
const maxFrame = Number(process.argv[3]);
const frames = new FrameDecoder(Number.isSafeInteger(maxFrame) && maxFrame > 0 ? maxFrame : DEFAULT_CODEC_LIMITS.maxBytes);
const host = new ServiceHost({
  framed: true,
  write(batch) {
    link.write(batch);
  },
  exit(code) {
    link.end(() => process.exit(code));
  },
});
link.on('data', (chunk: Buffer) => {
  let batches: Uint8Array[];
  try {
    batches = frames.push(chunk);
  } catch {
    process.exit(1);
  }
  for (const batch of batches) host.receive(batch);
});
link.on('close', () => process.exit(0));
link.on('error', () => process.exit(1));
