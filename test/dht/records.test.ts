import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NodeIdentity } from '../../src/node/identity.ts';
import {
  checkReplacement,
  immutableRecord,
  mutableRecord,
  plainRecord,
  validateRecord,
  type NamespaceValidator,
} from '../../src/dht/records.ts';

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const SEED = Number(process.env.FC_SEED ?? 4401);

describe('DHT records', () => {
  const owner = NodeIdentity.generate();
  const other = NodeIdentity.generate();

  it('valid records of every kind pass', () => {
    const validators = new Map<string, NamespaceValidator>([['names', () => {}]]);
    for (const record of [immutableRecord(text('v')), mutableRecord(owner, text('v'), 3, text('salt')), plainRecord('names', 'alice', text('v'))]) {
      assert.deepEqual(validateRecord(record, undefined, validators), record);
    }
  });

  it('an immutable record whose key is not the hash of its value is refused', () => {
    assert.throws(() => validateRecord({ ...immutableRecord(text('a')), value: text('b') }), { code: 'ERR_RECORD_KEY_MISMATCH' });
  });

  it('unsigned and wrong-key mutable records are refused', () => {
    const record = mutableRecord(owner, text('v'), 1);
    assert.throws(() => validateRecord({ ...record, signature: new Uint8Array(64) }), { code: 'ERR_RECORD_SIGNATURE' });
    // Signed by another key while naming the owner's key (and so the owner's slot).
    const forged = { ...mutableRecord(other, text('v'), 1), key: record.key, publicKey: owner.publicKey };
    assert.throws(() => validateRecord(forged), { code: 'ERR_RECORD_SIGNATURE' });
    // Another key's valid record moved under the owner's key.
    assert.throws(() => validateRecord({ ...mutableRecord(other, text('v'), 1), key: record.key }), { code: 'ERR_RECORD_KEY_MISMATCH' });
  });

  it('lower seq and same seq with another value are refused; a higher seq replaces', () => {
    const stored = mutableRecord(owner, text('v5'), 5);
    assert.throws(() => checkReplacement(stored, mutableRecord(owner, text('v4'), 4)), { code: 'ERR_RECORD_SEQ_TOO_LOW' });
    assert.throws(() => checkReplacement(stored, mutableRecord(owner, text('other'), 5)), { code: 'ERR_RECORD_SEQ_REUSED' });
    assert.equal(checkReplacement(stored, mutableRecord(owner, text('v5'), 5)), 'same');
    assert.equal(checkReplacement(stored, mutableRecord(owner, text('v6'), 6)), 'replace');
  });

  it('oversize values and salts are refused, and limits are configurable', () => {
    const big = new Uint8Array(64 * 1024 + 1);
    assert.throws(() => validateRecord(immutableRecord(big)), { code: 'ERR_RECORD_TOO_LARGE' });
    assert.ok(validateRecord(immutableRecord(big), { maxValueBytes: 128 * 1024, maxSaltBytes: 64 }));
    assert.throws(() => validateRecord(mutableRecord(owner, text('v'), 1, new Uint8Array(65))), { code: 'ERR_RECORD_INVALID' });
  });

  it('plain records need their namespace validator, which may refuse them', () => {
    const record = plainRecord('names', 'alice', text('v'));
    assert.throws(() => validateRecord(record), { code: 'ERR_RECORD_NAMESPACE' });
    const refuse = new Map<string, NamespaceValidator>([
      [
        'names',
        () => {
          throw new Error('no');
        },
      ],
    ]);
    assert.throws(() => validateRecord(record, undefined, refuse), { code: 'ERR_RECORD_REFUSED' });
  });

  it('malformed input never validates and never throws anything but a RecordError', () => {
    for (const bad of [null, 42, 'record', [], {}, { kind: 'immutable' }, { kind: 'weird', key: new Uint8Array(32), value: new Uint8Array(0) }]) {
      assert.throws(() => validateRecord(bad), { code: 'ERR_RECORD_INVALID' });
    }
  });

  it(`any change to a signed mutable record's value, seq or salt breaks it (fast-check seed ${SEED})`, () => {
    const record = mutableRecord(owner, text('value'), 9, text('salt'));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.record({ value: fc.uint8Array({ maxLength: 64 }) }),
          fc.record({ seq: fc.nat({ max: 1_000_000 }) }),
          fc.record({ salt: fc.uint8Array({ maxLength: 64 }) }),
        ),
        (change) => {
          const changed = { ...record, ...change };
          const same = JSON.stringify([...changed.value, changed.seq, ...changed.salt]) === JSON.stringify([...record.value, record.seq, ...record.salt]);
          if (same) return;
          assert.throws(() => validateRecord(changed), (err: { code?: string }) => ['ERR_RECORD_SIGNATURE', 'ERR_RECORD_KEY_MISMATCH'].includes(err.code ?? ''));
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});
