import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { immutableRecord, mutableKey, mutableRecord, type DhtRecord } from '../../src/dht/records.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { MyDhtNode } from '../../src/node/node.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import type { KvStats } from '../../services/kv.ts';
import { chain, holdLocally, seededIdentities, stopAll } from '../helpers/graphs.ts';

const SEED = Number(process.env.RECORD_ATTACKS_SEED ?? 7);
const LYING_KV = serviceModule(import.meta.url, '../fixtures/lying-kv-service.ts');
const MODES = ['iterative', 'proxy', 'async', 'mixed:1'] as const;
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

const author = NodeIdentity.fromSeed(createHash('sha256').update(`${SEED}/author`).digest());
const stranger = NodeIdentity.fromSeed(createHash('sha256').update(`${SEED}/stranger`).digest());

interface Attack {
  name: string;
  /** What the holder has before the attack, if anything. */
  honest?: DhtRecord;
  forged: DhtRecord;
  code: string;
}

/** The five attacks on records, each under its own key. */
function attacks(): Attack[] {
  const salt = (name: string): Uint8Array => utf8(`attack/${name}`);
  const honest = (name: string): DhtRecord => mutableRecord(author, utf8('the honest value'), 5, salt(name));
  const unsigned = mutableRecord(author, utf8('no signature'), 6, salt('unsigned'));
  // Signed by a stranger while naming the author's key: the key derives from the author's.
  const wrongKey = { ...mutableRecord(stranger, utf8('not yours'), 6, salt('wrong-key')), publicKey: author.publicKey, key: mutableKey(author.publicKey, salt('wrong-key')) };
  return [
    { name: 'unsigned', honest: honest('unsigned'), forged: { ...unsigned, signature: new Uint8Array(64) }, code: 'ERR_RECORD_SIGNATURE' },
    { name: 'wrong-key', honest: honest('wrong-key'), forged: wrongKey, code: 'ERR_RECORD_SIGNATURE' },
    { name: 'lower-seq', honest: honest('lower-seq'), forged: mutableRecord(author, utf8('an older value'), 3, salt('lower-seq')), code: 'ERR_RECORD_SEQ_TOO_LOW' },
    {
      name: 'same-seq-other-value',
      honest: honest('same-seq-other-value'),
      forged: mutableRecord(author, utf8('a fork at the same seq'), 5, salt('same-seq-other-value')),
      code: 'ERR_RECORD_SEQ_REUSED',
    },
    { name: 'oversize', forged: immutableRecord(new Uint8Array(64 * 1024 + 1)), code: 'ERR_RECORD_TOO_LARGE' },
  ];
}

/** What a node holds under `key` in its own store. */
async function held(node: MyDhtNode, key: Uint8Array): Promise<DhtRecord | null> {
  return (await node.local({ type: 'get', key } as { type: string })) as DhtRecord | null;
}

function same(a: DhtRecord | null | undefined, b: DhtRecord | null | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return a === b || (a ?? null) === (b ?? null);
  return Buffer.compare(a.value, b.value) === 0 && (a.kind !== 'mutable' || (b.kind === 'mutable' && a.seq === b.seq));
}

describe(`record attacks (seed ${SEED})`, function () {
  this.timeout(60_000);

  for (const attack of attacks()) {
    describe(attack.name, () => {
      // Four nodes toward the key: the attacker at one end, the holder three hops away.
      let nodes: MyDhtNode[] = [];
      beforeEach(async () => {
        nodes = await chain(seededIdentities(4, SEED, attack.name), attack.forged.key);
        if (attack.honest !== undefined) for (const node of nodes) await holdLocally(node, attack.honest);
      });
      afterEach(() => stopAll(nodes));

      it(`put straight to the holder is refused with ${attack.code}, and nothing changes`, async () => {
        const [attacker, , , holder] = nodes as [MyDhtNode, MyDhtNode, MyDhtNode, MyDhtNode];
        await attacker.dial(holder.addresses[0]!);
        const { results } = await attacker.query({ peers: [holder.id], command: { type: 'put', record: attack.forged } as { type: string }, expect: 1 });
        assert.equal(results[0]?.ok, false);
        assert.equal(results[0]?.code, attack.code);
        assert.ok(same(await held(holder, attack.forged.key), attack.honest ?? null), 'the holder keeps what it had');
      });

      for (const mode of MODES) {
        it(`put ${mode} through the 3-hop chain: refused by every node it reaches, 0 stored`, async () => {
          await assert.rejects(nodes[0]!.put(attack.forged, { mode }), { code: 'ERR_PUT_FAILED' });
          for (const [i, node] of nodes.entries()) {
            assert.ok(same(await held(node, attack.forged.key), attack.honest ?? null), 'nothing stored');
            // The put reached every node of the chain, the holder 3 hops away included, and each refused it.
            assert.equal(((await node.local({ type: 'stats' })) as KvStats).refused[attack.code], 1, `node ${i} refused it`);
          }
        });
      }
    });
  }

  // A lying holder hands out forged records (and old ones) 3 hops from the asker.
  const forgeries = attacks().filter((attack) => attack.name !== 'same-seq-other-value');
  for (const mode of MODES) {
    it(`get ${mode}: a lying holder 3 hops away gets no forged, oversize or older record past the asker`, async () => {
      for (const attack of forgeries) {
        const records = { [Buffer.from(attack.forged.key).toString('hex')]: attack.forged };
        const nodes = await chain(seededIdentities(4, SEED, `liar-${attack.name}`), attack.forged.key, (i) =>
          i === 3 ? { global: LYING_KV, globalConfig: { records } } : {},
        );
        try {
          // For lower-seq, the honest newer version is one hop before the liar.
          if (attack.name === 'lower-seq') await holdLocally(nodes[2]!, attack.honest!);
          const got = await nodes[0]!.get(attack.forged.key, { mode });
          if (attack.name === 'lower-seq') assert.ok(same(got, attack.honest!), `${attack.name}: the newer honest record wins`);
          else assert.equal(got, null, `${attack.name}: nothing returned`);
        } finally {
          await stopAll(nodes);
        }
      }
    });
  }
});
