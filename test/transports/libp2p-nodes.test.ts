import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createNode } from '../../src/assemble.ts';
import { immutableRecord } from '../../src/dht/records.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { Wire } from '../../src/node/wire.ts';
import type { Transport } from '../../src/net/transport.ts';
import { FrameDecoder } from '../../src/runtime/frames.ts';
import { Libp2pTransport } from '../../transports/libp2p/index.ts';
import { TcpTransport } from '../../transports/tcp.ts';
import { RecordingTransport } from '../helpers/recording-transport.ts';
import { until } from '../helpers/until.ts';

// Whole mydht nodes over the libp2p transport; the transport itself and interop with a plain
// js-libp2p node are in libp2p.test.ts.

/** A mydht node over libp2p only; `transport` defaults to one under the node's own identity. */
async function libp2pNode(identity: NodeIdentity, options: { transport?: Transport; bootstrap?: string[] } = {}): Promise<MyDhtNode> {
  const node = await createNode({
    identity,
    transports: [options.transport ?? new Libp2pTransport({ identity })],
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: options.bootstrap ?? [],
  });
  await node.start();
  return node;
}

describe('two mydht nodes over libp2p only', function () {
  this.timeout(30_000);
  const identityA = NodeIdentity.generate();
  const identityB = NodeIdentity.generate();
  let recorder: RecordingTransport;
  let a: MyDhtNode;
  let b: MyDhtNode;

  before(async () => {
    recorder = new RecordingTransport(new Libp2pTransport({ identity: identityA }));
    a = await libp2pNode(identityA, { transport: recorder });
    b = await libp2pNode(identityB, { bootstrap: [a.addresses[0]!] });
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('B bootstraps to A by its /p2p/ address: one session each way', async () => {
    assert.match(a.addresses[0]!, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW/);
    await until(async () => (await a.peers()).length === 1 && (await b.peers()).length === 1);
    assert.deepEqual((await a.peers()).map((peer) => peer.id), [b.id]);
    assert.deepEqual((await b.peers()).map((peer) => peer.id), [a.id]);
  });

  it('a record put on B is got from A', async () => {
    const record = immutableRecord(new Uint8Array(randomBytes(200)));
    const { stored } = await b.put(record);
    assert.ok(stored >= 1, `stored on ${stored} nodes`);
    const got = await a.get(record.key);
    assert.ok(got !== null && Buffer.from(got.value).equals(Buffer.from(record.value)));
  });

  it('frames are not sealed twice: past the handshake they leave the node in the clear, inside Noise', async () => {
    const [recording] = recorder.recordings;
    assert.ok(recording !== undefined && recording.connection.channel !== undefined, 'the connection carries its channel');
    const decoder = new FrameDecoder(1 << 20);
    const wire = new Wire();
    const types = recording.sent.flatMap((chunk) => decoder.push(chunk)).map((body) => wire.decode(body).type);
    // Handshake frames first, then session messages, every one readable without a session key:
    // the node did not seal them, and libp2p's Noise is what encrypts them on the way.
    assert.ok(types.length > 2, types.join(', '));
    assert.ok(
      types.slice(2).some((type) => type !== 'pong' && type !== 'pong-back' && type !== 'ping'),
      `session messages: ${types.join(', ')}`,
    );
    const [statusA, statusB] = await Promise.all([a.connectionStatus(), b.connectionStatus()]);
    assert.equal(statusA.handshakes.ok, 1);
    assert.equal(statusB.handshakes.ok, 1);
    assert.deepEqual(statusA.handshakes.rejected, {});
    assert.deepEqual(statusB.handshakes.rejected, {});
  });
});

describe('a libp2p identity that is not the mydht identity', function () {
  this.timeout(30_000);
  let honest: MyDhtNode;
  let mismatched: MyDhtNode;

  before(async () => {
    honest = await libp2pNode(NodeIdentity.generate());
    // Noise proves key X, the mydht records say key Y.
    mismatched = await libp2pNode(NodeIdentity.generate(), { transport: new Libp2pTransport({ identity: NodeIdentity.generate() }) });
  });

  after(async () => {
    await Promise.all([honest?.stop(), mismatched?.stop()]);
  });

  it('is refused with ERR_AUTH_CHANNEL whichever side dials, and counted', async () => {
    // The honest node dials: the answer's record is not the key Noise proved.
    await assert.rejects(honest.dial(mismatched.addresses[0]!), { code: 'ERR_AUTH_CHANNEL' });
    // The mismatched node dials: its PING's record is not the key Noise proved.
    await assert.rejects(mismatched.dial(honest.addresses[0]!));
    const status = await honest.connectionStatus();
    assert.equal(status.handshakes.rejected.ERR_AUTH_CHANNEL, 2);
    assert.equal(status.handshakes.ok, 0);
    assert.deepEqual(await honest.peers(), []);
    assert.deepEqual(await mismatched.peers(), []);
  });
});

describe('a node with TCP and libp2p, picked by address alone', function () {
  this.timeout(30_000);
  const identity = NodeIdentity.generate();
  const libp2p = new Libp2pTransport({ identity });
  let both: MyDhtNode;
  let tcpOnly: MyDhtNode;
  let libp2pOnly: MyDhtNode;

  before(async () => {
    // TCP first: it takes the plain address, and refuses the /p2p/ one, which libp2p takes.
    both = await createNode({
      identity,
      transports: [new TcpTransport(), libp2p],
      listen: ['/ip4/127.0.0.1/tcp/0', `/ip4/127.0.0.1/tcp/0/p2p/${libp2p.peerId}`],
    });
    await both.start();
    tcpOnly = await createNode({ transports: [new TcpTransport()] });
    await tcpOnly.start();
    libp2pOnly = await libp2pNode(NodeIdentity.generate());
  });

  after(async () => {
    await Promise.all([both?.stop(), tcpOnly?.stop(), libp2pOnly?.stop()]);
  });

  it('a TCP peer reaches it at the plain address, a libp2p peer at the /p2p/ one', async () => {
    const [plainAddress, p2pAddress] = both.addresses;
    assert.match(plainAddress!, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/);
    assert.ok(p2pAddress!.endsWith(`/p2p/${libp2p.peerId}`), p2pAddress);
    assert.equal(await tcpOnly.dial(plainAddress!), both.id);
    assert.equal(await libp2pOnly.dial(p2pAddress!), both.id);
    await until(async () => (await both.peers()).length === 2);
    const byPeer = new Map((await both.peers()).map((peer) => [peer.id, peer.address]));
    assert.ok(!byPeer.get(tcpOnly.id)!.includes('/p2p/'), 'the TCP session runs over plain TCP');
    assert.ok(byPeer.get(libp2pOnly.id)!.includes('/p2p/'), 'the libp2p session runs over libp2p');
  });
});
