import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { createNode } from '../../src/assemble.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { FrameDecoder } from '../../src/runtime/frames.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import { TcpTransport } from '../../transports/tcp.ts';
import { RecordingTransport, type Recording } from '../helpers/recording-transport.ts';
import { until } from '../helpers/until.ts';

const TOUCH = serviceModule(import.meta.url, '../fixtures/touch-service.ts');
/** Recorded handshakes replayed over live TCP (the unit test also replays them after expiry, on a fake clock). */
const RECORDED = 1000;

async function tcpNode(name: string, transport = new TcpTransport() as TcpTransport | RecordingTransport): Promise<MyDhtNode> {
  const node = await createNode({ global: TOUCH, globalConfig: { name }, transports: [transport], listen: ['/ip4/127.0.0.1/tcp/0'] });
  await node.start();
  return node;
}

/** A raw TCP client that writes bytes and resolves when the node closes the connection. */
function raw(address: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const [, , host, , port] = address.split('/');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: host!, port: Number(port) }, () => {
      const closed = new Promise<void>((done) => socket.once('close', () => done()));
      socket.on('error', () => {});
      socket.on('data', () => {});
      resolve({ socket, closed });
    });
    socket.once('error', reject);
  });
}

/** Split a recording's chunks into frames, prefix included. */
function framesOf(chunks: Uint8Array[]): Uint8Array[] {
  const decoder = new FrameDecoder(1 << 20);
  const frames: Uint8Array[] = [];
  for (const chunk of chunks) {
    for (const body of decoder.push(chunk)) {
      const frame = new Uint8Array(4 + body.length);
      new DataView(frame.buffer).setUint32(0, body.length);
      frame.set(body, 4);
      frames.push(frame);
    }
  }
  return frames;
}

async function sessionsOk(node: MyDhtNode): Promise<number> {
  return (await node.connectionStatus()).handshakes.ok;
}

async function stillServes(from: MyDhtNode, to: MyDhtNode): Promise<void> {
  await from.dial(to.addresses[0]!);
  const { complete } = await from.query({ peers: [to.id], command: { type: 'touch' }, expect: 1, timeoutMs: 5_000 });
  assert.equal(complete, true, 'the node keeps serving honest peers');
}

describe('live nodes under attack (TCP)', function () {
  this.timeout(60_000);
  let recorder: RecordingTransport;
  let a: MyDhtNode;
  let b: MyDhtNode;
  let c: MyDhtNode;

  before(async () => {
    recorder = new RecordingTransport(new TcpTransport());
    a = await tcpNode('a', recorder);
    b = await tcpNode('b');
    c = await tcpNode('c');
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  });

  it(`replay: ${RECORDED} recorded handshakes, every message replayed to the same and another node: 0 accepted`, async () => {
    for (let i = 0; i < RECORDED; i++) await a.dial(b.addresses[0]!);
    const recorded: Recording[] = recorder.recordings.filter((r) => r.connection.direction === 'outbound').slice(0, RECORDED);
    await until(async () => (await sessionsOk(b)) >= RECORDED);
    const before = { a: await sessionsOk(a), b: await sessionsOk(b), c: await sessionsOk(c) };
    let replays = 0;
    for (const recording of recorded) {
      const [ping, pongBack] = framesOf(recording.sent);
      const [pong] = framesOf(recording.received);
      // A's PING and final PONG to B (who made them) and to C; B's PONG back to A.
      for (const [target, frames] of [
        [b, [ping!, pongBack!]],
        [c, [ping!, pongBack!]],
        [a, [pong!]],
      ] as const) {
        const { socket, closed } = await raw(target.addresses[0]!);
        for (const frame of frames) socket.write(frame);
        await closed;
        replays++;
      }
    }
    assert.equal(await sessionsOk(a), before.a, 'a session opened from a replay');
    assert.equal(await sessionsOk(b), before.b, 'a session opened from a replay');
    assert.equal(await sessionsOk(c), before.c, 'a session opened from a replay');
    const rejected = (await Promise.all([a, b, c].map((node) => node.connectionStatus()))).map((s) => s.handshakes.rejected);
    const replayRefusals = rejected.reduce((sum, r) => sum + (r.ERR_AUTH_REPLAY ?? 0), 0);
    assert.equal(replayRefusals, replays, 'every replay is refused and counted as ERR_AUTH_REPLAY');
    console.log(`      ${replays} replays over TCP, refused: ${JSON.stringify(rejected)}`);
    await stillServes(c, b);
  });

  it('tampered frame: a flipped bit in a sealed frame closes the session', async () => {
    const peer = await a.dial(c.addresses[0]!);
    await until(async () => (await c.peers()).some((p) => p.id === a.id));
    recorder.tamper = (bytes) => {
      recorder.tamper = undefined;
      const flipped = Uint8Array.from(bytes);
      flipped[flipped.length - 1]! ^= 0x01;
      return flipped;
    };
    const { complete } = await a.query({ peers: [peer], command: { type: 'touch' }, expect: 1, timeoutMs: 500 });
    assert.equal(complete, false, 'the tampered command was not answered');
    await until(async () => ((await c.connectionStatus()).dropped.ERR_AUTH_FRAME ?? 0) === 1);
    await stillServes(a, c);
  });

  it('a length prefix of 2^32-1 and of max+1 closes the connection before any allocation', async () => {
    for (const length of [0xffffffff, 1024 * 1024 + 1]) {
      const { socket, closed } = await raw(b.addresses[0]!);
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(length);
      socket.write(prefix);
      await closed;
    }
    assert.equal((await b.connectionStatus()).dropped.ERR_FRAME_TOO_LARGE, 2);
    await stillServes(c, b);
  });

  it('garbage before and after the handshake: counted, and the node keeps serving', async () => {
    const dropped = async (): Promise<number> => Object.values((await b.connectionStatus()).dropped).reduce((x, y) => x + y, 0);
    const refused = async (): Promise<number> => Object.values((await b.connectionStatus()).handshakes.rejected).reduce((x, y) => x + y, 0);
    const start = (await dropped()) + (await refused());
    for (let i = 0; i < 20; i++) {
      const { socket, closed } = await raw(b.addresses[0]!);
      const body = randomBytes(64 + i);
      const frame = Buffer.alloc(4);
      frame.writeUInt32BE(body.length);
      socket.write(Buffer.concat([frame, body]));
      await closed;
    }
    // After the handshake: a whole frame of garbage where a sealed one belongs.
    await a.dial(b.addresses[0]!);
    await until(async () => (await b.peers()).some((p) => p.id === a.id));
    recorder.tamper = (bytes) => {
      recorder.tamper = undefined;
      return Buffer.concat([bytes.subarray(0, 4), randomBytes(bytes.length - 4)]);
    };
    await a.query({ peers: [b.id], command: { type: 'touch' }, expect: 1, timeoutMs: 500 });
    await until(async () => (await dropped()) + (await refused()) >= start + 21);
    await stillServes(c, b);
    await stillServes(a, b);
  });
});
