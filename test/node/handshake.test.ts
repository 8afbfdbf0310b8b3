import assert from 'node:assert/strict';
import { NodeIdentity } from '../../src/node/identity.ts';
import { AuthError, Handshaker, type PongBackMessage, type PongMessage, type Session } from '../../src/node/handshake.ts';
import { PeerRecord, peerRecordWire, type PeerRecordFields } from '../../src/node/peer-record.ts';
import { SessionCipher } from '../../src/node/session-cipher.ts';

/** A record's wire form with some fields changed, so no longer the form it was signed in. */
const rewire = (wire: Uint8Array, changes: Partial<PeerRecordFields>): Uint8Array =>
  peerRecordWire({ ...PeerRecord.fromWire(wire).toFields(), ...changes });

/** A node's handshake side with a clock the test moves. */
function node(name: string, clock: { now: number }, options: { capacity?: number; pinned?: Map<string, Uint8Array> } = {}) {
  const identity = NodeIdentity.generate();
  const record = PeerRecord.create(identity, [`/memory/${name}`], 1);
  const handshaker = new Handshaker({
    identity,
    record: () => record,
    cache: { now: () => clock.now, ttlMs: 10_000, ...(options.capacity === undefined ? {} : { capacity: options.capacity }) },
    ...(options.pinned === undefined ? {} : { pinnedKey: (id: string) => options.pinned!.get(id) }),
  });
  return { name, identity, record, handshaker, address: `/memory/${name}` };
}

type Node = ReturnType<typeof node>;

/** One full handshake from `a` to `b` over connection `conn`; returns the messages and sessions. */
function handshake(a: Node, b: Node, conn: object = {}) {
  const ping = a.handshaker.initiate(b.address, conn);
  const pong = b.handshaker.respond(ping, a.address, conn);
  const { reply: back, session: sessionA } = a.handshaker.confirm(pong, conn);
  const sessionB = b.handshaker.accept(back, conn);
  return { ping, pong, back, sessionA, sessionB };
}

/** Run `attempt`; it must throw an AuthError (counted by code), never succeed or throw anything else. */
function refused(attempt: () => unknown, counts: Map<string, number>): void {
  try {
    attempt();
  } catch (err) {
    assert.ok(err instanceof AuthError, `expected an AuthError, got ${String(err)}`);
    counts.set(err.code, (counts.get(err.code) ?? 0) + 1);
    return;
  }
  assert.fail('a replayed or forged handshake message was accepted');
}

describe('ping-pong-pong handshake', () => {
  let clock: { now: number };
  let a: Node;
  let b: Node;
  let c: Node;

  beforeEach(() => {
    clock = { now: 0 };
    a = node('a', clock);
    b = node('b', clock);
    c = node('c', clock);
  });

  it('authenticates both sides and agrees on session keys, one per direction', () => {
    const { sessionA, sessionB } = handshake(a, b);
    assert.equal(sessionA.peer.idHex, b.identity.idHex);
    assert.equal(sessionB.peer.idHex, a.identity.idHex);
    assert.deepEqual(sessionA.sendKey, sessionB.receiveKey);
    assert.deepEqual(sessionA.receiveKey, sessionB.sendKey);
    assert.notDeepEqual(sessionA.sendKey, sessionA.receiveKey);
    assert.equal(sessionA.id, sessionB.id);
    assert.equal(a.handshaker.pending + b.handshaker.pending, 0, 'nonces are consumed');
  });

  it('replay: 1,000 recorded handshakes, every message replayed to the same and another node, now and after expiry: 0 accepted', () => {
    const recorded = Array.from({ length: 1000 }, () => handshake(a, b));
    // `refused` fails the test at the first message that is accepted.
    const counts = new Map<string, number>();
    const replayAll = (): void => {
      for (const { ping, pong, back } of recorded) {
        for (const target of [b, c]) {
          // A replayed PING gets a fresh PONG (the responder cannot tell), but whoever replays it
          // cannot finish: the recorded final PONG names the old nonce, and no key signs the new one.
          const conn = {};
          const fresh = target.handshaker.respond(ping, a.address, conn);
          refused(() => target.handshaker.accept(back, conn), counts);
          refused(() => target.handshaker.accept({ ...back, echo: fresh.nonce }, conn), counts);
          refused(() => target.handshaker.accept(back, {}), counts);
        }
        for (const initiator of [a, c]) refused(() => initiator.handshaker.confirm(pong, {}), counts);
      }
    };
    replayAll();
    clock.now += 10_001; // past every nonce's lifetime
    replayAll();
    assert.equal(counts.get('ERR_AUTH_REPLAY'), 1000 * 2 * (4 + 2));
    assert.equal(counts.get('ERR_AUTH_SIGNATURE'), 1000 * 2 * 2);
    console.log(`      replay attempts refused by code: ${JSON.stringify(Object.fromEntries(counts))}`);
  });

  it("reflection: B's signature sent back as A's is refused", () => {
    const conn = {};
    const ping = a.handshaker.initiate(b.address, conn);
    const pong = b.handshaker.respond(ping, a.address, conn);
    const reflected: PongBackMessage = { type: 'pong-back', echo: pong.nonce, signature: pong.signature };
    assert.throws(() => b.handshaker.accept(reflected, conn), { code: 'ERR_AUTH_SIGNATURE' });
  });

  it('a valid signature by another key while claiming an id is refused', () => {
    const conn = {};
    const ping = a.handshaker.initiate(b.address, conn, b.identity.idHex);
    // C answers in B's place with its own valid record and signature: not the peer A dialed.
    const pong = c.handshaker.respond(ping, a.address, conn);
    assert.throws(() => a.handshaker.confirm(pong, conn), { code: 'ERR_AUTH_UNEXPECTED_PEER' });
    // C claims B's id in its record: the record does not verify (id != hash(key)).
    const conn2 = {};
    const ping2 = a.handshaker.initiate(b.address, conn2);
    const pong2 = c.handshaker.respond(ping2, a.address, conn2);
    assert.throws(() => a.handshaker.confirm({ ...pong2, record: rewire(pong2.record, { id: b.identity.id }) }, conn2), {
      code: 'ERR_AUTH_PEER_RECORD',
    });
  });

  it('a pinned peer answering with another key is refused', () => {
    const impostor = NodeIdentity.generate();
    const pinned = new Map([[b.identity.idHex, impostor.publicKey]]);
    const strict = node('strict', clock, { pinned });
    const conn = {};
    const ping = strict.handshaker.initiate(b.address, conn);
    const pong = b.handshaker.respond(ping, strict.address, conn);
    assert.throws(() => strict.handshaker.confirm(pong, conn), { code: 'ERR_AUTH_PINNED' });
  });

  it('wrong key, nonce and signature lengths, and wrong shapes, are refused without a crash', () => {
    const counts = new Map<string, number>();
    const ping = a.handshaker.initiate(b.address, {});
    const badPings: unknown[] = [
      { ...ping, nonce: ping.nonce.subarray(1) },
      { ...ping, ephemeral: new Uint8Array(31) },
      { ...ping, dialed: '' },
      { ...ping, dialed: 'x'.repeat(300) },
      { ...ping, record: rewire(ping.record, { publicKey: new Uint8Array(33) }) },
      { ...ping, record: rewire(ping.record, { signature: new Uint8Array(63) }) },
      { ...ping, record: PeerRecord.fromWire(ping.record).toFields() },
      { ...ping, type: 'pong' },
      null,
      'ping',
      [],
    ];
    for (const bad of badPings) refused(() => b.handshaker.respond(bad, a.address, {}), counts);
    // Each bad answer gets a handshake of its own: a bad answer on the right connection ends its
    // handshake (the nonce is spent, and the connection is closed), so it cannot be retried.
    const badPongs: ((pong: PongMessage) => unknown)[] = [
      (pong) => ({ ...pong, signature: pong.signature.subarray(1) }),
      (pong) => ({ ...pong, signature: new Uint8Array(64) }),
      (pong) => ({ ...pong, ephemeral: new Uint8Array(33) }),
      (pong) => ({ ...pong, observed: 42 }),
    ];
    for (const spoil of badPongs) {
      const conn = {};
      const pong = b.handshaker.respond(a.handshaker.initiate(b.address, conn), a.address, conn);
      refused(() => a.handshaker.confirm(spoil(pong), conn), counts);
    }
    const badBacks: ((back: PongBackMessage) => unknown)[] = [
      (back) => ({ ...back, signature: back.signature.subarray(2) }),
      (back) => ({ ...back, signature: new Uint8Array(64) }),
      (back) => ({ ...back, echo: 7 }),
    ];
    for (const spoil of badBacks) {
      const conn = {};
      const pong = b.handshaker.respond(a.handshaker.initiate(b.address, conn), a.address, conn);
      refused(() => b.handshaker.accept(spoil(a.handshaker.confirm(pong, conn).reply), conn), counts);
    }
    assert.equal([...counts.values()].reduce((x, y) => x + y), badPings.length + badPongs.length + badBacks.length);
  });

  it('a bad answer ends its handshake: the genuine one after it finds no nonce', () => {
    const conn = {};
    const pong = b.handshaker.respond(a.handshaker.initiate(b.address, conn), a.address, conn);
    assert.throws(() => a.handshaker.confirm({ ...pong, signature: new Uint8Array(64) }, conn), { code: 'ERR_AUTH_SIGNATURE' });
    assert.throws(() => a.handshaker.confirm(pong, conn), { code: 'ERR_AUTH_REPLAY' });
  });

  it('an answer on another connection neither completes nor spoils the real handshake', () => {
    const conn = {};
    const ping = a.handshaker.initiate(b.address, conn);
    const pong = b.handshaker.respond(ping, a.address, conn);
    assert.throws(() => a.handshaker.confirm(pong, {}), { code: 'ERR_AUTH_REPLAY' });
    const { reply } = a.handshaker.confirm(pong, conn);
    assert.throws(() => b.handshaker.accept(reply, {}), { code: 'ERR_AUTH_REPLAY' });
    assert.equal(b.handshaker.accept(reply, conn).peer.idHex, a.identity.idHex);
  });

  it('pending handshakes are capped, and expire to make room', () => {
    const small = node('small', clock, { capacity: 3 });
    for (let i = 0; i < 3; i++) small.handshaker.respond(a.handshaker.initiate(small.address, {}), a.address, {});
    assert.throws(() => small.handshaker.respond(a.handshaker.initiate(small.address, {}), a.address, {}), {
      code: 'ERR_HANDSHAKE_BUSY',
    });
    assert.equal(small.handshaker.pending, 3);
    clock.now += 10_001;
    assert.equal(small.handshaker.pending, 0);
    small.handshaker.respond(a.handshaker.initiate(small.address, {}), a.address, {});
  });

  it('a node cannot handshake with itself', () => {
    const conn = {};
    const ping = a.handshaker.initiate(a.address, conn);
    assert.throws(() => a.handshaker.respond(ping, a.address, conn), { code: 'ERR_AUTH_SELF' });
  });
});

describe('session frames (AEAD)', () => {
  let sessionA: Session;
  let sessionB: Session;
  beforeEach(() => {
    const clock = { now: 0 };
    ({ sessionA, sessionB } = handshake(node('a', clock), node('b', clock)));
  });

  it('seal and open in order, both directions', () => {
    const aSide = new SessionCipher(sessionA.sendKey, sessionA.receiveKey);
    const bSide = new SessionCipher(sessionB.sendKey, sessionB.receiveKey);
    for (let i = 0; i < 100; i++) {
      const text = new TextEncoder().encode(`frame ${i}`);
      assert.deepEqual(Buffer.from(bSide.open(aSide.seal(text))), Buffer.from(text));
      assert.deepEqual(Buffer.from(aSide.open(bSide.seal(text))), Buffer.from(text));
    }
  });

  it('tampered frame: a flipped bit anywhere fails to open', () => {
    const aSide = new SessionCipher(sessionA.sendKey, sessionA.receiveKey);
    const sealed = aSide.seal(new TextEncoder().encode('a frame worth tampering with'));
    for (let bit = 0; bit < sealed.length * 8; bit += 7) {
      const bSide = new SessionCipher(sessionB.sendKey, sessionB.receiveKey);
      const tampered = Uint8Array.from(sealed);
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      assert.throws(() => bSide.open(tampered), { code: 'ERR_AUTH_FRAME' });
    }
  });

  it('a replayed or reordered frame fails to open', () => {
    const aSide = new SessionCipher(sessionA.sendKey, sessionA.receiveKey);
    const bSide = new SessionCipher(sessionB.sendKey, sessionB.receiveKey);
    const first = aSide.seal(new Uint8Array([1]));
    const second = aSide.seal(new Uint8Array([2]));
    assert.throws(() => new SessionCipher(sessionB.sendKey, sessionB.receiveKey).open(second), { code: 'ERR_AUTH_FRAME' });
    bSide.open(first);
    assert.throws(() => bSide.open(first), { code: 'ERR_AUTH_FRAME' });
  });

  it("a frame sealed for one direction does not open in the other", () => {
    const aSide = new SessionCipher(sessionA.sendKey, sessionA.receiveKey);
    const sealed = aSide.seal(new Uint8Array([1, 2, 3]));
    assert.throws(() => new SessionCipher(sessionA.sendKey, sessionA.receiveKey).open(sealed), { code: 'ERR_AUTH_FRAME' });
  });
});

describe('handshake bound to a transport channel (libp2p)', () => {
  const clock = { now: 0 };
  /** The channel each end's transport reports: its libp2p-style ids, and the key it proved. */
  const channelsOf = (a: Node, b: Node, remoteKeyAtA = b.identity.publicKey, remoteKeyAtB = a.identity.publicKey) => ({
    atA: { localId: `p2p-${a.name}`, remoteId: `p2p-${b.name}`, remoteKey: remoteKeyAtA },
    atB: { localId: `p2p-${b.name}`, remoteId: `p2p-${a.name}`, remoteKey: remoteKeyAtB },
  });

  it('opens when both ends name the same channel and the channel proved the very keys the records carry', () => {
    const [a, b] = [node('a', clock), node('b', clock)];
    const { atA, atB } = channelsOf(a, b);
    const conn = {};
    const ping = a.handshaker.initiate(b.address, conn, undefined, atA);
    const pong = b.handshaker.respond(ping, a.address, conn, atB);
    const { reply, session } = a.handshaker.confirm(pong, conn);
    assert.equal(b.handshaker.accept(reply, conn).peer.idHex, a.identity.idHex);
    assert.equal(session.peer.idHex, b.identity.idHex);
  });

  it("refuses a record whose key is not the one the channel proved (ERR_AUTH_CHANNEL), on either side", () => {
    const [a, b, mallory] = [node('a', clock), node('b', clock), node('m', clock)];
    const atB = channelsOf(a, b, undefined, mallory.identity.publicKey).atB;
    assert.throws(() => b.handshaker.respond(a.handshaker.initiate(b.address, {}), a.address, {}, atB), { code: 'ERR_AUTH_CHANNEL' });
    const conn = {};
    const atA = channelsOf(a, b, mallory.identity.publicKey).atA;
    const pong = b.handshaker.respond(a.handshaker.initiate(b.address, conn, undefined, atA), a.address, conn, channelsOf(a, b).atB);
    assert.throws(() => a.handshaker.confirm(pong, conn), { code: 'ERR_AUTH_CHANNEL' });
  });

  it('a handshake relayed from another channel does not verify: the channel ids are in the signed transcript', () => {
    const [a, b] = [node('a', clock), node('b', clock)];
    const conn = {};
    const { atA, atB } = channelsOf(a, b);
    const ping = a.handshaker.initiate(b.address, conn, undefined, atA);
    const pong = b.handshaker.respond(ping, a.address, conn, { ...atB, localId: 'p2p-elsewhere' });
    assert.throws(() => a.handshaker.confirm(pong, conn), { code: 'ERR_AUTH_SIGNATURE' });
    const unbound = b.handshaker.respond(a.handshaker.initiate(b.address, conn, undefined, atA), a.address, conn);
    assert.throws(() => a.handshaker.confirm(unbound, conn), { code: 'ERR_AUTH_SIGNATURE' });
  });
});
