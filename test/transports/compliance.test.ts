import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { Connection, Transport } from '../../src/net/transport.ts';
import { Libp2pTransport } from '../../transports/libp2p/index.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import { TcpTransport } from '../../transports/tcp.ts';
import { UdpTransport } from '../../transports/udp/index.ts';
import { received } from '../helpers/received.ts';

interface Subject {
  name: string;
  make(): { server: Transport; client: Transport; listenAddress: string; nowhere: string };
}

const SUBJECTS: Subject[] = [
  {
    name: 'tcp',
    make: () => ({ server: new TcpTransport(), client: new TcpTransport(), listenAddress: '/ip4/127.0.0.1/tcp/0', nowhere: '/ip4/127.0.0.1/tcp/1' }),
  },
  {
    name: 'udp',
    make: () => ({ server: new UdpTransport(), client: new UdpTransport(), listenAddress: '/ip4/127.0.0.1/udp/0', nowhere: '/ip4/127.0.0.1/udp/1' }),
  },
  {
    name: 'udp with 10% loss',
    make: () => ({
      server: new UdpTransport({ lossRate: 0.1, seed: 11 }),
      client: new UdpTransport({ lossRate: 0.1, seed: 12 }),
      listenAddress: '/ip4/127.0.0.1/udp/0',
      nowhere: '/ip4/127.0.0.1/udp/1',
    }),
  },
  {
    name: 'memory',
    make: () => {
      const network = new MemoryNetwork({ seed: 7, latencyMs: { min: 0, max: 2 } });
      return { server: network.transport(), client: network.transport(), listenAddress: '/memory/server', nowhere: '/memory/nobody' };
    },
  },
  {
    name: 'libp2p',
    make: () => ({
      server: new Libp2pTransport({ identity: NodeIdentity.generate() }),
      client: new Libp2pTransport({ identity: NodeIdentity.generate() }),
      listenAddress: '/ip4/127.0.0.1/tcp/0',
      // Port 1 on loopback: nothing listens, so the libp2p dial itself fails.
      nowhere: '/ip4/127.0.0.1/tcp/1',
    }),
  },
];


for (const subject of SUBJECTS) {
  describe(`transport compliance: ${subject.name}`, function () {
    this.timeout(20_000);
    let server: Transport;
    let client: Transport;
    let listenAddress: string;
    let nowhere: string;
    let accepted: Promise<Connection>;
    let address: string;

    beforeEach(async () => {
      ({ server, client, listenAddress, nowhere } = subject.make());
      let accept!: (connection: Connection) => void;
      accepted = new Promise((resolve) => (accept = resolve));
      const listener = await server.listen(listenAddress, accept);
      address = listener.addresses[0]!;
    });

    afterEach(async () => {
      await client.close();
      await server.close();
    });

    it('dials a listener: both ends see a two-way connection with addresses', async () => {
      const outbound = await client.dial(address);
      const inbound = await accepted;
      assert.equal(outbound.direction, 'outbound');
      assert.equal(inbound.direction, 'inbound');
      assert.equal(server.duplex, true);
      assert.ok(server.handles(address));
      assert.ok(client.handles(outbound.remoteAddress));
      assert.ok(outbound.localAddress.length > 0 && inbound.remoteAddress.length > 0);
    });

    it('carries bytes in order, both ways, across many writes', async () => {
      const outbound = await client.dial(address);
      const inbound = await accepted;
      const writes = Array.from({ length: 500 }, (_, i) => randomBytes(1 + ((i * 37) % 300)));
      const total = writes.reduce((sum, write) => sum + write.length, 0);
      const atServer = received(inbound, total);
      const atClient = received(outbound, total);
      for (const write of writes) outbound.write(write);
      for (const write of writes) inbound.write(write);
      assert.deepEqual(await atServer, Buffer.concat(writes));
      assert.deepEqual(await atClient, Buffer.concat(writes));
    });

    it('carries a 2 MiB write intact', async () => {
      const outbound = await client.dial(address);
      const inbound = await accepted;
      const big = randomBytes(2 * 1024 * 1024);
      const arrived = received(inbound, big.length);
      outbound.write(big);
      assert.ok((await arrived).equals(big));
    });

    it('a close on one side reaches the other, and later writes are refused', async () => {
      const outbound = await client.dial(address);
      const inbound = await accepted;
      const closed = new Promise<void>((resolve) => (inbound.onClose = () => resolve()));
      outbound.close();
      await closed;
      assert.equal(inbound.closed, true);
      assert.equal(inbound.write(new Uint8Array([1])), false);
    });

    it('dialing where nothing listens fails with ERR_DIAL_FAILED; an aborted dial with ERR_ABORTED', async () => {
      await assert.rejects(client.dial(nowhere), { code: 'ERR_DIAL_FAILED' });
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(client.dial(address, { signal: controller.signal }), { code: 'ERR_ABORTED' });
    });

    it('closing the transport closes its connections', async () => {
      const outbound = await client.dial(address);
      const inbound = await accepted;
      const closed = new Promise<void>((resolve) => (inbound.onClose = () => resolve()));
      await client.close();
      await closed;
      assert.equal(outbound.closed, true);
    });
  });
}

describe('memory transport faults', () => {
  it('a partition swallows writes and refuses dials; heal restores both', async () => {
    const network = new MemoryNetwork({ seed: 3 });
    const a = network.transport();
    const b = network.transport();
    let inbound!: Connection;
    await b.listen('/memory/b', (connection) => (inbound = connection));
    await a.listen('/memory/a', () => {});
    const outbound = await a.dial('/memory/b');
    await new Promise<void>((resolve) => setImmediate(resolve));
    const seen: number[] = [];
    inbound.onData = (chunk) => seen.push(...chunk);
    network.partition(['a'], ['b']);
    outbound.write(new Uint8Array([1]));
    await assert.rejects(a.dial('/memory/b'), { code: 'ERR_DIAL_FAILED' });
    network.heal();
    const more = new Promise<void>((resolve) => (inbound.onData = (chunk) => (seen.push(...chunk), resolve())));
    outbound.write(new Uint8Array([2]));
    await more;
    assert.deepEqual(seen, [2], 'what was written across the partition never arrives');
    await a.close();
    await b.close();
  });

  it('the same seed gives the same resets', async () => {
    const pattern = async (seed: number): Promise<number[]> => {
      const network = new MemoryNetwork({ seed, resetRate: 0.2 });
      const a = network.transport();
      const b = network.transport();
      await b.listen('/memory/b', () => {});
      const resets: number[] = [];
      for (let i = 0; i < 50; i++) {
        const connection = await a.dial('/memory/b');
        if (!connection.write(new Uint8Array([i]))) resets.push(i);
      }
      await a.close();
      await b.close();
      return resets;
    };
    const first = await pattern(42);
    assert.deepEqual(await pattern(42), first);
    assert.ok(first.length > 0 && first.length < 50);
  });
});
