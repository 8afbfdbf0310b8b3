import assert from 'node:assert/strict';
import { FrameDecoder, LENGTH_PREFIX_BYTES } from '../../src/runtime/frames.ts';
import { Codec } from '../../src/runtime/codec.ts';
import { release, SessionCipher } from '../../src/node/session-cipher.ts';
import { PROTOCOL_VERSION, Wire } from '../../src/node/wire.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import { mutableRecord, validateRecord } from '../../src/dht/records.ts';

describe('wire frames', () => {
  const wire = new Wire();
  const key = (n: number) => new Uint8Array(32).fill(n);

  it('a frame round-trips through the frame decoder, in the clear and sealed', () => {
    const frames = new FrameDecoder(wire.maxFrame);
    const send = new SessionCipher(key(1), key(2));
    const receive = new SessionCipher(key(2), key(1));
    const clear = wire.encode({ type: 'ping' });
    const sealed = wire.encode({ type: 'hello', n: 5 } as never, send);
    const [a, b] = frames.push(Buffer.concat([clear, sealed]));
    assert.deepEqual(wire.decode(a!), { type: 'ping' });
    assert.deepEqual(wire.decode(b!, receive), { type: 'hello', n: 5 });
  });

  it('a length prefix of 2^32-1 or of max+1 is refused before any allocation', () => {
    for (const length of [0xffffffff, wire.maxFrame + 1]) {
      const frames = new FrameDecoder(wire.maxFrame);
      const prefix = Buffer.alloc(LENGTH_PREFIX_BYTES);
      prefix.writeUInt32BE(length >>> 0);
      assert.throws(() => frames.push(prefix), { code: 'ERR_FRAME_TOO_LARGE' });
    }
  });

  it('another protocol version, a non-array body and a message without a type are refused', () => {
    const codec = new Codec();
    assert.throws(() => wire.decode(codec.encode([PROTOCOL_VERSION + 1, { type: 'ping' }])), { code: 'ERR_PROTOCOL_VERSION' });
    assert.throws(() => wire.decode(codec.encode({ type: 'ping' })), { code: 'ERR_WIRE_MALFORMED' });
    assert.throws(() => wire.decode(codec.encode([PROTOCOL_VERSION, { kind: 'ping' }])), { code: 'ERR_WIRE_MALFORMED' });
    assert.throws(() => wire.decode(new Uint8Array([0xff, 0x00])), { code: 'ERR_DECODE_MALFORMED' });
  });

  it('a flipped bit in a sealed frame fails to open', () => {
    const send = new SessionCipher(key(1), key(2));
    const frame = wire.encode({ type: 'hello' }, send);
    const body = Uint8Array.from(frame.subarray(LENGTH_PREFIX_BYTES));
    body[3]! ^= 0x10;
    assert.throws(() => wire.decode(body, new SessionCipher(key(2), key(1))), { code: 'ERR_AUTH_FRAME' });
  });

  it('sessions interleaved on one thread each keep their own counters: frames open in order, a replay fails', () => {
    const sessions = [1, 3, 5].map((n) => ({ send: new SessionCipher(key(n), key(n + 1)), receive: new SessionCipher(key(n + 1), key(n)) }));
    const sealed = sessions.map(() => [] as Uint8Array[]);
    for (let i = 0; i < 5; i++) sessions.forEach((session, s) => sealed[s]!.push(session.send.seal(new Uint8Array([s, i]))));
    for (let i = 0; i < 5; i++) {
      sessions.forEach((session, s) => assert.deepEqual([...session.receive.open(sealed[s]![i]!)], [s, i]));
    }
    assert.deepEqual(sessions[0]!.receive.counters, { sent: 0, received: 5 });
    assert.throws(() => sessions[0]!.receive.open(sealed[0]![4]!), { code: 'ERR_AUTH_FRAME' });
    // The nonce is the counter alone: the same key, counter and plaintext seal to the same bytes.
    assert.deepEqual(new SessionCipher(key(1), undefined).seal(new Uint8Array([0, 0])), sealed[0]![0]);
  });

  it('a sealed frame\'s message keeps its bytes after the opened plaintext is released', () => {
    const send = new SessionCipher(key(1), key(2));
    const receive = new SessionCipher(key(2), key(1));
    const value = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    const id = new Uint8Array(32).fill(9);
    const frame = wire.encode({ type: 'store', value, id } as never, send);
    const [body] = new FrameDecoder(wire.maxFrame).push(frame);
    const message = wire.decode(body!, receive) as unknown as { value: Uint8Array; id: Uint8Array };
    assert.deepEqual(message.value, value);
    assert.deepEqual(message.id, id);
  });

  it('sealAfter leaves the headroom free and seals the same bytes as seal', () => {
    const plain = new Uint8Array(200).fill(7);
    const sealed = new SessionCipher(key(1), undefined).seal(plain);
    const framed = new SessionCipher(key(1), undefined).sealAfter(plain, LENGTH_PREFIX_BYTES);
    assert.equal(framed.length, LENGTH_PREFIX_BYTES + sealed.length);
    assert.deepEqual(framed.subarray(0, LENGTH_PREFIX_BYTES), new Uint8Array(LENGTH_PREFIX_BYTES));
    assert.deepEqual(framed.subarray(LENGTH_PREFIX_BYTES), sealed);
  });

  it('release frees a buffer that owns its block, and leaves a pool slice or a part of a block alone', () => {
    const owned = Buffer.allocUnsafeSlow(100).fill(1);
    release(owned);
    assert.equal(owned.length, 0);
    const pooled = Buffer.from([1, 2, 3]);
    const part = new Uint8Array(new ArrayBuffer(100), 10, 20);
    release(pooled);
    release(part);
    assert.deepEqual([...pooled], [1, 2, 3]);
    assert.equal(part.length, 20);
  });

  it('a message larger than the frame cap is refused when encoded', () => {
    const small = new Wire(1024);
    assert.throws(() => small.encode({ type: 'big', blob: new Uint8Array(2048) } as never), { code: 'ERR_FRAME_TOO_LARGE' });
  });

  it('a sealed message refused for its size uses no nonce: the next frame still opens', () => {
    const small = new Wire(1024);
    const send = new SessionCipher(key(1), key(2));
    const receive = new SessionCipher(key(2), key(1));
    // Fits the cap in the clear, not once the 16-byte tag is added.
    let blob = 1000;
    while (new Codec().encode([PROTOCOL_VERSION, { type: 'big', blob: new Uint8Array(blob) }]).length < 1024 - 8) blob++;
    assert.ok(small.encode({ type: 'big', blob: new Uint8Array(blob) } as never).length <= 1024 + LENGTH_PREFIX_BYTES);
    assert.throws(() => small.encode({ type: 'big', blob: new Uint8Array(blob) } as never, send), { code: 'ERR_FRAME_TOO_LARGE' });
    const [body] = new FrameDecoder(small.maxFrame).push(small.encode({ type: 'ping' }, send));
    assert.deepEqual(small.decode(body!, receive), { type: 'ping' });
  });

  it('a record signed over Buffer fields verifies after a trip through the codec', () => {
    const author = NodeIdentity.generate();
    const record = mutableRecord(author, Buffer.from('hello'), 1, Buffer.from('salt'));
    const codec = new Codec();
    const back = codec.decode(Buffer.from(codec.encode(record)));
    assert.equal(validateRecord(back).kind, 'mutable');
    assert.deepEqual(validateRecord(back).key, record.key);
  });
});
