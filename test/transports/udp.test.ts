import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Connection } from '../../src/net/transport.ts';
import { HELLO_BYTES } from '../../transports/udp/packet.ts';
import { UdpTransport } from '../../transports/udp/index.ts';
import { RawUdpPeer } from '../helpers/raw-udp-peer.ts';
import { until } from '../helpers/until.ts';
import { reportBar } from '../helpers/report.ts';

/** A listening UDP transport and the connections it hands out. */
async function listening(options: ConstructorParameters<typeof UdpTransport>[0] = {}) {
  const transport = new UdpTransport(options);
  const accepted: Connection[] = [];
  const listener = await transport.listen('/ip4/127.0.0.1/udp/0', (connection) => accepted.push(connection));
  return { transport, accepted, address: listener.addresses[0]! };
}

const data = (seq: number, payload: Uint8Array, fragment = 0, fragments = 1) =>
  ({ type: 'data', seq, fragment, fragments, ack: 0, sack: new Uint8Array(0), payload }) as const;

describe('udp transport: strangers get a cookie and nothing more', function () {
  this.timeout(20_000);

  it('HELLOs without a cookie, with forged cookies, and garbage: no reply larger than its request, no state', async () => {
    const { transport, accepted, address } = await listening();
    const peer = await RawUdpPeer.to(address);
    let sent = 0;
    const send = async (datagram: Uint8Array): Promise<void> => {
      sent += datagram.length;
      await peer.send(datagram);
    };
    for (let i = 0; i < 300; i++) {
      await send(peer.datagram({ type: 'hello', cookie: undefined }));
      await send(peer.datagram({ type: 'hello', cookie: new Uint8Array(randomBytes(16)) }));
      await send(new Uint8Array(randomBytes(1 + (i % 200))));
    }
    await until(() => transport.stats().cookiesSent === 600);
    const stats = transport.stats();
    const ratio = stats.unauthenticated.responseBytes / stats.unauthenticated.requestBytes;
    console.log(`      ${stats.unauthenticated.requestBytes} bytes from an unvalidated address, ${stats.unauthenticated.responseBytes} back: amplification ${ratio.toFixed(3)}`);
    reportBar('UDP amplification: response bytes / request bytes, unauthenticated', Math.round(ratio * 1000) / 1000, 1, 'lower');
    assert.ok(ratio <= 1, `amplification ${ratio}`);
    assert.equal(stats.unauthenticated.requestBytes, sent);
    assert.ok(peer.bytesReceived <= sent);
    assert.equal(stats.connections, 0, 'the listener held no state for any of them');
    assert.equal(accepted.length, 0);
    assert.ok(HELLO_BYTES > peer.received[0]!.bytes, 'a COOKIE is smaller than the HELLO it answers');
    await peer.close();
    await transport.close();
  });

  it('a cookie is bound to the address it was sent to: echoed from another port, it earns another cookie', async () => {
    const { transport, accepted, address } = await listening();
    const [peer, thief] = [await RawUdpPeer.to(address), await RawUdpPeer.to(address)];
    const reply = peer.next('cookie');
    await peer.send(peer.datagram({ type: 'hello', cookie: undefined }));
    const { cookie } = (await reply) as { cookie: Uint8Array };
    const stolen = thief.next('cookie');
    // The thief uses the peer's connection id and cookie, from its own port.
    await thief.send(peer.datagram({ type: 'hello', cookie }));
    await stolen;
    assert.equal(transport.stats().connections, 0);
    // The rightful owner opens with it.
    const accept = peer.next('accept');
    await peer.send(peer.datagram({ type: 'hello', cookie }));
    await accept;
    await until(() => accepted.length === 1);
    assert.equal(transport.stats().connections, 1);
    await Promise.all([peer.close(), thief.close()]);
    await transport.close();
  });
});

describe('udp transport: bad input on an open connection is counted and dropped', function () {
  this.timeout(20_000);
  let listener: Awaited<ReturnType<typeof listening>>;
  let peer: RawUdpPeer;
  let connection: Connection;
  const delivered: Buffer[] = [];

  beforeEach(async () => {
    listener = await listening({ reassemblyTimeoutMs: 300, maxFragments: 8 });
    peer = await RawUdpPeer.to(listener.address);
    await peer.open();
    await until(() => listener.accepted.length === 1);
    connection = listener.accepted[0]!;
    delivered.length = 0;
    connection.onData = (chunk) => delivered.push(Buffer.from(chunk));
  });

  afterEach(async () => {
    await peer.close();
    await listener.transport.close();
  });

  it('a whole DATA in order is delivered and acknowledged (the control)', async () => {
    const ack = peer.next('ack');
    await peer.send(peer.datagram(data(0, Buffer.from('hello'))));
    const { ack: next, sack } = (await ack) as { ack: number; sack: Uint8Array };
    assert.equal(next, 1);
    assert.equal(sack.length, 0);
    assert.deepEqual(delivered, [Buffer.from('hello')]);
  });

  it('DATA naming more fragments than allowed, or beyond the receive window: dropped', async () => {
    await peer.send(peer.datagram(data(0, Buffer.from('x'), 0, 9)));
    await peer.send(peer.datagram(data(10_000, Buffer.from('x'))));
    await until(() => (listener.transport.stats().dropped.ERR_UDP_FRAGMENTS ?? 0) === 1 && (listener.transport.stats().dropped.ERR_UDP_WINDOW ?? 0) === 1);
    // The connection still works.
    await peer.send(peer.datagram(data(0, Buffer.from('still here'))));
    await until(() => delivered.length === 1);
    assert.equal(delivered[0]!.toString(), 'still here');
  });

  it('oversized, truncated and garbage datagrams: dropped, the connection unharmed', async () => {
    await peer.send(new Uint8Array(2000));
    await peer.send(peer.datagram(data(0, Buffer.from('x'))).subarray(0, 20));
    await peer.send(Buffer.from([0x99, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    await until(() => (listener.transport.stats().dropped.ERR_UDP_OVERSIZE ?? 0) === 1 && (listener.transport.stats().dropped.ERR_UDP_MALFORMED ?? 0) === 2);
    await peer.send(peer.datagram(data(0, Buffer.from('fine'))));
    await until(() => delivered.length === 1);
  });

  it('a message missing a fragment is dropped after the reassembly timeout, with its connection', async () => {
    const closed = new Promise<Error | undefined>((resolve) => (connection.onClose = resolve));
    await peer.send(peer.datagram(data(0, Buffer.from('first half'), 0, 2)));
    await peer.send(peer.datagram(data(2, Buffer.from('a later message'))));
    const error = await closed;
    assert.equal((error as { code?: string } | undefined)?.code, 'ERR_UDP_REASSEMBLY_TIMEOUT');
    assert.deepEqual(delivered, [], 'nothing of the unfinished message was delivered');
    assert.equal(listener.transport.stats().connections, 0, 'and what it held is freed');
  });

  it('a datagram from a new address never rides an existing connection', async () => {
    const other = await RawUdpPeer.to(listener.address);
    // Same connection id, another source port: not this connection.
    await other.send(peer.datagram(data(0, Buffer.from('hijack'))));
    await until(() => (listener.transport.stats().dropped.ERR_UDP_UNKNOWN_SESSION ?? 0) === 1);
    assert.deepEqual(delivered, []);
    await other.close();
  });
});
