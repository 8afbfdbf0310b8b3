import assert from 'node:assert/strict';
import { Tag } from 'cbor-x';
import fc from 'fast-check';
import { Codec } from '../../src/runtime/codec.ts';
import { SharedRefTable } from '../../src/runtime/shared-ref.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import { PeerRecord } from '../../src/node/peer-record.ts';
import { PROTOCOL_VERSION, Wire, type WireMessage } from '../../src/node/wire.ts';
import { TestPeer } from '../fixtures/peer.ts';
import { createNode } from '../../src/assemble.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import { until } from '../helpers/until.ts';
import { RecordingTransport } from '../helpers/recording-transport.ts';

const SEED = 20261125;
const PEER_RECORD_TAG = 40_001;

function recordOf(n: number, seq = 1): PeerRecord {
  const identity = NodeIdentity.generate();
  return PeerRecord.create(identity, [`/ip4/10.0.${n >> 8}.${n & 255}/tcp/4001`], seq);
}

/** One direction of a session: the sender's table and the receiver's, and a frame between them. */
function session(limits?: ConstructorParameters<typeof SharedRefTable>[0], maxFrame?: number) {
  const wire = new Wire(maxFrame);
  const send = new SharedRefTable(limits);
  const receive = new SharedRefTable(limits);
  const body = (frame: Uint8Array) => frame.subarray(4);
  return {
    send,
    receive,
    encode: (message: WireMessage) => wire.encode(message, undefined, send),
    decode: (frame: Uint8Array) => wire.decode(body(frame), undefined, receive) as WireMessage & Record<string, unknown>,
    /** A FIND_NODE reply naming these records, across the session: its frame's size and what arrived. */
    answer(records: PeerRecord[]): { bytes: number; arrived: unknown[] } {
      const frame = wire.encode({ type: 'reply', query: 1, ok: true, value: records } as WireMessage, undefined, send);
      return { bytes: frame.length, arrived: wire.decode(body(frame), undefined, receive) as unknown as unknown[] };
    },
  };
}

function valueOf(message: unknown): unknown[] {
  return (message as { value: unknown[] }).value;
}

describe('peer records by back-reference on a session (SharedRefTable)', () => {
  const records = Array.from({ length: 20 }, (_, i) => recordOf(i));

  it('an answer naming 20 records sent before is a tenth of the bytes, and gives the same records', () => {
    const link = session();
    const first = link.answer(records);
    const second = link.answer(records);
    const [a, b] = [valueOf(first.arrived), valueOf(second.arrived)];
    assert.equal(b.length, 20);
    for (const [i, record] of records.entries()) {
      assert.ok(a[i] instanceof PeerRecord && b[i] instanceof PeerRecord);
      assert.deepEqual((b[i] as PeerRecord).wire, record.wire);
      assert.equal(b[i], a[i], 'an index resolves to the object the full form gave');
    }
    assert.ok(second.bytes * 10 < first.bytes, `${second.bytes} bytes again, ${first.bytes} the first time`);
    assert.equal(link.send.size, 20);
    assert.equal(link.receive.size, 20);
  });

  it('a record named twice in one frame goes in full once', () => {
    const link = session();
    const once = session().answer([records[0]!]).bytes;
    const twice = link.answer([records[0]!, records[0]!]);
    assert.ok(twice.bytes < once + 10, `${twice.bytes} bytes for two, ${once} for one`);
    const [x, y] = valueOf(twice.arrived);
    assert.equal(x, y);
  });

  it("a newer version of a record goes in full, not as the older one's index", () => {
    const identity = NodeIdentity.generate();
    const record = PeerRecord.create(identity, ['/ip4/10.9.0.1/tcp/1'], 1);
    const link = session();
    link.answer([record]);
    assert.ok(record.adopt(PeerRecord.create(identity, ['/ip4/10.9.0.2/tcp/2'], 2)));
    const [arrived] = valueOf(link.answer([record]).arrived) as PeerRecord[];
    assert.equal(arrived!.seq, 2);
    assert.deepEqual(arrived!.addresses, ['/ip4/10.9.0.2/tcp/2']);
  });

  it('a newer version from another object arrives as the record held already, updated', () => {
    const identity = NodeIdentity.generate();
    const link = session();
    const [held] = valueOf(link.answer([PeerRecord.create(identity, ['/ip4/10.9.1.1/tcp/1'], 1)]).arrived) as PeerRecord[];
    const [again] = valueOf(link.answer([PeerRecord.create(identity, ['/ip4/10.9.1.2/tcp/2'], 2)]).arrived) as PeerRecord[];
    assert.equal(again, held, 'interned by id');
    assert.equal(held!.seq, 2);
    assert.deepEqual(held!.addresses, ['/ip4/10.9.1.2/tcp/2']);
  });

  it('a frame refused for its size leaves both tables as they were', () => {
    const link = session({}, 2_000);
    assert.throws(() => link.answer(records), { code: 'ERR_FRAME_TOO_LARGE' });
    assert.equal(link.send.size, 0);
    // Had the refused frame left its entries, this one would name records the receiver never saw.
    const arrived = valueOf(link.answer(records.slice(0, 5)).arrived);
    assert.deepEqual(
      arrived.map((record) => (record as PeerRecord).idHex),
      records.slice(0, 5).map((record) => record.idHex),
    );
  });

  it(`random frames under random limits: the two ends never disagree (fast-check seed ${SEED})`, () => {
    const pool = Array.from({ length: 12 }, (_, i) => recordOf(100 + i));
    const frame = fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 10 });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 300 }),
        fc.array(frame, { minLength: 1, maxLength: 40 }),
        (capacity, maxItemBytes, frames) => {
          // A small frame limit refuses some frames along the way, as a real session may; the
          // pool's records take 100-200 bytes, so some are too large to take an index.
          const link = session({ capacity, maxItemBytes }, 700);
          for (const picks of frames) {
            const named = picks.map((i) => pool[i]!);
            let sent;
            try {
              sent = link.answer(named);
            } catch (err) {
              assert.equal((err as { code?: string }).code, 'ERR_FRAME_TOO_LARGE');
              continue;
            }
            assert.deepEqual(
              valueOf(sent.arrived).map((record) => (record as PeerRecord).idHex),
              named.map((record) => record.idHex),
            );
            assert.equal(link.receive.size, link.send.size);
            assert.ok(link.send.size <= capacity);
          }
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('an index the receiver does not hold, or holding another type, is refused with ERR_DECODE_UNKNOWN_REF', () => {
    const codec = new Codec();
    const link = session();
    link.answer(records.slice(0, 2));
    // A shared type whose sendable form is made afresh each time is never sent by index, but it
    // takes an index on both ends.
    link.decode(link.encode({ type: 'global', command: { type: 'x', peer: new TestPeer('p', []) } } as WireMessage));
    const frameNaming = (index: number) => codec.encode([PROTOCOL_VERSION, { type: 'reply', query: 1, ok: true, value: [new Tag(index, PEER_RECORD_TAG)] }]);
    const framed = (body: Uint8Array) => Uint8Array.from([0, 0, 0, 0, ...body]);
    assert.equal((valueOf(link.decode(framed(frameNaming(1))))[0] as PeerRecord).idHex, records[1]!.idHex);
    for (const index of [2, 3, -1, 1.5, 2 ** 40]) {
      assert.throws(() => link.decode(framed(frameNaming(index))), { code: 'ERR_DECODE_UNKNOWN_REF' }, String(index));
    }
    // Without a table (between threads and processes, where no index is ever sent), an index is no record.
    assert.throws(() => new Wire().decode(frameNaming(0)), { code: 'ERR_DECODE_MALFORMED' });
  });

  it('a forged record sent in full fails the whole frame, and takes no index', () => {
    const codec = new Codec();
    const link = session();
    const forged = Uint8Array.from(records[0]!.wire);
    forged[forged.length - 1]! ^= 1;
    const body = codec.encode([PROTOCOL_VERSION, { type: 'reply', query: 1, ok: true, value: [new Tag(forged, PEER_RECORD_TAG)] }]);
    assert.throws(() => link.decode(Uint8Array.from([0, 0, 0, 0, ...body])), { code: 'ERR_DECODE_MALFORMED' });
    assert.equal(link.receive.size, 0);
  });

  it('the window keeps at most its capacity, the oldest leaving first; a record over maxItemBytes always goes in full', () => {
    const narrow = session({ capacity: 3 });
    narrow.answer(records.slice(0, 4));
    assert.equal(narrow.send.size, 3);
    assert.equal(narrow.send.indexOf(records[0]!.wire), undefined, 'the oldest left');
    assert.equal(narrow.send.indexOf(records[3]!.wire), 3);
    const size = records[0]!.wire.length;
    const small = session({ maxItemBytes: size - 1 });
    const first = small.answer(records.slice(0, 3));
    const again = small.answer(records.slice(0, 3));
    assert.equal(small.send.size, 0);
    assert.equal(again.bytes, first.bytes, 'in full both times');
    assert.deepEqual(valueOf(again.arrived), valueOf(first.arrived));
  });
});

describe('back-references between live nodes', function () {
  this.timeout(30_000);

  it("a lookup step's answer naming 10 records goes in full once, then by index", async () => {
    const network = new MemoryNetwork({ seed: 8 });
    const recorded = new RecordingTransport(network.transport());
    const b = await createNode({ transports: [recorded], listen: ['/memory/refs-hub'] });
    const others = await Promise.all(Array.from({ length: 11 }, (_, i) => createNode({ transports: [network.transport()], listen: [`/memory/refs-${i}`] })));
    await b.start();
    await Promise.all(others.map((node) => node.start()));
    try {
      for (const node of others) await node.dial(b.addresses[0]!);
      // b asks them all, so they enter its table as peers that answered.
      await b.closestPeers(b.identity.id);
      const a = others[0]!;
      const target = new Uint8Array(32).fill(7);
      const sentByB = () => recorded.recordings.reduce((sum, recording) => sum + recording.sent.reduce((n, chunk) => n + chunk.length, 0), 0);
      const step = async () => {
        const before = sentByB();
        // One step, to b alone: hop limit 1, asked of the only peer a knows.
        await a.closestPeers(target, { hopLimit: 1 });
        return sentByB() - before;
      };
      const first = await step();
      const second = await step();
      assert.ok(first > 10 * 100, `b's first answer, naming 10 records, took ${first} bytes`);
      assert.ok(second * 4 < first, `b sent ${first} bytes for the first answer, ${second} for the same again`);
    } finally {
      await Promise.all([b.stop(), ...others.map((node) => node.stop())]);
    }
  });

  it('a peer naming an index it never sent loses its connection (ERR_DECODE_UNKNOWN_REF); the two reconnect on fresh tables', async () => {
    const network = new MemoryNetwork({ seed: 7 });
    const make = (name: string) => createNode({ transports: [network.transport()], listen: [`/memory/refs-${name}`] });
    const [a, b, c] = [await make('a'), await make('b'), await make('c')];
    await Promise.all([a.start(), b.start(), c.start()]);
    try {
      await a.dial(b.addresses[0]!);
      await c.dial(b.addresses[0]!);
      // Lookups back and forth fill both tables of the a-b session.
      assert.ok((await a.findPeer(c.id)) !== null);
      assert.ok((await a.closestPeers(c.identity.id)).length > 0);
      const write = a.system.get<NodeProtocols['write']>('write');
      await write.call({ type: 'send', peer: b.id, message: { type: 'reply', query: 1, ok: true, value: [new Tag(1_000_000, PEER_RECORD_TAG)] } });
      await until(async () => ((await b.connectionStatus()).dropped.ERR_DECODE_UNKNOWN_REF ?? 0) === 1);
      // A new session starts both tables empty: records go in full again, then by index.
      assert.ok((await a.closestPeers(c.identity.id)).some((record) => record.idHex === c.id));
      assert.ok((await a.closestPeers(c.identity.id)).some((record) => record.idHex === c.id));
      assert.equal((await b.connectionStatus()).dropped.ERR_DECODE_UNKNOWN_REF, 1, 'only the one frame');
    } finally {
      await Promise.all([a.stop(), b.stop(), c.stop()]);
    }
  });
});
