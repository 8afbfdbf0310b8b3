// A bare worker, no mydht runtime: decodes transferred cbor-x batches and counts the puts,
// acknowledging each batch with its running total; echoes a cloned message's value straight back.
import { Decoder } from 'cbor-x';
import { parentPort } from 'node:worker_threads';

if (parentPort === null) throw new Error('bare-worker.ts must run in a worker');
const port = parentPort;
const decoder = new Decoder({ useRecords: false });
let counted = 0;

port.on('message', (message: unknown) => {
  if (message instanceof ArrayBuffer) {
    const items = decoder.decodeMultiple(new Uint8Array(message)) as { type?: unknown }[];
    for (const item of items) if (item.type === 'put') counted++;
    port.postMessage(counted);
  } else {
    port.postMessage((message as { value: Uint8Array }).value);
  }
});
