import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { multiaddr } from '@multiformats/multiaddr';

export type Direction = 'to-server' | 'to-client';

/**
 * A UDP relay between one client and a server, standing where an attacker on the path would:
 * it records every datagram, and may alter, drop or add some. The server sees the relay's
 * address as the client's.
 */
export class UdpProxy {
  readonly address: string;
  readonly log: { direction: Direction; datagram: Buffer }[] = [];
  /** Return the datagram to forward (altered or not), or null to drop it. */
  alter: ((direction: Direction, datagram: Buffer) => Buffer | null) | undefined;
  readonly #socket: Socket;
  readonly #server: { host: string; port: number };
  #client: RemoteInfo | undefined;

  private constructor(socket: Socket, server: { host: string; port: number }) {
    this.#socket = socket;
    this.#server = server;
    const bound = socket.address();
    this.address = `/ip4/${bound.address}/udp/${bound.port}`;
    socket.on('message', (datagram, from) => {
      const fromServer = from.address === server.host && from.port === server.port;
      if (!fromServer) this.#client = from;
      const direction: Direction = fromServer ? 'to-client' : 'to-server';
      this.log.push({ direction, datagram });
      const forwarded = this.alter === undefined ? datagram : this.alter(direction, datagram);
      if (forwarded !== null) this.send(direction, forwarded);
    });
  }

  static async to(server: string): Promise<UdpProxy> {
    const [ip, udp] = multiaddr(server).getComponents();
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new UdpProxy(socket, { host: ip!.value!, port: Number(udp!.value) });
  }

  /** Send a datagram on, as if it came through. */
  send(direction: Direction, datagram: Uint8Array): void {
    const to = direction === 'to-server' ? this.#server : this.#client;
    if (to === undefined) return;
    this.#socket.send(datagram, 'port' in to ? to.port : 0, 'host' in to ? to.host : to.address);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}
