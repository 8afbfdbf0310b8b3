import assert from 'node:assert/strict';
import { createServiceSystem } from '../../src/assemble.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import { PeerRecord } from '../../src/node/peer-record.ts';
import type { NodeProtocols } from '../../src/node/protocols.ts';
import { serviceModule } from '../../src/runtime/service.ts';

const PEER_STORE = serviceModule(import.meta.url, '../../services/peer-store.ts');
const WRITE = serviceModule(import.meta.url, '../fixtures/recording-write.ts');

const records = (count: number): PeerRecord[] =>
  Array.from({ length: count }, (_, i) => PeerRecord.create(NodeIdentity.generate(), [`/memory/peer-${i}`], 1));

// Every lookup's answers are learned: the known peers must stay bounded, whatever a network's size.
describe('peer store: known peers are bounded', () => {
  it('past maxPeers the peer learned longest ago goes; a session is never forgotten', async () => {
    const system = createServiceSystem();
    const self = NodeIdentity.generate().idHex;
    await system.start([
      { name: 'write', module: WRITE, spawner: 'same-loop', config: null },
      { name: 'peer-store', module: PEER_STORE, spawner: 'same-loop', config: { self, maxPeers: 5, livenessIntervalMs: 600_000 } },
    ]);
    try {
      const store = system.get<NodeProtocols['peer-store']>('peer-store');
      const known = async (): Promise<string[]> => (await store.call({ type: 'list' })).map((peer) => peer.id);
      const first = records(5);
      await store.call({ type: 'learn', records: first });
      // The first one learned has a session: it stays however many come after it.
      await store.call({ type: 'connected', record: first[0]!, conn: 'c1' });
      const later = records(7);
      await store.call({ type: 'learn', records: later });
      const ids = await known();
      assert.equal(ids.length, 5);
      assert.ok(ids.includes(first[0]!.idHex), 'the session is kept');
      assert.deepEqual(
        ids.filter((id) => id !== first[0]!.idHex).sort(),
        later.slice(-4).map((record) => record.idHex).sort(),
        'the most recently learned are kept',
      );
    } finally {
      await system.stop();
    }
  });
});
