import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createNode } from '../../src/assemble.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import { until } from '../helpers/until.ts';
import { immutableRecord } from '../../src/dht/records.ts';

const TOUCH = serviceModule(import.meta.url, '../fixtures/touch-service.ts');
const NODE_PROCESS = fileURLToPath(new URL('../fixtures/node-process.ts', import.meta.url));
const LIVENESS = { livenessIntervalMs: 200, livenessTimeoutMs: 1_000 };

function startProcess(): Promise<{ child: ChildProcess; id: string; address: string }> {
  const child = spawn(process.execPath, [NODE_PROCESS, String(LIVENESS.livenessIntervalMs), String(LIVENESS.livenessTimeoutMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ child, ...(JSON.parse(line) as { id: string; address: string }) }));
    child.once('exit', (code) => reject(new Error(`node process exited with ${code}`)));
  });
}

async function offline(node: MyDhtNode, peer: string): Promise<boolean> {
  return (await node.knownPeers()).some((known) => known.id === peer && known.offline && !known.connected);
}

describe('several nodes over TCP on loopback', function () {
  this.timeout(30_000);
  const nodes: MyDhtNode[] = [];
  const children: ChildProcess[] = [];

  before(async () => {
    for (const name of ['a', 'b']) {
      const node = await createNode({ global: TOUCH, globalConfig: { name }, listen: ['/ip4/127.0.0.1/tcp/0'], ...LIVENESS });
      await node.start();
      nodes.push(node);
    }
    await nodes[0]!.dial(nodes[1]!.addresses[0]!);
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(nodes.map((node) => node.stop()));
  });

  for (const [how, signal] of [
    ['killed (kill -9)', 'SIGKILL'],
    ['frozen (SIGSTOP: sockets stay open, nothing answers)', 'SIGSTOP'],
  ] as const) {
    it(`a node ${how} is marked offline within the liveness timeout, and the others keep working`, async () => {
      const victim = await startProcess();
      children.push(victim.child);
      for (const node of nodes) await node.dial(victim.address);
      await until(async () => (await Promise.all(nodes.map((node) => node.peers()))).every((peers) => peers.some((p) => p.id === victim.id)));
      const killedAt = performance.now();
      victim.child.kill(signal);
      await until(async () => (await Promise.all(nodes.map((node) => offline(node, victim.id)))).every(Boolean), 5_000);
      const elapsed = performance.now() - killedAt;
      assert.ok(
        elapsed <= LIVENESS.livenessTimeoutMs + 2 * LIVENESS.livenessIntervalMs + 500,
        `marked offline after ${Math.round(elapsed)} ms; the liveness timeout is ${LIVENESS.livenessTimeoutMs} ms`,
      );
      console.log(`      ${how}: offline on both nodes after ${Math.round(elapsed)} ms`);
      const { complete } = await nodes[0]!.query({ peers: [nodes[1]!.id], command: { type: 'touch' }, expect: 1, timeoutMs: 5_000 });
      assert.equal(complete, true);
      if (signal === 'SIGSTOP') victim.child.kill('SIGKILL');
    });
  }
});

describe('idle sessions past the pool target', function () {
  this.timeout(30_000);

  it('are closed gently; the active one stays; a later query dials the idle peer again', async () => {
    const hub = await createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], livenessIntervalMs: 100, livenessTimeoutMs: 5_000, targetPeers: 1, idleTimeoutMs: 400 });
    const others = await Promise.all(['b', 'c', 'd'].map(() => createNode({ listen: ['/ip4/127.0.0.1/tcp/0'], idleTimeoutMs: 0 })));
    await hub.start();
    for (const node of others) await node.start();
    try {
      for (const node of others) await hub.dial(node.addresses[0]!);
      const [active] = others as [MyDhtNode, ...MyDhtNode[]];
      // Keep one session busy (a query every 50 ms: the workload, not a wait) while the others
      // only carry liveness pings.
      const keepBusy = setInterval(() => void hub.query({ peers: [active.id], command: { type: 'stats' }, expect: 1, timeoutMs: 2_000 }), 50);
      try {
        await until(async () => (await hub.peers()).length === 1, 10_000);
      } finally {
        clearInterval(keepBusy);
      }
      assert.deepEqual((await hub.peers()).map((peer) => peer.id), [active.id], 'the active session is the one kept');
      // Closed gently and for idleness: not counted as bad input, not marked offline for good.
      assert.equal((await hub.connectionStatus()).dropped.ERR_DISCONNECTED, undefined);
      // A DHT operation dials them again: a put stores on all four nodes.
      const { stored } = await hub.put(immutableRecord(new TextEncoder().encode('after the idle close')));
      assert.equal(stored, 4, 'the idle-closed peers are dialed again when a lookup needs them');
      assert.equal((await hub.peers()).length, 3);
    } finally {
      await Promise.all([hub, ...others].map((node) => node.stop()));
    }
  });
});
