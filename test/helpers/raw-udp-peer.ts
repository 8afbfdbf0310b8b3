import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { multiaddr } from '@multiformats/multiaddr';
import { decodeBody, HEADER_BYTES, plainDatagram, readHeader, type Body } from '../../transports/udp/packet.ts';

/**
 * A UDP socket that speaks the transport's datagram format by hand, to send a listener what an
 * honest transport never would: HELLOs without cookies, forged cookies, out-of-window and
 * over-fragmented DATA, garbage. It counts what comes back, byte for byte.
 */
export class RawUdpPeer {
  readonly socket: Socket;
  readonly connectionId = new Uint8Array(randomBytes(8));
  readonly #host: string;
  readonly #port: number;
  /** Every datagram received, decoded where it decodes (plain ones only). */
  readonly received: { bytes: number; body: Body | undefined }[] = [];
  #waiters: { type: Body['type']; resolve: (body: Body) => void }[] = [];

  private constructor(socket: Socket, host: string, port: number) {
    this.socket = socket;
    this.#host = host;
    this.#port = port;
    socket.on('message', (datagram) => {
      let body: Body | undefined;
      try {
        const header = readHeader(datagram);
        if (!header.sealed) body = decodeBody(header.type, datagram.subarray(HEADER_BYTES));
      } catch {
        body = undefined;
      }
      this.received.push({ bytes: datagram.length, body });
      if (body !== undefined) {
        const waiter = this.#waiters.find((candidate) => candidate.type === body.type);
        if (waiter !== undefined) {
          this.#waiters = this.#waiters.filter((candidate) => candidate !== waiter);
          waiter.resolve(body);
        }
      }
    });
  }

  /** A socket aimed at the listener at `address` (`/ip4/127.0.0.1/udp/P`). */
  static async to(address: string): Promise<RawUdpPeer> {
    const [ip, udp] = multiaddr(address).getComponents();
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new RawUdpPeer(socket, ip!.value!, Number(udp!.value));
  }

  get bytesReceived(): number {
    return this.received.reduce((sum, datagram) => sum + datagram.bytes, 0);
  }

  send(datagram: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(datagram, this.#port, this.#host, (err) => (err ? reject(err) : resolve())));
  }

  /** A plain datagram of ours, as the dialer of our connection id. */
  datagram(body: Body): Uint8Array {
    return plainDatagram(body, this.connectionId, true);
  }

  next(type: Body['type']): Promise<Body> {
    return new Promise((resolve) => this.#waiters.push({ type, resolve }));
  }

  /** HELLO, echo the cookie, ACCEPT: the listener now holds a connection for this socket. */
  async open(): Promise<void> {
    const cookie = this.next('cookie');
    await this.send(this.datagram({ type: 'hello', cookie: undefined }));
    const { cookie: value } = (await cookie) as { cookie: Uint8Array };
    const accepted = this.next('accept');
    await this.send(this.datagram({ type: 'hello', cookie: value }));
    await accepted;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
