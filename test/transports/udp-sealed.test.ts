import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createNode } from '../../src/assemble.ts';
import { immutableRecord } from '../../src/dht/records.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import type { Connection } from '../../src/net/transport.ts';
import { decodeBody, HEADER_BYTES, plainDatagram, readHeader, type DataBody } from '../../transports/udp/packet.ts';
import { UdpTransport } from '../../transports/udp/index.ts';
import { UdpProxy, type Direction } from '../helpers/udp-proxy.ts';
import { until } from '../helpers/until.ts';
import { received } from '../helpers/received.ts';

/** What the path saw: each datagram's direction, type, whether sealed, and a plain DATA's sequence number. */
function seen(proxy: UdpProxy) {
  return proxy.log.map(({ direction, datagram }) => {
    const header = readHeader(datagram);
    const seq = header.type === 'data' && !header.sealed ? (decodeBody('data', datagram.subarray(HEADER_BYTES)) as DataBody).seq : undefined;
    return { direction, type: header.type, sealed: header.sealed, seq };
  });
}


describe('udp transport: a sealed connection, seen from the path', function () {
  this.timeout(20_000);
  let server: UdpTransport;
  let client: UdpTransport;
  let proxy: UdpProxy;
  let outbound: Connection;
  let inbound: Connection;

  beforeEach(async () => {
    server = new UdpTransport();
    client = new UdpTransport();
    let accept!: (connection: Connection) => void;
    const accepted = new Promise<Connection>((resolve) => (accept = resolve));
    const listener = await server.listen('/ip4/127.0.0.1/udp/0', accept);
    proxy = await UdpProxy.to(listener.addresses[0]!);
    outbound = await client.dial(proxy.address);
    inbound = await accepted;
    const [aToB, bToA] = [new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32))];
    outbound.seal!({ sendKey: aToB, receiveKey: bToA });
    inbound.seal!({ sendKey: bToA, receiveKey: aToB });
    proxy.log.length = 0;
  });

  afterEach(async () => {
    await client.close();
    await server.close();
    await proxy.close();
  });

  it('once sealed, every datagram either way is sealed, and the bytes arrive', async () => {
    const payload = randomBytes(50_000);
    const atServer = received(inbound, payload.length);
    outbound.write(payload);
    assert.ok((await atServer).equals(payload));
    const reply = received(outbound, 3);
    inbound.write(Buffer.from('ok!'));
    await reply;
    const datagrams = seen(proxy);
    assert.ok(datagrams.length > 40);
    assert.deepEqual(datagrams.filter((datagram) => !datagram.sealed), []);
  });

  it('plain DATA slipped in on the path is refused (ERR_UDP_UNSEALED), never delivered', async () => {
    const delivered: Buffer[] = [];
    inbound.onData = (chunk) => delivered.push(Buffer.from(chunk));
    outbound.write(Buffer.from('real'));
    await until(() => delivered.length === 1);
    // The path knows the connection id (in every header) and the next sequence number.
    const header = proxy.log.find((entry) => entry.direction === 'to-server')!.datagram;
    const forged = plainDatagram(
      { type: 'data', seq: 1, fragment: 0, fragments: 1, ack: 0, sack: new Uint8Array(0), payload: Buffer.from('forged') },
      new Uint8Array(header.subarray(1, 9)),
      true,
    );
    proxy.send('to-server', forged);
    await until(() => (server.stats().dropped.ERR_UDP_UNSEALED ?? 0) === 1);
    assert.deepEqual(delivered.map(String), ['real']);
  });

  it('a tampered datagram fails to open (ERR_UDP_AUTH); the retransmission delivers the bytes intact', async () => {
    let tampered = 0;
    proxy.alter = (direction: Direction, datagram: Buffer) => {
      if (direction !== 'to-server' || tampered > 0 || readHeader(datagram).type !== 'data') return datagram;
      tampered++;
      const copy = Buffer.from(datagram);
      copy[copy.length - 20]! ^= 0x01;
      return copy;
    };
    const atServer = received(inbound, 5);
    outbound.write(Buffer.from('intact'.slice(0, 5)));
    assert.equal((await atServer).toString(), 'intac');
    assert.equal(server.stats().dropped.ERR_UDP_AUTH, 1);
    assert.ok(client.stats().retransmits >= 1);
  });

  it('a replayed sealed datagram is refused by its counter (ERR_UDP_REPLAY), delivered once', async () => {
    const delivered: Buffer[] = [];
    inbound.onData = (chunk) => delivered.push(Buffer.from(chunk));
    outbound.write(Buffer.from('once'));
    await until(() => delivered.length === 1);
    const recorded = proxy.log.find((entry) => entry.direction === 'to-server' && readHeader(entry.datagram).type === 'data')!.datagram;
    proxy.send('to-server', recorded);
    proxy.send('to-server', recorded);
    await until(() => (server.stats().dropped.ERR_UDP_REPLAY ?? 0) === 2);
    assert.deepEqual(delivered.map(String), ['once']);
  });
});

describe('two nodes over UDP, seen from the path', function () {
  this.timeout(30_000);

  it('after the ping-pong-pong handshake, every datagram is sealed with the session keys', async () => {
    const a = await createNode({ transports: [new UdpTransport()], listen: ['/ip4/127.0.0.1/udp/0'] });
    await a.start();
    const proxy = await UdpProxy.to(a.addresses[0]!);
    let b: MyDhtNode | undefined;
    try {
      b = await createNode({ transports: [new UdpTransport()], listen: ['/ip4/127.0.0.1/udp/0'], bootstrap: [proxy.address] });
      await b.start();
      await until(async () => (await b!.peers()).length === 1);
      const record = immutableRecord(new Uint8Array(randomBytes(3_000)));
      await b.put(record);
      const got = await a.get(record.key);
      assert.ok(got !== null && Buffer.from(got.value).equals(Buffer.from(record.value)));
      const datagrams = seen(proxy);
      const plainData = datagrams.filter((datagram) => datagram.type === 'data' && !datagram.sealed);
      // In the clear: B's PING (seq 0) and final PONG (seq 1), A's PONG (seq 0), and their
      // retransmissions if any were lost. Nothing else.
      assert.ok(plainData.every((datagram) => (datagram.direction === 'to-server' ? datagram.seq! <= 1 : datagram.seq === 0)), JSON.stringify(plainData));
      assert.ok(datagrams.filter((datagram) => datagram.sealed).length > 5);
      assert.ok(datagrams.every((datagram) => datagram.sealed || ['hello', 'cookie', 'accept', 'data', 'ack'].includes(datagram.type)));
    } finally {
      await b?.stop();
      await a.stop();
      await proxy.close();
    }
  });
});
