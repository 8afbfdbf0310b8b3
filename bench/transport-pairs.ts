/**
 * Two ends of each transport in one process, connected as a node connects them, and the two
 * loads the transports suite puts on a connection: a framed request echoed back, and a one-way
 * bulk stream that respects `write()`'s backpressure.
 */
import { randomBytes } from 'node:crypto';
import type { Connection, Transport, TransportName } from '../src/net/transport.ts';
import { NodeIdentity } from '../src/node/identity.ts';
import { Libp2pTransport } from '../transports/libp2p/index.ts';
import { MemoryNetwork } from '../transports/memory.ts';
import { TcpTransport } from '../transports/tcp.ts';
import { UdpTransport } from '../transports/udp/index.ts';
import { FrameSplitter, joinFrames } from './baselines/length-frames.ts';

/** A listening transport and a dialing one, and the connections opened between them. */
export interface TransportPair {
  /** Dial the listener: both ends of a new connection, ready for data. */
  connect(): Promise<{ dialer: Connection; listener: Connection }>;
  close(): Promise<void>;
}

/** Each transport's two ends and where the listener listens (port 0: any free one). */
function endsOf(name: TransportName): { dialing: Transport; listening: Transport; address: string } {
  switch (name) {
    case 'tcp':
      return { dialing: new TcpTransport(), listening: new TcpTransport(), address: '/ip4/127.0.0.1/tcp/0' };
    case 'udp':
      return { dialing: new UdpTransport(), listening: new UdpTransport(), address: '/ip4/127.0.0.1/udp/0' };
    case 'libp2p':
      return {
        dialing: new Libp2pTransport({ identity: NodeIdentity.generate() }),
        listening: new Libp2pTransport({ identity: NodeIdentity.generate() }),
        address: '/ip4/127.0.0.1/tcp/0',
      };
    case 'memory': {
      const network = new MemoryNetwork();
      return { dialing: network.transport(), listening: network.transport(), address: '/memory/bench' };
    }
  }
}

/**
 * `seal`: whether a UDP connection is sealed, as a node seals it once its handshake opened the
 * session (the default), or left plain, to tell the seal's cost from the reliable layer's.
 */
export async function openTransportPair(name: TransportName, options: { seal?: boolean } = {}): Promise<TransportPair> {
  const { dialing, listening, address } = endsOf(name);
  const accepted: Connection[] = [];
  let onAccept: (() => void) | undefined;
  const listener = await listening.listen(address, (connection) => {
    accepted.push(connection);
    onAccept?.();
  });
  const nextAccepted = async (): Promise<Connection> => {
    while (accepted.length === 0) await new Promise<void>((resolve) => (onAccept = resolve));
    onAccept = undefined;
    return accepted.shift()!;
  };
  return {
    async connect() {
      const dialer = await dialing.dial(listener.addresses[0]!);
      const inbound = await nextAccepted();
      // UDP as a node runs it: sealed with the session's keys before any data, as the node
      // does once its handshake opened the session (here, fresh keys stand in for the handshake's).
      if (options.seal !== false && dialer.seal !== undefined && inbound.seal !== undefined) {
        const [toListener, toDialer] = [randomBytes(32), randomBytes(32)];
        dialer.seal({ sendKey: toListener, receiveKey: toDialer });
        inbound.seal({ sendKey: toDialer, receiveKey: toListener });
      }
      return { dialer, listener: inbound };
    },
    async close() {
      await dialing.close();
      await listener.close();
      await listening.close();
    },
  };
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function closedError(connection: Connection, error?: Error): Error {
  return new Error(`${connection.id} closed during the bench${error === undefined ? '' : `: ${error.message}`}`, { cause: error });
}

/**
 * Request and echo: the listener sends every u32-length-prefixed frame back; the returned call
 * writes one request frame of `payloadBytes` and resolves when its reply frame is whole.
 * One request at a time: no pipelining.
 */
export function echoRequests(dialer: Connection, listener: Connection, payloadBytes: number): () => Promise<void> {
  const atListener = new FrameSplitter();
  listener.onData = (chunk) => atListener.push(asBuffer(chunk), (frame) => listener.write(joinFrames([frame])));
  const atDialer = new FrameSplitter();
  const request = joinFrames([Buffer.alloc(payloadBytes, 7)]);
  let pending: { resolve: () => void; reject: (error: Error) => void } | undefined;
  dialer.onData = (chunk) =>
    atDialer.push(asBuffer(chunk), () => {
      const trip = pending;
      pending = undefined;
      trip?.resolve();
    });
  dialer.onClose = (error) => pending?.reject(closedError(dialer, error));
  return () =>
    new Promise<void>((resolve, reject) => {
      if (dialer.closed) return reject(closedError(dialer));
      pending = { resolve, reject };
      dialer.write(request);
    });
}

/**
 * One-way bulk: the returned call streams `bytes` from dialer to listener in writes of
 * `writeBytes`, waiting for `onDrain` whenever `write()` returns false, and resolves when the
 * listener has received every byte. Bytes only: no framing to parse at the listener.
 */
export function bulkStream(dialer: Connection, listener: Connection, writeBytes: number): (bytes: number) => Promise<void> {
  let received = 0;
  let expected = 0;
  let arrived: { resolve: () => void; reject: (error: Error) => void } | undefined;
  listener.onData = (chunk) => {
    received += chunk.length;
    if (received >= expected) arrived?.resolve();
  };
  let drained: (() => void) | undefined;
  dialer.onDrain = () => {
    const wake = drained;
    drained = undefined;
    wake?.();
  };
  for (const end of [dialer, listener]) end.onClose = (error) => arrived?.reject(closedError(end, error));
  const chunk = Buffer.alloc(writeBytes, 7);
  return async (bytes) => {
    received = 0;
    expected = bytes;
    const all = new Promise<void>((resolve, reject) => (arrived = { resolve, reject }));
    all.catch(() => {}); // awaited below; a close before then must not be an unhandled rejection
    for (let sent = 0; sent < bytes; sent += writeBytes) {
      if (dialer.closed) throw closedError(dialer);
      const below = dialer.write(sent + writeBytes <= bytes ? chunk : chunk.subarray(0, bytes - sent));
      if (!below) await Promise.race([new Promise<void>((resolve) => (drained = resolve)), all]);
    }
    await all;
    arrived = undefined;
  };
}
