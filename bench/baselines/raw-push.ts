import { connect, createServer, type Socket } from 'node:net';

/**
 * The floor under listen's figures: one server pushing a small length-prefixed frame to `count`
 * loopback TCP clients, with nothing but Node's net module. `push()` resolves with each
 * client's delivery latency, ms, once all have the frame.
 */
export interface RawPush {
  push(): Promise<number[]>;
  close(): Promise<void>;
}

export async function openRawPush(count: number): Promise<RawPush> {
  const accepted: Socket[] = [];
  let allAccepted: () => void = () => {};
  const ready = new Promise<void>((resolve) => (allAccepted = resolve));
  const server = createServer({ noDelay: true }, (socket) => {
    accepted.push(socket);
    socket.on('error', () => {});
    if (accepted.length === count) allAccepted();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  let pending: { sent: number; latencies: number[]; done: () => void } | undefined;
  const clients: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const client = await new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket));
      socket.once('error', reject);
    });
    let buffered: Buffer = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        buffered = buffered.subarray(4 + buffered.readUInt32BE(0));
        if (pending === undefined) continue;
        pending.latencies.push(performance.now() - pending.sent);
        if (pending.latencies.length === count) pending.done();
      }
    });
    clients.push(client);
  }
  await ready;
  const frame = Buffer.alloc(4 + 150, 7);
  frame.writeUInt32BE(150, 0);
  return {
    push: () =>
      new Promise<number[]>((resolve) => {
        const latencies: number[] = [];
        pending = { sent: performance.now(), latencies, done: () => resolve(latencies) };
        for (const socket of accepted) socket.write(frame);
      }),
    close: async () => {
      for (const socket of [...clients, ...accepted]) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
