import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { Connection } from '../../src/net/transport.ts';
import { Libp2pTransport, MYDHT_PROTOCOL } from '../../transports/libp2p/index.ts';
import { received } from '../helpers/received.ts';

/** An unmodified js-libp2p node, from the public packages and their defaults only. */
function plainLibp2p() {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() },
  });
}

/** Inbound connections, each handed to the next waiter, in order of arrival. */
function inbox() {
  const ready: Connection[] = [];
  const waiters: ((connection: Connection) => void)[] = [];
  return {
    accept: (connection: Connection): void => {
      const waiter = waiters.shift();
      if (waiter === undefined) ready.push(connection);
      else waiter(connection);
    },
    next: (): Promise<Connection> => {
      const connection = ready.shift();
      return connection === undefined ? new Promise((resolve) => waiters.push(resolve)) : Promise.resolve(connection);
    },
  };
}

/** Listen on loopback with an inbox. */
async function listening(transport: Libp2pTransport, address = '/ip4/127.0.0.1/tcp/0') {
  const { accept, next } = inbox();
  const listener = await transport.listen(address, accept);
  return { listener, address: listener.addresses[0]!, next };
}


describe('libp2p transport', function () {
  this.timeout(30_000);
  const serverIdentity = NodeIdentity.generate();
  const clientIdentity = NodeIdentity.generate();
  let server: Libp2pTransport;
  let client: Libp2pTransport;

  beforeEach(() => {
    server = new Libp2pTransport({ identity: serverIdentity });
    client = new Libp2pTransport({ identity: clientIdentity });
  });

  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('handles TCP multiaddrs with or without /p2p/, and nothing else', () => {
    const id = '12D3KooWGzh6mmQaeqSrw4tpbRLoRoJ7jwJYN6H5F4v7QFuR1Q1k';
    for (const address of ['/ip4/127.0.0.1/tcp/4001', `/ip4/10.0.0.1/tcp/0/p2p/${id}`, '/ip6/::1/tcp/4001', `/ip6/::1/tcp/4001/p2p/${id}`]) {
      assert.ok(server.handles(address), address);
    }
    for (const address of ['/memory/a', '/ip4/127.0.0.1/udp/4001', `/p2p/${id}`, '/ip4/127.0.0.1/tcp/4001/ws', '/ip4/127.0.0.1/tcp/x']) {
      assert.ok(!server.handles(address), address);
    }
  });

  it("the libp2p key is the node's key; listen addresses carry the real port and our peer id", async () => {
    const { address } = await listening(server);
    const node = server.node!;
    assert.equal(node.peerId.type, 'Ed25519');
    assert.deepEqual(node.peerId.type === 'Ed25519' ? node.peerId.publicKey.raw : undefined, serverIdentity.publicKey);
    const match = /^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)\/p2p\/(.+)$/.exec(address);
    assert.ok(match !== null, address);
    assert.notEqual(Number(match[1]), 0);
    assert.equal(match[2], node.peerId.toString());
    assert.equal(server.peerId, node.peerId.toString(), 'the peer id is known before the node starts');
  });

  it('listens on several addresses; a /p2p/ listen address must name our own id', async () => {
    // One accept for every listen, as the main loop does: an inbound stream cannot tell which
    // listen address it came through (see Libp2pTransport's onStream).
    const { accept, next } = inbox();
    const first = await server.listen('/ip4/127.0.0.1/tcp/0', accept);
    const own = server.node!.peerId.toString();
    const second = await server.listen(`/ip4/127.0.0.1/tcp/0/p2p/${own}`, accept);
    assert.notEqual(first.addresses[0], second.addresses[0]);
    // A second client: a client reuses its libp2p connection to a peer, whatever address it dials.
    const other = new Libp2pTransport({ identity: NodeIdentity.generate() });
    try {
      for (const [dialer, address] of [
        [client, first.addresses[0]!],
        [other, second.addresses[0]!],
      ] as const) {
        const outbound = await dialer.dial(address);
        assert.equal(outbound.remoteAddress, address);
        const inbound = await next();
        assert.equal(inbound.channel?.remoteId, outbound.channel?.localId);
        const arrived = received(inbound, 3);
        outbound.write(new Uint8Array([1, 2, 3]));
        assert.deepEqual([...(await arrived)], [1, 2, 3]);
      }
    } finally {
      await other.close();
    }
    await assert.rejects(server.listen(`/ip4/127.0.0.1/tcp/0/p2p/${client.node!.peerId.toString()}`, () => {}), { code: 'ERR_ADDRESS_INVALID' });
  });

  it('a port in use is ERR_LISTEN_FAILED, and listening goes on working', async () => {
    const taken = await listening(client);
    const port = /\/tcp\/(\d+)\//.exec(taken.address)![1];
    await assert.rejects(server.listen(`/ip4/127.0.0.1/tcp/${port}`, () => {}), { code: 'ERR_LISTEN_FAILED' });
    const { address, next } = await listening(server);
    await client.dial(address);
    assert.equal((await next()).direction, 'inbound');
  });

  it('both ends of a connection carry the channel Noise proved: both peer ids and the raw remote key', async () => {
    const { address, next } = await listening(server);
    // Without /p2p/: Noise learns who answered.
    const plainAddress = address.replace(/\/p2p\/.*$/, '');
    const outbound = await client.dial(plainAddress);
    const inbound = await next();
    const serverId = server.node!.peerId.toString();
    const clientId = client.node!.peerId.toString();
    assert.deepEqual(outbound.channel, { localId: clientId, remoteId: serverId, remoteKey: serverIdentity.publicKey });
    assert.deepEqual(inbound.channel, { localId: serverId, remoteId: clientId, remoteKey: clientIdentity.publicKey });
    assert.ok(outbound.remoteAddress.endsWith(`/p2p/${serverId}`), outbound.remoteAddress);
    assert.ok(inbound.remoteAddress.startsWith('/ip4/127.0.0.1/tcp/') && inbound.remoteAddress.endsWith(`/p2p/${clientId}`), inbound.remoteAddress);
    assert.equal(outbound.localAddress, `/p2p/${clientId}`);
  });

  it('write returns false above the high-water mark, and onDrain follows once the peer has read', async () => {
    const { address, next } = await listening(server);
    const outbound = await client.dial(address);
    const inbound = await next();
    const big = randomBytes(3 * 1024 * 1024);
    const arrived = received(inbound, big.length);
    const drained = new Promise<void>((resolve) => (outbound.onDrain = resolve));
    assert.equal(outbound.write(big), false);
    await drained;
    assert.ok((await arrived).equals(big));
    assert.equal(outbound.write(new Uint8Array([1])), true);
  });

  it('a burst far past the high-water mark (400 frames of 60 KiB in one turn) arrives whole', async () => {
    // The node does not wait for onDrain: the write buffer's cap is a safety net, above bursts.
    const { address, next } = await listening(server);
    const outbound = await client.dial(address);
    const inbound = await next();
    const frames = Array.from({ length: 400 }, () => randomBytes(60 * 1024));
    const total = frames.reduce((sum, frame) => sum + frame.length, 0);
    const arrived = received(inbound, total);
    const reset = new Promise<never>((_, reject) => (outbound.onClose = (error) => reject(error ?? new Error('closed during the burst'))));
    for (const frame of frames) outbound.write(frame);
    assert.ok((await Promise.race([arrived, reset])).equals(Buffer.concat(frames)));
    assert.equal(outbound.closed, false);
  });

  it('a stream whose write buffer passes its cap is reset', async () => {
    const capped = new Libp2pTransport({ identity: NodeIdentity.generate(), maxWriteBufferBytes: 1024 * 1024 });
    try {
      const { address, next } = await listening(server);
      const outbound = await capped.dial(address);
      const inbound = await next();
      const closed = new Promise<Error | undefined>((resolve) => (outbound.onClose = resolve));
      const reset = new Promise<Error | undefined>((resolve) => (inbound.onClose = resolve));
      for (let i = 0; i < 8; i++) outbound.write(randomBytes(1024 * 1024));
      assert.ok((await closed) !== undefined, 'the writer learns why its stream ended');
      assert.equal(((await reset) as { code?: string } | undefined)?.code, 'ERR_CONNECTION_RESET');
    } finally {
      await capped.close();
    }
  });

  it('a reset reaches the other end as ERR_CONNECTION_RESET; the reset end refuses writes', async () => {
    const { address, next } = await listening(server);
    const outbound = await client.dial(address);
    const inbound = await next();
    const closed = new Promise<Error | undefined>((resolve) => (inbound.onClose = resolve));
    let outboundClosed = 0;
    outbound.onClose = () => outboundClosed++;
    outbound.close(true);
    assert.equal(outbound.write(new Uint8Array([1])), false);
    assert.equal(((await closed) as { code?: string } | undefined)?.code, 'ERR_CONNECTION_RESET');
    assert.equal(inbound.closed, true);
    assert.equal(outboundClosed, 1);
  });

  it('what was written before a gentle close arrives before the close', async () => {
    const { address, next } = await listening(server);
    const outbound = await client.dial(address);
    const inbound = await next();
    const chunks: number[] = [];
    inbound.onData = (chunk) => chunks.push(...chunk);
    const closed = new Promise<void>((resolve) => (inbound.onClose = () => resolve()));
    for (let i = 0; i < 100; i++) outbound.write(new Uint8Array([i]));
    outbound.close();
    await closed;
    assert.deepEqual(chunks, Array.from({ length: 100 }, (_, i) => i));
  });

  it('mydht streams per libp2p connection are limited, each way', async () => {
    const limited = new Libp2pTransport({ identity: NodeIdentity.generate(), maxStreamsPerConnection: 2 });
    try {
      const { address } = await listening(server);
      await limited.dial(address);
      await limited.dial(address);
      await assert.rejects(limited.dial(address), { code: 'ERR_DIAL_FAILED' });
      assert.equal(limited.node!.getConnections().length, 1, 'all over one libp2p connection');
    } finally {
      await limited.close();
    }
  });

  it('a dial that gets no answer fails with ERR_DIAL_TIMEOUT after its timeout', async () => {
    // A TCP server that accepts and never speaks: libp2p's negotiation waits forever.
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      await assert.rejects(client.dial(`/ip4/127.0.0.1/tcp/${port}`, { timeout: 300 }), { code: 'ERR_DIAL_TIMEOUT' });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('an abort during the dial fails it with ERR_ABORTED', async () => {
    const { address } = await listening(server);
    const controller = new AbortController();
    const dialing = client.dial(address, { signal: controller.signal });
    controller.abort();
    await assert.rejects(dialing, { code: 'ERR_ABORTED' });
  });

  it('with no listener open, an inbound stream is refused, even over a libp2p connection this node dialed', async () => {
    const { address } = await listening(client);
    await server.dial(address);
    // The client opens a mydht stream back over the server's connection; the server listens nowhere.
    const stream = await client.node!.dialProtocol(server.node!.peerId, MYDHT_PROTOCOL);
    assert.equal(client.node!.getConnections(server.node!.peerId).length, 1, 'the existing connection was used');
    if (stream.status === 'open') await new Promise((resolve) => stream.addEventListener('close', resolve, { once: true }));
    assert.equal(stream.status, 'reset');
  });
});

describe('libp2p interop: an unmodified js-libp2p node', function () {
  this.timeout(30_000);
  const identity = NodeIdentity.generate();
  let transport: Libp2pTransport;
  let plain: Awaited<ReturnType<typeof plainLibp2p>>;
  let ours: Awaited<ReturnType<typeof listening>>;

  before(async () => {
    transport = new Libp2pTransport({ identity });
    ours = await listening(transport);
    plain = await plainLibp2p();
  });

  after(async () => {
    await plain?.stop();
    await transport?.close();
  });

  it('dials our node, pings it, and learns /mydht/1.0.0 from identify', async () => {
    const link = await plain.dial(multiaddr(ours.address));
    assert.equal(link.remotePeer.toString(), transport.node!.peerId.toString());
    assert.equal(link.encryption, '/noise');
    assert.equal(link.multiplexer, '/yamux/1.0.0');
    const rtt = await plain.services.ping.ping(multiaddr(ours.address));
    assert.ok(Number.isFinite(rtt) && rtt >= 0, `rtt ${rtt}`);
    const result = await plain.services.identify.identify(link);
    assert.ok(result.protocols.includes(MYDHT_PROTOCOL), `protocols: ${result.protocols.join(', ')}`);
    assert.ok(result.protocols.includes('/ipfs/ping/1.0.0'));
    assert.equal(result.agentVersion, 'mydht/1.0.0');
  });

  it('opens a /mydht/1.0.0 stream to us: our node accepts it with the channel Noise proved', async () => {
    const stream = await plain.dialProtocol(multiaddr(ours.address), MYDHT_PROTOCOL);
    const inbound = await ours.next();
    assert.equal(inbound.channel?.remoteId, plain.peerId.toString());
    assert.deepEqual(inbound.channel?.remoteKey, plain.peerId.type === 'Ed25519' ? plain.peerId.publicKey.raw : undefined);
    const arrived = received(inbound, 5);
    stream.send(new Uint8Array([5, 4, 3, 2, 1]));
    assert.deepEqual([...(await arrived)], [5, 4, 3, 2, 1]);
    await stream.close();
  });

  it('our node dials it back: ping by its address; a mydht dial fails, it lacks the protocol', async () => {
    const address = plain.getMultiaddrs()[0]!;
    const rtt = await transport.node!.services.ping.ping(address);
    assert.ok(Number.isFinite(rtt) && rtt >= 0, `rtt ${rtt}`);
    assert.ok(transport.node!.getConnections(plain.peerId).length > 0);
    await assert.rejects(transport.dial(address.toString()), { code: 'ERR_DIAL_FAILED' });
  });
});
