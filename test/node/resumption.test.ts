import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ResumptionCache } from '../../src/node/resumption.ts';

const bytes = (length: number): Uint8Array => new Uint8Array(randomBytes(length));

describe('resumption cache', () => {
  const clock = { now: 0 };
  const cache = (capacity: number): ResumptionCache => new ResumptionCache({ capacity, ttlMs: 1000, now: () => clock.now });
  const store = (into: ResumptionCache, peer: string): Uint8Array => {
    const ticket = bytes(16);
    into.store(peer, bytes(32), bytes(32), ticket);
    return ticket;
  };

  beforeEach(() => {
    clock.now = 0;
  });

  it('finds a secret by peer and by ticket, and a ticket only for the peer it was made with', () => {
    const secrets = cache(4);
    const ticket = store(secrets, 'p1');
    assert.equal(secrets.forPeer('p1')?.peer, 'p1');
    assert.equal(secrets.forTicket(ticket, 'p1')?.peer, 'p1');
    assert.equal(secrets.forTicket(ticket, 'p2'), undefined);
    assert.equal(secrets.forTicket(bytes(16), 'p1'), undefined);
  });

  it("a newer session's secret replaces the older one, under both of its names", () => {
    const secrets = cache(4);
    const old = store(secrets, 'p1');
    const fresh = store(secrets, 'p1');
    assert.equal(secrets.forTicket(old, 'p1'), undefined);
    assert.equal(secrets.forTicket(fresh, 'p1')?.peer, 'p1');
    assert.equal(secrets.size, 1);
  });

  it('past capacity the oldest goes, by peer and by ticket', () => {
    const secrets = cache(2);
    const tickets = ['p1', 'p2', 'p3'].map((peer) => store(secrets, peer));
    assert.equal(secrets.size, 2);
    assert.equal(secrets.forPeer('p1'), undefined);
    assert.equal(secrets.forTicket(tickets[0]!, 'p1'), undefined);
    assert.equal(secrets.forTicket(tickets[2]!, 'p3')?.peer, 'p3');
  });

  it('a secret stored from a resumed session keeps the deadline of the one it was proved with', () => {
    const secrets = cache(4);
    store(secrets, 'p1');
    clock.now = 900;
    const proved = secrets.forPeer('p1')!;
    secrets.store('p1', bytes(32), bytes(32), bytes(16), proved);
    clock.now = 1000;
    assert.equal(secrets.forPeer('p1'), undefined);
  });

  it('keeps copies: changing the bytes it was given changes nothing it holds', () => {
    const secrets = cache(4);
    const secret = bytes(32);
    const ticket = bytes(16);
    const kept = { secret: Uint8Array.from(secret), ticket: Uint8Array.from(ticket) };
    secrets.store('p1', secret, bytes(32), ticket);
    secret.fill(0);
    ticket.fill(0);
    assert.deepEqual(secrets.forTicket(kept.ticket, 'p1')?.secret, kept.secret);
  });
});
