import assert from 'node:assert/strict';
import { createNode } from '../../src/assemble.ts';
import { immutableRecord } from '../../src/dht/records.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import type { Transport } from '../../src/net/transport.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';
import { Libp2pTransport } from '../../transports/libp2p/index.ts';
import { TcpTransport } from '../../transports/tcp.ts';
import { UdpTransport } from '../../transports/udp/index.ts';

type Kind = 'tcp' | 'udp' | 'libp2p';

/** A node on two transports at once, listening on each: its record lists an address per transport. */
async function nodeOn(kinds: readonly Kind[], bootstrap: string[]): Promise<MyDhtNode> {
  const identity = NodeIdentity.generate();
  const transports: Transport[] = [];
  const listen: string[] = [];
  // TCP before libp2p: a plain TCP address is TCP's, a /p2p/ one libp2p's.
  for (const kind of (['tcp', 'udp', 'libp2p'] as const).filter((k) => kinds.includes(k))) {
    if (kind === 'tcp') {
      transports.push(new TcpTransport());
      listen.push('/ip4/127.0.0.1/tcp/0');
    } else if (kind === 'udp') {
      transports.push(new UdpTransport());
      listen.push('/ip4/127.0.0.1/udp/0');
    } else {
      const libp2p = new Libp2pTransport({ identity });
      transports.push(libp2p);
      listen.push(`/ip4/127.0.0.1/tcp/0/p2p/${libp2p.peerId}`);
    }
  }
  const node = await createNode({ identity, transports, listen, bootstrap });
  await node.start();
  return node;
}

const transportOf = (address: string): Kind => (address.includes('/p2p/') ? 'libp2p' : address.includes('/udp/') ? 'udp' : 'tcp');

describe('a mixed network: nodes on several transports reach each other by any one they share', function () {
  this.timeout(120_000);
  // Every two of these kinds share one transport, and no transport is shared by all.
  const KINDS: Kind[][] = [
    ['tcp', 'udp'],
    ['udp', 'libp2p'],
    ['tcp', 'libp2p'],
  ];
  const nodes: MyDhtNode[] = [];

  before(async () => {
    for (let i = 0; i < 9; i++) {
      nodes.push(await nodeOn(KINDS[i % 3]!, i === 0 ? [] : [...nodes[0]!.addresses]));
    }
    for (const node of nodes) await node.lookup(node.identity.id, { mode: 'iterative' });
    for (const node of nodes) await node.refresh();
  });

  after(async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  });

  it('each record lists one address per transport, and the sessions run over all three transports', async () => {
    for (const [i, node] of nodes.entries()) assert.deepEqual(node.addresses.map(transportOf), KINDS[i % 3]);
    const used = new Set<Kind>();
    for (const node of nodes) for (const peer of await node.peers()) used.add(transportOf(peer.address));
    assert.deepEqual([...used].sort(), ['libp2p', 'tcp', 'udp']);
  });

  it('every record put from any node is got from every other kind of node: 100%', async () => {
    const random = new SeededRandom(21);
    let found = 0;
    const records = 60;
    for (let i = 0; i < records; i++) {
      const record = immutableRecord(new TextEncoder().encode(`mixed record ${i}`));
      const from = random.int(0, nodes.length - 1);
      await nodes[from]!.put(record);
      // A node of each other kind reads it back.
      const reader = nodes[(from + 1 + (i % 2)) % nodes.length]!;
      const got = await reader.get(record.key);
      if (got !== null && Buffer.from(got.value).equals(Buffer.from(record.value))) found++;
    }
    assert.equal(found, records);
  });

  it('an address none of its transports dials is refused at once with a clear error, not a hang', async () => {
    const udpOnly = await nodeOn(['udp'], []);
    const tcpOnly = await nodeOn(['tcp'], []);
    try {
      await assert.rejects(tcpOnly.dial(udpOnly.addresses[0]!), { code: 'ERR_CONFIG', message: /no transport handles/ });
    } finally {
      await Promise.all([udpOnly.stop(), tcpOnly.stop()]);
    }
  });
});
