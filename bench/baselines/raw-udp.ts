import { createSocket, type Socket } from 'node:dgram';
import { now } from '../measure.ts';

/**
 * Raw loopback UDP, the floor under the UDP transport's figures: datagrams with nothing but
 * Node's dgram module, no reliability, no order, no seal.
 */
export interface RawUdp {
  /** One datagram of `bytes` there and back: the server echoes it to its sender. */
  roundTrip(): Promise<void>;
  /**
   * `count` datagrams of `bytes` each, one way. Nothing is acknowledged: the sender is paced by
   * the receiver's count, read in this process for free, never more than `window` datagrams
   * ahead of it, so the receive buffer does not overflow and drop most of them. Resolves with how
   * many arrived and the time from the first send to the last arrival, ms. Raw UDP loses what it
   * loses: when nothing arrives for QUIET_MS, what is outstanding is taken as lost.
   */
  blast(count: number, bytes: number, window: number): Promise<{ delivered: number; ms: number }>;
  close(): Promise<void>;
}

/** Socket buffers asked for, bytes: the UDP transport's own (transports/udp/index.ts), so both get the same kernel room. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** Silence after which outstanding datagrams are taken as lost, ms: loopback delivers in microseconds. */
const QUIET_MS = 100;

export async function openRawUdp(requestBytes: number): Promise<RawUdp> {
  const options = { type: 'udp4', recvBufferSize: SOCKET_BUFFER_BYTES, sendBufferSize: SOCKET_BUFFER_BYTES } as const;
  const bind = async (socket: Socket): Promise<number> => {
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return socket.address().port;
  };
  const connectTo = async (port: number): Promise<Socket> => {
    const socket = createSocket(options);
    await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
    return socket;
  };

  // Round trips: an echo server and a client connected to it.
  const echo = createSocket(options);
  echo.on('message', (datagram, from) => echo.send(datagram, from.port, from.address));
  const client = await connectTo(await bind(echo));
  const request = Buffer.alloc(requestBytes, 7);
  let replied: (() => void) | undefined;
  client.on('message', () => {
    const done = replied;
    replied = undefined;
    done?.();
  });

  // Blasts: a sink that counts, and a sender connected to it.
  const sink = createSocket(options);
  let received = 0;
  let lastArrival = 0;
  let progressed: (() => void) | undefined;
  sink.on('message', () => {
    received++;
    lastArrival = now();
    progressed?.();
  });
  const sender = await connectTo(await bind(sink));
  for (const socket of [echo, client, sink, sender]) socket.on('error', () => {});

  /** Resolves true once `ready()` holds, false after QUIET_MS without an arrival. */
  const waitFor = (ready: () => boolean): Promise<boolean> =>
    new Promise((resolve) => {
      let timer = setTimeout(() => finish(false), QUIET_MS);
      const finish = (result: boolean): void => {
        clearTimeout(timer);
        progressed = undefined;
        resolve(result);
      };
      progressed = () => {
        if (ready()) return finish(true);
        timer.refresh();
      };
      if (ready()) finish(true);
    });

  return {
    roundTrip: () =>
      new Promise<void>((resolve) => {
        replied = resolve;
        client.send(request);
      }),
    async blast(count, bytes, window) {
      const datagram = Buffer.alloc(bytes, 7);
      received = 0;
      let sent = 0;
      let lost = 0;
      const start = now();
      lastArrival = start;
      while (sent < count) {
        while (sent < count && sent - received - lost < window) {
          sender.send(datagram);
          sent++;
        }
        // Refill once half the window arrived: bursts, as a window opened by acknowledgements is.
        if (sent < count && !(await waitFor(() => sent - received - lost <= window / 2))) lost = sent - received;
      }
      await waitFor(() => received + lost >= count);
      return { delivered: received, ms: lastArrival - start };
    },
    async close() {
      await Promise.all([echo, client, sink, sender].map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    },
  };
}
