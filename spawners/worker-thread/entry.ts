import { parentPort } from 'node:worker_threads';
import { ServiceHost } from '../../src/runtime/remote-host.ts';

// Inside the worker: one ServiceHost fed by the parent's transferred batches.
if (parentPort === null) throw new Error('the worker-thread entry must run in a worker');
const port = parentPort;
const host = new ServiceHost({
  framed: false,
  write(batch) {
    const buffer = batch.buffer as ArrayBuffer;
    port.postMessage(buffer, [buffer]);
  },
  exit(code) {
    // Let queued messages leave before the thread ends.
    setImmediate(() => process.exit(code));
  },
});
port.on('message', (message: unknown) => {
  if (message instanceof ArrayBuffer) host.receive(new Uint8Array(message));
});
