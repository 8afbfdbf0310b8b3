import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * Raw loopback TCP, the floor under the node's and the transports' figures: connections opened
 * and closed, u32-length-prefixed frames ping-ponged or streamed, and bulk bytes streamed, with
 * nothing but Node's net module.
 */
export interface RawTcp {
  /** Open a connection, exchange one small frame each way, close it. */
  connectExchangeClose(): Promise<void>;
  /** One 100-byte frame there and back on a long-lived connection. */
  roundTrip(): Promise<void>;
  /** `count` 150-byte frames one way, written in bursts as the node's write path does; resolves when all arrived. */
  oneWay(count: number): Promise<void>;
  /**
   * `bytes` unframed bytes one way on a connection of their own, in writes of `writeBytes`,
   * waiting for 'drain' once 1 MiB is buffered (the transports' high-water mark); resolves when
   * the server has counted them all.
   */
  stream(bytes: number, writeBytes: number): Promise<void>;
  close(): Promise<void>;
}

export async function openRawTcp(): Promise<RawTcp> {
  const sockets = new Set<Socket>();
  let received = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    let buffered: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
        const length = buffered.readUInt32BE(0);
        const frame = buffered.subarray(0, 4 + length);
        buffered = buffered.subarray(4 + length);
        if (frame[4] === 0x01) socket.write(frame); // echo request
        else if (++received >= target) wake?.();
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const dial = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(socket));
      socket.once('error', reject);
    });
  const frame = (kind: number, size: number): Buffer => {
    const out = Buffer.alloc(4 + size, 7);
    out.writeUInt32BE(size, 0);
    out[4] = kind;
    return out;
  };
  const request = frame(0x01, 100);
  const push = frame(0x02, 150);
  const echo = (socket: Socket): Promise<void> =>
    new Promise((resolve) => {
      socket.once('data', () => resolve());
      socket.write(request);
    });
  const long = await dial();
  // The bulk stream's own server, which only counts, opened at the first stream().
  let bulk: { server: Server; socket: Socket; sink: Socket[] } | undefined;
  let sunk = 0;
  let sinkTarget = 0;
  let sinkWake: (() => void) | undefined;
  const openBulk = async (): Promise<NonNullable<typeof bulk>> => {
    const sink: Socket[] = [];
    const server = createServer({ noDelay: true }, (socket) => {
      sink.push(socket);
      socket.on('data', (chunk: Buffer) => {
        sunk += chunk.length;
        if (sunk >= sinkTarget) sinkWake?.();
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const socket = await new Promise<Socket>((resolve, reject) => {
      const dialed = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, noDelay: true }, () => resolve(dialed));
      dialed.once('error', reject);
    });
    return { server, socket, sink };
  };
  return {
    async connectExchangeClose() {
      const socket = await dial();
      await echo(socket);
      socket.destroy();
    },
    roundTrip: () => echo(long),
    async oneWay(count) {
      received = 0;
      target = count;
      const arrived = new Promise<void>((resolve) => (wake = resolve));
      for (let i = 0; i < count; i += 256) {
        long.cork();
        for (let j = i; j < Math.min(count, i + 256); j++) long.write(push);
        long.uncork();
        if (long.writableLength > 1 << 20) await new Promise<void>((resolve) => long.once('drain', () => resolve()));
      }
      await arrived;
    },
    async stream(bytes, writeBytes) {
      bulk ??= await openBulk();
      const { socket } = bulk;
      sunk = 0;
      sinkTarget = bytes;
      const arrived = new Promise<void>((resolve) => (sinkWake = resolve));
      const chunk = Buffer.alloc(writeBytes, 7);
      for (let sent = 0; sent < bytes; sent += writeBytes) {
        socket.write(sent + writeBytes <= bytes ? chunk : chunk.subarray(0, bytes - sent));
        if (socket.writableLength >= 1 << 20) await new Promise<void>((resolve) => socket.once('drain', () => resolve()));
      }
      await arrived;
    },
    async close() {
      if (bulk !== undefined) {
        for (const socket of [bulk.socket, ...bulk.sink]) socket.destroy();
        const { server } = bulk;
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      long.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
