import assert from 'node:assert/strict';
import { createNode, type NodeConfig } from '../../src/assemble.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import { turns, until } from '../helpers/until.ts';

const TOUCH = serviceModule(import.meta.url, '../fixtures/touch-service.ts');

describe('peer store, api and pinning', function () {
  this.timeout(20_000);
  let network: MemoryNetwork;
  const nodes: MyDhtNode[] = [];

  const make = async (name: string, extra: Partial<NodeConfig> = {}): Promise<MyDhtNode> => {
    const node = await createNode({
      global: TOUCH,
      globalConfig: { name },
      transports: [network.transport()],
      listen: [`/memory/${name}`],
      ...extra,
    });
    await node.start();
    nodes.push(node);
    return node;
  };
  const connected = async (node: MyDhtNode, peer: MyDhtNode): Promise<boolean> => (await node.peers()).some((p) => p.id === peer.id);

  beforeEach(() => {
    network = new MemoryNetwork({ seed: 9 });
  });

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((node) => node.stop()));
  });

  it('a banned peer is disconnected, and again when it comes back, until the ban expires', async () => {
    const a = await make('a');
    const b = await make('b');
    await b.dial(a.addresses[0]!);
    await until(() => connected(a, b));
    await a.ban(b.id, 400);
    await until(async () => !(await connected(a, b)));
    await b.dial(a.addresses[0]!);
    await until(async () => (await a.connectionStatus()).handshakes.ok === 2);
    await until(async () => !(await connected(a, b)));
    // Once the ban has expired, a dial stays connected.
    await until(async () => {
      await b.dial(a.addresses[0]!).catch(() => undefined);
      await turns(5);
      return connected(a, b);
    });
  });

  it('a peer met again after its idle session closed resumes the handshake, on both sides', async () => {
    const idle = { livenessIntervalMs: 100, idleTimeoutMs: 200, targetPeers: 0 };
    const a = await make('a', idle);
    const b = await make('b', idle);
    await b.dial(a.addresses[0]!);
    await until(() => connected(a, b));
    await until(async () => !(await connected(a, b)) && !(await connected(b, a)));
    // A lookup from B reaches A through its routing table, by id: B offers the last session's ticket.
    await b.closestPeers(new Uint8Array(Buffer.from(a.id, 'hex')));
    await until(async () => (await a.connectionStatus()).handshakes.resumed === 1);
    const [atA, atB] = await Promise.all([a.connectionStatus(), b.connectionStatus()]);
    assert.deepEqual([atA.handshakes.ok, atB.handshakes.ok, atB.handshakes.resumed], [2, 2, 1]);
  });

  it('the pool dials known peers while below its target', async () => {
    const liveness = { livenessIntervalMs: 100, livenessTimeoutMs: 5_000 };
    const a = await make('a', liveness);
    const b = await make('b', liveness);
    const c = await make('c', liveness);
    await a.dial(b.addresses[0]!);
    await c.dial(b.addresses[0]!);
    await until(async () => (await b.peers()).length === 2);
    assert.equal((await a.findPeer(c.id))?.idHex, c.id);
    await until(() => connected(a, c));
  });

  it('a query is cancelled by its AbortSignal and returns what it has', async () => {
    const a = await make('a');
    const b = await make('b');
    await a.dial(b.addresses[0]!);
    await until(() => connected(b, a));
    const controller = new AbortController();
    const pending = a.query({ peers: [b.id], command: { type: 'touch' }, expect: 5, timeoutMs: 60_000, signal: controller.signal });
    await until(async () => (await a.system.get('api').call({ type: 'pending' } as never)) === 1);
    controller.abort();
    const { complete, results } = await pending;
    assert.equal(complete, false);
    assert.ok(results.length <= 1);
  });

  it('a pinned peer answering with another key is refused and counted', async () => {
    const b = await make('b');
    const impostorKey = NodeIdentity.generate().publicKey;
    const d = await make('d', { pinned: { [b.id]: impostorKey } });
    await assert.rejects(d.dial(b.addresses[0]!, b.id), { code: 'ERR_AUTH_PINNED' });
    assert.equal((await d.connectionStatus()).handshakes.rejected.ERR_AUTH_PINNED, 1);
    const e = await make('e', { pinned: { [b.id]: b.identity.publicKey } });
    assert.equal(await e.dial(b.addresses[0]!, b.id), b.id);
  });
});
