import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Codec } from '../../src/runtime/codec.ts';
import { KEY_FILE, NodeIdentity, peerIdOf, verifySignature } from '../../src/node/identity.ts';
import { MAX_WIRE_BYTES, PeerRecord, PeerRecordError, peerRecordWire } from '../../src/node/peer-record.ts';

describe('node identity', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'mydht-identity-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is created on first start with mode 0600, and the same on the next', async () => {
    const first = await NodeIdentity.loadOrCreate(dir);
    assert.equal(statSync(join(dir, KEY_FILE)).mode & 0o777, 0o600);
    const second = await NodeIdentity.loadOrCreate(dir);
    assert.equal(second.idHex, first.idHex);
    assert.deepEqual(first.id, peerIdOf(first.publicKey));
    assert.equal(first.id.length, 32);
    assert.deepEqual(readdirSync(dir), [KEY_FILE], 'the file it was written to first is gone');
  });

  it('never replaces a key another process created meanwhile', async () => {
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => NodeIdentity.loadOrCreate(dir)));
    const made = results.filter((result) => result.status === 'fulfilled').map((result) => result.value);
    assert.ok(made.length >= 1);
    const kept = await NodeIdentity.loadOrCreate(dir);
    // A loser of the race is refused (EEXIST), never handed a key other than the one kept.
    for (const result of results) if (result.status === 'rejected') assert.equal((result.reason as NodeJS.ErrnoException).code, 'EEXIST');
    for (const identity of made) assert.equal(identity.idHex, kept.idHex);
    assert.deepEqual(readdirSync(dir), [KEY_FILE]);
  });

  it('a key file readable by others is tightened to 0600', async () => {
    await NodeIdentity.loadOrCreate(dir);
    chmodSync(join(dir, KEY_FILE), 0o644);
    await NodeIdentity.loadOrCreate(dir);
    assert.equal(statSync(join(dir, KEY_FILE)).mode & 0o777, 0o600);
  });

  it('a seed gives the same identity every time, and signs like a generated one', () => {
    const seed = new Uint8Array(32).fill(7);
    const a = NodeIdentity.fromSeed(seed);
    const b = NodeIdentity.fromSeed(seed);
    assert.equal(a.idHex, b.idHex);
    assert.notEqual(NodeIdentity.fromSeed(new Uint8Array(32).fill(8)).idHex, a.idHex);
    const message = new TextEncoder().encode('hello');
    assert.ok(verifySignature(a.publicKey, message, b.sign(message)));
    assert.throws(() => NodeIdentity.fromSeed(new Uint8Array(31)), { code: 'ERR_KEY_INVALID' });
  });

  it('a garbage key file is ERR_KEY_INVALID', async () => {
    writeFileSync(join(dir, KEY_FILE), 'not a key', { mode: 0o600 });
    await assert.rejects(NodeIdentity.loadOrCreate(dir), { code: 'ERR_KEY_INVALID' });
  });

  it('a signature that verified once still fails for another message or key (the cache keys all three)', () => {
    const identity = NodeIdentity.generate();
    const message = new TextEncoder().encode('cached');
    const signature = identity.sign(message);
    assert.equal(verifySignature(identity.publicKey, message, signature), true);
    assert.equal(verifySignature(identity.publicKey, message, signature), true);
    assert.equal(verifySignature(identity.publicKey, new TextEncoder().encode('cachee'), signature), false);
    assert.equal(verifySignature(NodeIdentity.generate().publicKey, message, signature), false);
    const flipped = Uint8Array.from(signature);
    flipped[0]! ^= 1;
    assert.equal(verifySignature(identity.publicKey, message, flipped), false);
  });

  it('signatures verify, and wrong key or signature lengths are false, not a throw', () => {
    const identity = NodeIdentity.generate();
    const message = new TextEncoder().encode('hello');
    const signature = identity.sign(message);
    assert.equal(verifySignature(identity.publicKey, message, signature), true);
    assert.equal(verifySignature(NodeIdentity.generate().publicKey, message, signature), false);
    assert.equal(verifySignature(identity.publicKey.subarray(1), message, signature), false);
    assert.equal(verifySignature(identity.publicKey, message, signature.subarray(1)), false);
    assert.equal(verifySignature(identity.publicKey, message, new Uint8Array(64)), false);
  });
});

describe('peer records', () => {
  const identity = NodeIdentity.generate();
  const addresses = ['/ip4/127.0.0.1/tcp/4001', '/memory/a'];

  it('a signed record verifies from its fields', () => {
    const record = PeerRecord.create(identity, addresses, 3);
    const again = PeerRecord.verify(record.toFields());
    assert.equal(again.idHex, identity.idHex);
    assert.deepEqual(again.addresses, addresses);
    assert.equal(again.seq, 3);
  });

  it('a changed address or seq breaks the signature', () => {
    const fields = PeerRecord.create(identity, addresses, 3).toFields();
    assert.throws(() => PeerRecord.verify({ ...fields, addresses: ['/ip4/127.0.0.2/tcp/4001'] }), { code: 'ERR_SIGNATURE_INVALID' });
    assert.throws(() => PeerRecord.verify({ ...fields, seq: 4 }), { code: 'ERR_SIGNATURE_INVALID' });
  });

  it('a valid signature by another key while claiming this id is refused', () => {
    const other = NodeIdentity.generate();
    const forged = PeerRecord.create(other, addresses, 1).toFields();
    assert.throws(() => PeerRecord.verify({ ...forged, id: identity.id }), { code: 'ERR_PEER_ID_MISMATCH' });
    assert.throws(() => PeerRecord.verify({ ...forged, publicKey: identity.publicKey }), { code: 'ERR_PEER_ID_MISMATCH' });
  });

  it('wrong lengths, types and addresses are refused with stable codes', () => {
    const fields = PeerRecord.create(identity, addresses, 1).toFields();
    for (const bad of [
      { ...fields, id: fields.id.subarray(1) },
      { ...fields, publicKey: new Uint8Array(33) },
      { ...fields, signature: fields.signature.subarray(0, 63) },
      { ...fields, seq: -1 },
      { ...fields, seq: 1.5 },
      { ...fields, addresses: 'nope' },
      { ...fields, addresses: Array(17).fill('/memory/a') },
      null,
      42,
    ]) {
      assert.throws(() => PeerRecord.verify(bad), { code: 'ERR_PEER_RECORD_INVALID' });
    }
    assert.throws(() => PeerRecord.verify({ ...fields, addresses: ['/ip4/999.0.0.1/tcp/1'] }), { code: 'ERR_ADDRESS_INVALID' });
  });

  it('crosses a codec as a shared ref, verified and interned, newest seq winning', () => {
    const codec = new Codec();
    const record = PeerRecord.create(identity, addresses, 1);
    const [a, b] = codec.decode(codec.encode([record, record])) as PeerRecord[];
    assert.equal(a, b);
    assert.ok(a instanceof PeerRecord);
    const newer = PeerRecord.create(identity, ['/memory/b'], 2);
    const decodedNewer = codec.decode(codec.encode(newer)) as PeerRecord;
    assert.equal(decodedNewer.seq, 2);
    assert.deepEqual(decodedNewer.addresses, ['/memory/b']);
  });

  it('travels as one byte string: the same bytes again give the very record verified from them', () => {
    const record = PeerRecord.create(NodeIdentity.generate(), addresses, 4);
    const first = PeerRecord.fromWire(Uint8Array.from(record.wire));
    assert.equal(first.idHex, record.idHex);
    assert.deepEqual(first.addresses, addresses);
    assert.equal(first.seq, 4);
    assert.equal(PeerRecord.fromWire(Uint8Array.from(record.wire)), first, 'a copy of the same bytes: the same object');
    // A newer version adopted: its wire form is the newer one, and the older bytes still verify apart.
    const owner = NodeIdentity.generate();
    const older = Uint8Array.from(PeerRecord.create(owner, addresses, 1).wire);
    const held = PeerRecord.fromWire(older);
    const next = PeerRecord.fromWire(PeerRecord.create(owner, ['/memory/next'], 2).wire);
    assert.ok(held.adopt(next));
    assert.deepEqual(PeerRecord.fromWire(Uint8Array.from(held.wire)).addresses, ['/memory/next']);
    assert.equal(PeerRecord.fromWire(older).seq, 1);
  });

  it('a wire form that is not a signed record is refused with a stable code, whatever its bytes', () => {
    const record = PeerRecord.create(identity, addresses, 7);
    const wire = record.wire;
    PeerRecord.fromWire(wire);
    const flipped = Uint8Array.from(wire);
    flipped[flipped.length - 1]! ^= 1; // the signature's last byte: the id and the layout are intact
    assert.throws(() => PeerRecord.fromWire(flipped), { code: 'ERR_SIGNATURE_INVALID' });
    const other = NodeIdentity.generate();
    assert.throws(() => PeerRecord.fromWire(peerRecordWire({ ...PeerRecord.create(other, addresses, 1).toFields(), id: identity.id })), { code: 'ERR_PEER_ID_MISMATCH' });
    for (const bad of [record.toFields(), null, 'wire', new Uint8Array(0), Uint8Array.of(0x85), Uint8Array.of(0x84, 1, 2, 3, 4), new Uint8Array(MAX_WIRE_BYTES + 1)]) {
      assert.throws(() => PeerRecord.fromWire(bad), { code: 'ERR_PEER_RECORD_INVALID' });
    }
    // Any change of any byte: refused with a record error, or (never) a record other than a signed one.
    fc.assert(
      fc.property(fc.nat(wire.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const changed = Uint8Array.from(wire);
        changed[at]! ^= xor;
        try {
          const got = PeerRecord.fromWire(changed);
          // A change the decoder cannot see (an equivalent encoding) must still be this very record.
          assert.equal(got.idHex, record.idHex);
          assert.equal(got.seq, 7);
          assert.deepEqual(got.signature, record.signature);
        } catch (err) {
          assert.ok(err instanceof PeerRecordError, `a ${(err as Error).constructor.name}: ${(err as Error).message}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a forged record inside a message fails the whole decode with a typed error', () => {
    const codec = new Codec();
    const other = NodeIdentity.generate();
    const record = PeerRecord.create(other, addresses, 1);
    const bytes = codec.encode(record);
    // Flip a bit inside the signature (the last bytes of the encoding).
    const tampered = Uint8Array.from(bytes);
    tampered[tampered.length - 3]! ^= 1;
    assert.throws(() => codec.decode(tampered), { code: 'ERR_DECODE_MALFORMED' });
  });
});
