import assert from 'node:assert/strict';
import { DEFAULT_RECORD_LIMITS } from '../../src/dht/records.ts';
import type { SessionMessage } from '../../src/node/messages.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import { PeerRecord } from '../../src/node/peer-record.ts';
import { silentLogger } from '../../src/runtime/logger.ts';
import { QueryTable } from '../../services/api/query-table.ts';
import { Seeker } from '../../services/api/seek.ts';

describe('a seek hop', () => {
  it('whose forward cannot start (its query table is full) still answers, and never rejects', async () => {
    const self = NodeIdentity.generate();
    const origin = PeerRecord.create(NodeIdentity.generate(), ['/memory/origin'], 0);
    // A contact closer to the target than this hop: the hop forwards to it, proxied.
    const closer = PeerRecord.create(NodeIdentity.generate(), ['/memory/closer'], 0);
    const sent: { peer: string; message: SessionMessage }[] = [];
    const seeker = new Seeker({
      table: new QueryTable(0),
      self: self.id,
      selfHex: Buffer.from(self.id).toString('hex'),
      k: 20,
      limits: DEFAULT_RECORD_LIMITS,
      connect: async () => {},
      send: async (peer, message) => void sent.push({ peer, message }),
      closest: async () => [closer],
      localValue: async () => null,
      learn: () => {},
      groupOf: () => undefined,
      perGroup: Number.POSITIVE_INFINITY,
      log: silentLogger,
    });
    const seek = {
      target: closer.id,
      want: 'value',
      depth: 1,
      hopLimit: 4,
      proxyHops: 4,
      fanout: 3,
      history: [origin.id],
      origin: origin.wire,
      originQuery: 7,
      timeoutMs: 1_000,
    };
    await seeker.hop(origin.idHex, 5, seek);
    assert.equal(sent.length, 1);
    const { peer, message } = sent[0]!;
    assert.equal(peer, origin.idHex);
    assert.equal(message.type, 'reply');
    const reply = message as Extract<SessionMessage, { type: 'reply' }>;
    assert.equal(reply.query, 5);
    assert.equal(reply.ok, true, 'an answer with what the hop knows');
    assert.equal((reply.value as { peers: unknown[] }).peers.length, 1, 'the contact it could not forward to, named');
  });
});
