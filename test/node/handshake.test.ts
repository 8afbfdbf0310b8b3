import assert from 'node:assert/strict';
import { NodeIdentity } from '../../src/node/identity.ts';
import { AuthError, Handshaker, sessionKeys, transcriptOf, type PongBackMessage, type PongMessage, type Session } from '../../src/node/handshake.ts';
import { PeerRecord, peerRecordWire, type PeerRecordFields } from '../../src/node/peer-record.ts';
import { SessionCipher } from '../../src/node/session-cipher.ts';

/** A record's wire form with some fields changed, so no longer the form it was signed in. */
const rewire = (wire: Uint8Array, changes: Partial<PeerRecordFields>): Uint8Array =>
  peerRecordWire({ ...PeerRecord.fromWire(wire).toFields(), ...changes });

/** A node's handshake side with a clock the test moves. */
function node(name: string, clock: { now: number }, options: { capacity?: number; pinned?: Map<string, Uint8Array>; resumable?: number } = {}) {
  const identity = NodeIdentity.generate();
  const record = PeerRecord.create(identity, [`/memory/${name}`], 1);
  const handshaker = new Handshaker({
    identity,
    record: () => record,
    cache: { now: () => clock.now, ttlMs: 10_000, ...(options.capacity === undefined ? {} : { capacity: options.capacity }) },
    ...(options.pinned === undefined ? {} : { pinnedKey: (id: string) => options.pinned!.get(id) }),
    resumption: { ttlMs: 3_600_000, ...(options.resumable === undefined ? {} : { capacity: options.resumable }) },
  });
  return { name, identity, record, handshaker, address: `/memory/${name}` };
}

type Node = ReturnType<typeof node>;

/**
 * One handshake from `a` to `b` over connection `conn`; returns the messages and sessions. A dial
 * that names the peer it expects (`expect`) offers a resumption secret if it holds one; one that
 * does not is always a full handshake.
 */
function handshake(a: Node, b: Node, conn: object = {}, expect = false) {
  const ping = a.handshaker.initiate(b.address, conn, expect ? b.identity.idHex : undefined);
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

/**
 * Replay every message of `recorded` (handshakes from A to B) to B and to C, now and again after
 * `later()` moves the clock: a replayed PING gets a fresh PONG (the responder cannot tell), but
 * whoever replays it cannot finish, since the recorded final PONG names the old nonce and nothing
 * proves the new one. `refused` fails the test at the first message accepted.
 */
function replayRecorded(recorded: ReturnType<typeof handshake>[], { a, b, c }: Record<'a' | 'b' | 'c', Node>, later: () => void): void {
  const counts = new Map<string, number>();
  const replayAll = (): void => {
    for (const { ping, pong, back } of recorded) {
      for (const target of [b, c]) {
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
  later();
  replayAll();
  assert.equal(counts.get('ERR_AUTH_REPLAY'), recorded.length * 2 * (4 + 2));
  assert.equal(counts.get('ERR_AUTH_SIGNATURE'), recorded.length * 2 * 2);
  console.log(`      replay attempts refused by code: ${JSON.stringify(Object.fromEntries(counts))}`);
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
    replayRecorded(recorded, { a, b, c }, () => (clock.now += 10_001)); // past every nonce's lifetime
  });

  it("reflection: B's signature sent back as A's is refused", () => {
    const conn = {};
    const ping = a.handshaker.initiate(b.address, conn);
    const pong = b.handshaker.respond(ping, a.address, conn);
    const reflected: PongBackMessage = { type: 'pong-back', echo: pong.nonce, signature: pong.signature! };
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
      { ...ping, ephemeral: new Uint8Array(32) }, // a low-order point: the exchange fails
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
      (pong) => ({ ...pong, signature: pong.signature!.subarray(1) }),
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
      (back) => ({ ...back, signature: back.signature!.subarray(2) }),
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

  describe('resumption: a peer met again proves itself by MAC', () => {

    it('the second handshake with a peer is resumed: MACs, no signatures, fresh keys both sides agree on', () => {
      const first = handshake(a, b, {}, true);
      assert.equal(first.ping.resume, undefined);
      assert.ok(first.pong.signature !== undefined && first.back.signature !== undefined);
      assert.equal(first.sessionA.resumed, false);
      const second = handshake(a, b, {}, true);
      assert.equal(second.ping.resume?.length, 16);
      assert.equal(second.pong.signature, undefined);
      assert.equal(second.back.signature, undefined);
      assert.equal(second.pong.mac?.length, 32);
      assert.ok(second.sessionA.resumed && second.sessionB.resumed);
      assert.equal(second.sessionA.peer.idHex, b.identity.idHex);
      assert.equal(second.sessionB.peer.idHex, a.identity.idHex);
      assert.deepEqual(second.sessionA.sendKey, second.sessionB.receiveKey);
      assert.deepEqual(second.sessionA.receiveKey, second.sessionB.sendKey);
      assert.notDeepEqual(second.sessionA.sendKey, first.sessionA.sendKey);
      // Each session leaves a new ticket: the third handshake names another one.
      const third = handshake(a, b, {}, true);
      assert.ok(third.sessionA.resumed);
      assert.notDeepEqual(third.ping.resume, second.ping.resume);
      // Either side may resume: B dials A with the secret of the last session.
      assert.ok(handshake(b, a, {}, true).sessionB.resumed);
    });

    it('replay: 1,000 recorded resumed handshakes, every message replayed to the same and another node, now and after expiry: 0 accepted', () => {
      handshake(a, b, {}, true);
      const recorded = Array.from({ length: 1000 }, () => handshake(a, b, {}, true));
      assert.ok(recorded.every(({ sessionA, pong }) => sessionA.resumed && pong.signature === undefined));
      // Each recorded ticket was replaced by the next session (C never had one): a replayed PING
      // gets a full PONG at best, and the recorded MAC proves nothing against its fresh nonce.
      replayRecorded(recorded, { a, b, c }, () => (clock.now += 3_600_001)); // past every nonce's and secret's lifetime
    });

    it('a replayed PING with a live ticket gets a resumed PONG, and the replayer cannot finish', () => {
      handshake(a, b, {}, true);
      const conn = {};
      const ping = a.handshaker.initiate(b.address, conn, b.identity.idHex);
      // Mallory replays A's PING on a connection of her own: B answers with a MAC, and expects one
      // she cannot make; her attempt spends B's nonce, so nothing can be tried again against it.
      const theirs = {};
      const fresh = b.handshaker.respond(ping, a.address, theirs);
      assert.ok(fresh.mac !== undefined);
      assert.throws(() => b.handshaker.accept({ type: 'pong-back', echo: fresh.nonce, mac: new Uint8Array(32) }, theirs), { code: 'ERR_AUTH_SIGNATURE' });
      assert.equal(b.handshaker.pending, 0);
      // A's own handshake still completes, resumed.
      const pong = b.handshaker.respond(ping, a.address, conn);
      const { reply, session } = a.handshaker.confirm(pong, conn);
      assert.ok(session.resumed && b.handshaker.accept(reply, conn).resumed);
    });

    it("reflection: B's MAC sent back as A's is refused", () => {
      handshake(a, b, {}, true);
      const conn = {};
      const pong = b.handshaker.respond(a.handshaker.initiate(b.address, conn, b.identity.idHex), a.address, conn);
      assert.ok(pong.mac !== undefined);
      assert.throws(() => b.handshaker.accept({ type: 'pong-back', echo: pong.nonce, mac: pong.mac }, conn), { code: 'ERR_AUTH_SIGNATURE' });
    });

    it('another peer naming a ticket it saw in the clear gets a full handshake, as itself', () => {
      handshake(a, b, {}, true);
      const ticket = a.handshaker.initiate(b.address, {}, b.identity.idHex).resume!;
      const conn = {};
      const ping = { ...c.handshaker.initiate(b.address, conn, b.identity.idHex), resume: ticket };
      const pong = b.handshaker.respond(ping, c.address, conn);
      assert.ok(pong.signature !== undefined && pong.mac === undefined);
      const { reply, session } = c.handshaker.confirm(pong, conn);
      const atB = b.handshaker.accept(reply, conn);
      assert.ok(!session.resumed && !atB.resumed);
      assert.equal(atB.peer.idHex, c.identity.idHex);
    });

    it('a forged MAC, a MAC nobody offered, and two proofs at once are refused', () => {
      handshake(a, b, {}, true);
      const conn = {};
      const pong = b.handshaker.respond(a.handshaker.initiate(b.address, conn, b.identity.idHex), a.address, conn);
      assert.throws(() => a.handshaker.confirm({ ...pong, mac: new Uint8Array(32) }, conn), { code: 'ERR_AUTH_SIGNATURE' });
      // A dial that offered no ticket (no expected peer) takes no MAC, whatever B thinks.
      const conn2 = {};
      const full = b.handshaker.respond(a.handshaker.initiate(b.address, conn2), a.address, conn2);
      const { signature, ...unsigned } = full;
      assert.ok(signature !== undefined);
      assert.throws(() => a.handshaker.confirm({ ...unsigned, mac: new Uint8Array(32) }, conn2), { code: 'ERR_AUTH_MALFORMED' });
      const conn3 = {};
      const both = b.handshaker.respond(a.handshaker.initiate(b.address, conn3, b.identity.idHex), a.address, conn3);
      assert.throws(() => a.handshaker.confirm({ ...both, signature: new Uint8Array(64) }, conn3), { code: 'ERR_AUTH_MALFORMED' });
      assert.throws(() => b.handshaker.respond({ ...a.handshaker.initiate(b.address, {}), resume: new Uint8Array(15) }, a.address, {}), {
        code: 'ERR_AUTH_MALFORMED',
      });
    });

    it('resuming never extends a secret: a chain of resumed sessions ends an hour after its full handshake', () => {
      handshake(a, b, {}, true);
      for (const minute of [20, 40, 59]) {
        clock.now = minute * 60_000;
        assert.equal(handshake(a, b, {}, true).sessionA.resumed, true, `resumed at minute ${minute}`);
      }
      clock.now = 60 * 60_000 + 1;
      const late = handshake(a, b, {}, true);
      assert.ok(!late.sessionA.resumed && !late.sessionB.resumed, 'a full handshake once the hour is over');
      clock.now += 30 * 60_000;
      assert.equal(handshake(a, b, {}, true).sessionA.resumed, true, 'which starts a new hour');
    });

    it('an expired, forgotten or never-issued ticket falls back to a full handshake', () => {
      handshake(a, b, {}, true);
      clock.now += 3_600_001;
      assert.equal(handshake(a, b, {}, true).sessionA.resumed, false, 'expired');
      assert.equal(handshake(a, b, {}, true).sessionA.resumed, true);
      // B restarts: a new handshaker with the same key remembers nothing.
      const restarted = { ...b, handshaker: new Handshaker({ identity: b.identity, record: () => b.record, cache: { now: () => clock.now } }) };
      const after = handshake(a, restarted, {}, true);
      assert.ok(after.ping.resume !== undefined && !after.sessionA.resumed && !after.sessionB.resumed);
      assert.equal(handshake(a, restarted, {}, true).sessionA.resumed, true);
    });

    it('secrets are bounded: past capacity the oldest peer is forgotten; capacity 0 keeps none', () => {
      const small = node('small', clock, { resumable: 2 });
      const peers = [a, b, c];
      for (const peer of peers) handshake(small, peer, {}, true);
      assert.equal(small.handshaker.resumable, 2);
      assert.equal(handshake(small, a, {}, true).sessionA.resumed, false, 'a was the oldest');
      assert.equal(handshake(small, c, {}, true).sessionA.resumed, true);
      const none = node('none', clock, { resumable: 0 });
      handshake(none, a, {}, true);
      assert.equal(handshake(none, a, {}, true).sessionA.resumed, false);
      assert.equal(none.handshaker.resumable, 0);
    });
  });
});

describe('key schedule and transcript', () => {
  const filled = (length: number, byte: number): Uint8Array => new Uint8Array(length).fill(byte);
  type Fields = Parameters<typeof transcriptOf>;
  const base: Fields = [filled(32, 1), filled(32, 2), filled(32, 3), filled(32, 4), filled(32, 5), filled(32, 6), '/memory/b', '/memory/a', ['ca', 'cb'], filled(16, 7)];
  const flip = (bytes: Uint8Array): Uint8Array => {
    const copy = Uint8Array.from(bytes);
    copy[copy.length - 1]! ^= 1;
    return copy;
  };

  it('the transcript names every field, the channel ids and the ticket among them: changing any one changes it', () => {
    const variants: Fields[] = [base];
    base.forEach((value, at) => {
      const changed = (next: Fields[number]): void => {
        const fields = [...base] as Fields;
        fields[at] = next;
        variants.push(fields);
      };
      if (value instanceof Uint8Array) changed(flip(value));
      else if (typeof value === 'string') changed(`${value}x`);
      if (at === 8) {
        changed(undefined);
        changed(['cb', 'ca']);
      }
      if (at === 9) changed(undefined);
    });
    // Moving characters across a field boundary is a change too.
    variants.push([...base.slice(0, 6), '/memory/', 'b/memory/a', ...base.slice(8)] as unknown as Fields);
    const transcripts = new Set(variants.map((fields) => Buffer.from(transcriptOf(...fields)).toString('hex')));
    assert.equal(transcripts.size, variants.length);
  });

  it("a resumed session's keys need the resumption secret: without it, or with another one, no key is the same", () => {
    const exchanged = filled(32, 9);
    const transcript = transcriptOf(...base);
    const secret = filled(32, 10);
    const resumed = sessionKeys(exchanged, transcript, secret);
    assert.deepEqual(sessionKeys(exchanged, transcript, Uint8Array.from(secret)), resumed, 'the same inputs give the same keys, both sides alike');
    const outputs = (keys: ReturnType<typeof sessionKeys>): Uint8Array[] => [keys.aToB, keys.bToA, keys.nextSecret, keys.macKey, keys.ticket];
    for (const other of [sessionKeys(exchanged, transcript, undefined), sessionKeys(exchanged, transcript, flip(secret)), sessionKeys(flip(exchanged), transcript, secret), sessionKeys(exchanged, flip(transcript), secret)]) {
      outputs(other).forEach((key, at) => assert.notDeepEqual(key, outputs(resumed)[at]));
    }
    // Each output is a key of its own.
    const all = outputs(resumed).map((key) => Buffer.from(key).toString('hex'));
    assert.equal(new Set(all).size, all.length);
    assert.equal(sessionKeys(exchanged, transcript, undefined).id, resumed.id, 'the id names the transcript only');
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
    // The same for a resumed handshake: its MACs cover the same transcript.
    const first = {};
    const opened = b.handshaker.respond(a.handshaker.initiate(b.address, first, b.identity.idHex, atA), a.address, first, atB);
    b.handshaker.accept(a.handshaker.confirm(opened, first).reply, first);
    const again = {};
    const relayed = b.handshaker.respond(a.handshaker.initiate(b.address, again, b.identity.idHex, atA), a.address, again, { ...atB, localId: 'p2p-elsewhere' });
    assert.ok(relayed.mac !== undefined);
    assert.throws(() => a.handshaker.confirm(relayed, again), { code: 'ERR_AUTH_SIGNATURE' });
  });
});
