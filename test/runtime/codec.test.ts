import assert from 'node:assert/strict';
import { Decoder } from 'cbor-x';
import fc from 'fast-check';
import sinon from 'sinon';
import { Codec, DEFAULT_CODEC_LIMITS } from '../../src/runtime/codec.ts';
import { DecodeError, EncodeError, FrameTooLargeError } from '../../src/runtime/errors.ts';

/** Fixed so that a failure reproduces; set FC_SEED to explore other inputs. */
const SEED = Number(process.env.FC_SEED ?? 0x5eed_c0de);
/** Mutated and random frames per run; security.md's bar is 10^6, so run FUZZ_RUNS=1000000 before a release. */
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
/** The nesting a hostile peer sends to overflow a recursive decoder's stack. */
const HOSTILE_DEPTH = 10_000;
const MiB = 1024 * 1024;

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const ascii = (text: string): string => Buffer.from(text, 'latin1').toString('hex');

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** `head` repeated `times`, then `middle`, then `tail` repeated `times`. */
function nest(head: string, times: number, middle: string, tail = ''): Uint8Array {
  return concat(hex(head.repeat(times)), hex(middle), hex(tail.repeat(times)));
}

/** The encoder's result shares its block with later results; copy it before keeping it. */
const copy = (bytes: Uint8Array): Uint8Array => Uint8Array.from(bytes);

function describeThrown(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}(${(err as { code?: string }).code ?? ''}): ${err.message}` : String(err);
}

/** Asserts that `run` throws a DecodeError, with `code` when given, and nothing else. */
function assertDecodeError(run: () => unknown, code?: string): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof DecodeError, `expected a DecodeError, got ${describeThrown(err)}`);
    if (code !== undefined) assert.equal(err.code, code, describeThrown(err));
    return true;
  });
}

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

/** The standard message of the wire protocol's tests. */
const PUT = { type: 'put', key: bytesOf(32, 1), value: bytesOf(100, 7) };

describe('Codec', () => {
  let codec: Codec;
  beforeEach(() => (codec = new Codec()));
  afterEach(() => sinon.restore());

  describe('round trips', () => {
    const values: [string, unknown][] = [
      ['the standard put message with a 32-byte key and a 100-byte value', PUT],
      ['nested objects and arrays', { a: { b: { c: [1, [2, [3, { d: 'deep' }]]] } }, list: [{ x: 1 }, { y: [] }] }],
      ['a Uint8Array', bytesOf(300, 3)],
      ['an empty Uint8Array', new Uint8Array(0)],
      ['a Map with string, number and object keys', new Map<unknown, unknown>([['a', 1], [2, 'b'], [{ k: 1 }, [3]]])],
      ['bigints inside and beyond 64 bits', [0n, 1n, -1n, 2n ** 63n, -(2n ** 63n), 2n ** 64n - 1n, 2n ** 64n, -(2n ** 64n) - 1n, 3n ** 100n]],
      ['strings: empty, ASCII, multi-byte and astral', ['', 'hello', 'héllo wörld', '漢字', '👩‍💻🚀', 'x'.repeat(70_000)]],
      ['numbers: integers, floats, extremes, NaN and infinities', [0, 1, -1, 23, 24, 255, 256, 65_536, 2 ** 32, -(2 ** 32) - 1, Number.MAX_SAFE_INTEGER, 1.5, 0.1, -1e308, 5e-324, NaN, Infinity, -Infinity]],
      ['arrays: empty, long and of mixed types', [[], Array.from({ length: 1000 }, (_, i) => i), [1, 'two', null, true, bytesOf(3, 0)]]],
      ['null, undefined, true and false', [null, undefined, true, false]],
      ['an object holding null and undefined', { nothing: null, missing: undefined }],
      ['an empty object', {}],
      ['a Set', new Set([1, 'a', null])],
    ];
    for (const [name, value] of values) {
      it(`${name}`, () => {
        assert.deepStrictEqual(codec.decode(codec.encode(value)), value);
      });
    }

    it('null and undefined at the top level', () => {
      assert.equal(codec.decode(codec.encode(null)), null);
      assert.equal(codec.decode(codec.encode(undefined)), undefined);
    });

    it('an encoded result stays valid after later encodes reuse the encoder', () => {
      const values = Array.from({ length: 2000 }, (_, i) => ({ i, data: bytesOf(i % 97, i) }));
      const encoded = values.map((value) => codec.encode(value));
      encoded.forEach((bytes, i) => assert.deepStrictEqual(codec.decode(bytes), values[i]));
    });

    it('decodeSequence returns every item of a CBOR sequence in order', () => {
      const items: unknown[] = [PUT, 1, 'two', [3], new Map([['four', 4]]), null, 5n];
      const sequence = concat(...items.map((item) => copy(codec.encode(item))));
      assert.deepStrictEqual(codec.decodeSequence(sequence), items);
    });

    it('decodeSequence of a single item returns a one-element array', () => {
      assert.deepStrictEqual(codec.decodeSequence(codec.encode(PUT)), [PUT]);
    });

    it('decodeSequence of no bytes returns an empty array', () => {
      assert.deepStrictEqual(codec.decodeSequence(new Uint8Array(0)), []);
    });

    it('decode of no bytes is ERR_DECODE_MALFORMED', () => {
      assertDecodeError(() => codec.decode(new Uint8Array(0)), 'ERR_DECODE_MALFORMED');
    });
  });

  describe('decoded byte strings are copies', () => {
    it('tagged and untagged byte strings share nothing with the bytes decoded, and are plain Uint8Arrays', () => {
      // A Buffer encodes as an untagged byte string, a Uint8Array as tag 64.
      const value = { id: bytesOf(32, 1), value: bytesOf(100, 2), raw: Buffer.from(bytesOf(40, 3)) };
      const source = Buffer.from(codec.encode(value));
      const decoded = codec.decode(source) as Record<string, Uint8Array>;
      source.fill(0);
      assert.deepStrictEqual(decoded.id, bytesOf(32, 1));
      assert.deepStrictEqual(decoded.value, bytesOf(100, 2));
      assert.deepStrictEqual(decoded.raw, bytesOf(40, 3));
      for (const bytes of Object.values(decoded)) {
        assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
        assert.notEqual(bytes.buffer, source.buffer);
      }
    });

    it('decodeSequence copies too', () => {
      const source = concat(copy(codec.encode(bytesOf(70, 4))), copy(codec.encode(bytesOf(10, 5))));
      const [a, b] = codec.decodeSequence(source) as Uint8Array[];
      source.fill(0);
      assert.deepStrictEqual([a, b], [bytesOf(70, 4), bytesOf(10, 5)]);
    });

    it('tag 64 around anything but a byte string is ERR_DECODE_MALFORMED', () => {
      // d8 40 = tag 64, then a text string, an array, an integer.
      for (const content of ['63616263', '83010203', '18ff']) assertDecodeError(() => codec.decode(hex(`d840${content}`)), 'ERR_DECODE_MALFORMED');
    });
  });

  describe('nesting deeper than maxDepth', () => {
    const hostile: [string, Uint8Array][] = [
      ['arrays', nest('81', HOSTILE_DEPTH, '01')],
      ['maps', nest('a101', HOSTILE_DEPTH, '01')],
      ['maps nested in key position', nest('a1', HOSTILE_DEPTH, '01', '01')],
      ['tags', nest('d840', HOSTILE_DEPTH, '01')],
      ['indefinite arrays', nest('9f', HOSTILE_DEPTH, '01', 'ff')],
      ['indefinite maps', nest('bf01', HOSTILE_DEPTH, '01', 'ff')],
      ['arrays, maps, tags and indefinite arrays in turn', nest('81a101d8409f', HOSTILE_DEPTH / 4, '01', 'ff')],
      ['unclosed indefinite arrays (truncated too)', nest('9f', HOSTILE_DEPTH, '')],
    ];
    for (const [name, bytes] of hostile) {
      it(`${HOSTILE_DEPTH.toLocaleString('en')}-deep ${name}: ERR_DECODE_DEPTH from decode and decodeSequence, before cbor-x runs`, () => {
        const decode = sinon.spy(Decoder.prototype, 'decode');
        const decodeMultiple = sinon.spy(Decoder.prototype, 'decodeMultiple');
        assertDecodeError(() => codec.decode(bytes), 'ERR_DECODE_DEPTH');
        assertDecodeError(() => codec.decodeSequence(bytes), 'ERR_DECODE_DEPTH');
        assert.equal(decode.callCount + decodeMultiple.callCount, 0);
      });
    }

    it('exactly maxDepth levels decode; one more is ERR_DECODE_DEPTH', () => {
      const depth = DEFAULT_CODEC_LIMITS.maxDepth;
      let expected: unknown = 1;
      for (let i = 0; i < depth; i++) expected = [expected];
      assert.deepStrictEqual(codec.decode(nest('81', depth, '01')), expected);
      assertDecodeError(() => codec.decode(nest('81', depth + 1, '01')), 'ERR_DECODE_DEPTH');
      assertDecodeError(() => codec.decode(nest('d840', depth + 1, '01')), 'ERR_DECODE_DEPTH');
    });

    it('a lower maxDepth is honoured', () => {
      const shallow = new Codec({ maxDepth: 2 });
      assert.deepStrictEqual(shallow.decode(codec.encode([[1]])), [[1]]);
      assertDecodeError(() => shallow.decode(codec.encode([[[1]]])), 'ERR_DECODE_DEPTH');
      assertDecodeError(() => shallow.decode(codec.encode({ a: { b: { c: 1 } } })), 'ERR_DECODE_DEPTH');
    });

    it('with maxDepth raised far above what cbor-x can recurse, deep nesting is still a DecodeError, never a RangeError', () => {
      const permissive = new Codec({ maxDepth: 1_000_000 });
      assertDecodeError(() => permissive.decode(nest('81', 200_000, '01')));
    });
  });

  describe('lying lengths are refused before anything is allocated', () => {
    const lies: [string, string][] = [
      ['a byte string claiming 2^32-1 bytes', '5a ffffffff'],
      ['a text string claiming 2^32-1 bytes', '7a ffffffff'],
      ['a byte string claiming 2^53 bytes', '5b 0020000000000000'],
      ['a text string claiming 2^53 bytes', '7b 0020000000000000'],
      ['a byte string claiming 2^64-1 bytes', '5b ffffffffffffffff'],
      ['a byte string claiming 1,000 bytes with 10 present', '59 03e8' + '00'.repeat(10)],
      ['an array claiming 2^32 items', '9b 0000000100000000'],
      ['an array claiming 2^32-1 items', '9a ffffffff 01 02 03'],
      ['an array claiming 2^64-1 items', '9b ffffffffffffffff'],
      ['a map claiming 2^32 pairs', 'bb 0000000100000000'],
      ['a map claiming 5 pairs with 4 bytes left', 'a5 01 02 03 04'],
      ['a map claiming 3 pairs with 5 bytes left (an odd count of items)', 'a3 01 02 03 04 05'],
      ['a lying byte string nested in an array', '82 01 5a ffffffff'],
      ['a lying array nested in a map', 'a1 61 61 9b 0000000100000000'],
      ['a lying chunk inside an indefinite byte string', '5f 5a ffffffff ff'],
    ];
    for (const [name, bytes] of lies) {
      it(`${name}: ERR_DECODE_MALFORMED, cbor-x never called, array buffers grow < 1 MiB over 100 attempts`, () => {
        const input = hex(bytes);
        const decode = sinon.spy(Decoder.prototype, 'decode');
        const decodeMultiple = sinon.spy(Decoder.prototype, 'decodeMultiple');
        const before = process.memoryUsage();
        for (let i = 0; i < 100; i++) {
          assertDecodeError(() => codec.decode(input), 'ERR_DECODE_MALFORMED');
          assertDecodeError(() => codec.decodeSequence(input), 'ERR_DECODE_MALFORMED');
        }
        const after = process.memoryUsage();
        assert.equal(decode.callCount + decodeMultiple.callCount, 0, 'the structural scan must refuse the bytes');
        assert.ok(after.arrayBuffers - before.arrayBuffers < MiB, `array buffers grew by ${after.arrayBuffers - before.arrayBuffers} bytes`);
        assert.ok(after.rss - before.rss < 64 * MiB, `rss grew by ${after.rss - before.rss} bytes`);
      });
    }

    it('input longer than maxBytes is ERR_FRAME_TOO_LARGE before scanning', () => {
      const small = new Codec({ maxBytes: 16 });
      const input = copy(codec.encode(bytesOf(14, 0))); // tag 64, a one-byte head and 14 bytes: 17
      for (const run of [() => small.decode(input), () => small.decodeSequence(input)]) {
        assert.throws(run, (err: unknown) => err instanceof FrameTooLargeError && err.code === 'ERR_FRAME_TOO_LARGE');
      }
      assert.deepStrictEqual(small.decode(codec.encode(bytesOf(13, 0))), bytesOf(13, 0)); // exactly 16
    });
  });

  describe('trailing and truncated input', () => {
    it('a complete item followed by another is refused by decode with ERR_DECODE_TRAILING', () => {
      assertDecodeError(() => codec.decode(hex('01 02')), 'ERR_DECODE_TRAILING');
      assertDecodeError(() => codec.decode(concat(codec.encode(PUT), hex('00'))), 'ERR_DECODE_TRAILING');
      assertDecodeError(() => codec.decode(concat(copy(codec.encode(PUT)), copy(codec.encode(PUT)))), 'ERR_DECODE_TRAILING');
    });

    it('an item followed by stray or partial bytes is refused by decode', () => {
      for (const tail of ['ff', '1a 00', '5a ffffffff', '1c', '9f']) {
        const input = concat(copy(codec.encode(PUT)), hex(tail));
        assertDecodeError(() => codec.decode(input));
        assertDecodeError(() => codec.decodeSequence(input));
      }
    });

    const encodings: [string, () => Uint8Array][] = [
      ['the standard put message', () => codec.encode(PUT)],
      ['a nested value with a Map, bigints and strings', () => codec.encode({ m: new Map([['k', [1n, 2n ** 70n]]]), s: 'héllo', n: [1.5, -7, null] })],
      ['a 300-byte string (two-byte length)', () => codec.encode('s'.repeat(300))],
      ['hand-written indefinite containers', () => hex('9f 01 82 02 03 bf 61 61 01 ff ff')],
      ['a 64-bit integer and a double', () => codec.encode([2n ** 64n - 1n, 0.1])],
    ];
    for (const [name, encode] of encodings) {
      it(`every cut point of ${name}: decode and decodeSequence throw a DecodeError`, () => {
        const whole = copy(encode());
        assert.doesNotThrow(() => codec.decode(whole));
        for (let cut = 0; cut < whole.length; cut++) {
          const prefix = whole.subarray(0, cut);
          assertDecodeError(() => codec.decode(prefix));
          if (cut === 0) assert.deepStrictEqual(codec.decodeSequence(prefix), []);
          else assertDecodeError(() => codec.decodeSequence(prefix));
        }
      });
    }

    it('every cut point of a three-item sequence gives the whole items before it, or a DecodeError', () => {
      const items: unknown[] = [PUT, [1, 'two'], { three: 3n }];
      const parts = items.map((item) => copy(codec.encode(item)));
      const whole = concat(...parts);
      const boundaries = new Map<number, number>([[0, 0]]);
      parts.reduce((end, part, i) => (boundaries.set(end + part.length, i + 1), end + part.length), 0);
      for (let cut = 0; cut <= whole.length; cut++) {
        const prefix = whole.subarray(0, cut);
        const complete = boundaries.get(cut);
        if (complete === undefined) assertDecodeError(() => codec.decodeSequence(prefix));
        else assert.deepStrictEqual(codec.decodeSequence(prefix), items.slice(0, complete));
      }
    });
  });

  describe('ill-formed heads', () => {
    it('reserved additional information 28, 29 and 30 under every major type, at the top and nested', () => {
      for (let major = 0; major < 8; major++) {
        for (const info of [28, 29, 30]) {
          const head = (major << 5) | info;
          for (const input of [Uint8Array.of(head), Uint8Array.of(head, 0, 0, 0, 0, 0, 0, 0, 0), Uint8Array.of(0x82, 0x01, head)]) {
            assertDecodeError(() => codec.decode(input), 'ERR_DECODE_MALFORMED');
            assertDecodeError(() => codec.decodeSequence(input), 'ERR_DECODE_MALFORMED');
          }
        }
      }
    });

    const malformed: [string, string][] = [
      ['a stray break at the top level', 'ff'],
      ['a stray break after a complete item', '01 ff'],
      ['a break inside a definite array', '82 01 ff'],
      ['a break in place of a definite map value', 'a1 01 ff'],
      ['an indefinite unsigned integer', '1f'],
      ['an indefinite negative integer', '3f'],
      ['an indefinite integer inside an array', '81 1f'],
      ['an indefinite tag', 'df 01'],
      ['an indefinite text string holding a byte-string chunk', '7f 41 61 ff'],
      ['an indefinite byte string holding a text-string chunk', '5f 61 61 ff'],
      ['an indefinite text string holding an indefinite chunk', '7f 7f 61 61 ff ff'],
      ['an indefinite text string holding an integer', '7f 01 ff'],
      ['an indefinite byte string holding a tag', '5f c2 41 00 ff'],
      ['an indefinite array never closed', '9f 01 02'],
      ['an indefinite map with a key and no value', 'bf 01 ff'],
      ['a one-byte argument that is missing', '18'],
      ['an eight-byte argument with four bytes', '1b 00000000'],
      ['a tag with no content', 'c2'],
    ];
    for (const [name, bytes] of malformed) {
      it(`${name} (${bytes}) is refused by decode and decodeSequence`, () => {
        assertDecodeError(() => codec.decode(hex(bytes)));
        assertDecodeError(() => codec.decodeSequence(hex(bytes)));
      });
    }
  });

  describe('__proto__ and other dangerous keys', () => {
    const PROTO = `69 ${ascii('__proto__')}`;
    const POLLUTE = 'a1 61 78 01'; // { x: 1 }
    const cases: [string, string][] = [
      ['a top-level map', `a1 ${PROTO} ${POLLUTE}`],
      ['a nested map', `a1 61 61 a1 ${PROTO} ${POLLUTE}`],
      ['an indefinite map', `bf ${PROTO} ${POLLUTE} ff`],
      ['a map with __proto__ twice', `a2 ${PROTO} ${POLLUTE} ${PROTO} ${POLLUTE}`],
      ['a map inside an array', `81 a1 ${PROTO} ${POLLUTE}`],
    ];
    for (const [name, bytes] of cases) {
      it(`a __proto__ key in ${name} never changes a prototype`, () => {
        const decoded = codec.decode(hex(bytes));
        const objects: object[] = [];
        const walk = (value: unknown): void => {
          if (typeof value !== 'object' || value === null) return;
          objects.push(value);
          for (const child of Object.values(value)) walk(child);
        };
        walk(decoded);
        assert.ok(objects.length > 0);
        for (const object of objects) {
          const proto = Object.getPrototypeOf(object);
          assert.ok(proto === Object.prototype || proto === Array.prototype, 'prototype replaced');
          assert.ok(!('x' in object) || Object.hasOwn(object, 'x'), 'x inherited from an injected prototype');
        }
        assert.equal(({} as { x?: unknown }).x, undefined, 'Object.prototype polluted');
      });
    }

    it('cbor-x record definitions (tag 0xdfff) are refused from the wire, __proto__ keys and all', () => {
      // A record definition naming ['__proto__', 'x'], reused 40 times (enough for cbor-x to
      // compile a reader for it): our encoder never writes records, so the scan refuses the tag.
      let bytes = `98 28 d9dfff 84 19e000 82 ${PROTO} 61 78 ${POLLUTE} 02`;
      for (let i = 1; i < 40; i++) bytes += ` d9e000 82 ${POLLUTE} 03`;
      assertDecodeError(() => codec.decode(hex(bytes)), 'ERR_DECODE_MALFORMED');
      assert.equal(({} as { x?: unknown }).x, undefined, 'Object.prototype polluted');
    });

    it('constructor.prototype keys stay plain data', () => {
      const decoded = codec.decode(codec.encode({ constructor: { prototype: { polluted: true } } }));
      assert.deepStrictEqual(decoded, { constructor: { prototype: { polluted: true } } });
      assert.equal(({} as { polluted?: unknown }).polluted, undefined);
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    });

    it('a __proto__ key in a Map is an ordinary key', () => {
      const map = new Map([['__proto__', { x: 1 }]]);
      const decoded = codec.decode(codec.encode(map)) as Map<string, unknown>;
      assert.deepStrictEqual(decoded, map);
      assert.equal(Object.getPrototypeOf(decoded), Map.prototype);
    });
  });

  describe('cbor-x aliasing tags from the wire (value sharing 28/29, packed values 51/6)', () => {
    /**
     * Nodes of `value` counted as a tree (a node reached twice counts twice), giving up past
     * `budget`: an alias cycle or an exponential DAG exceeds any budget, an honest value has
     * at most one node per input byte.
     */
    function treeSizeWithin(value: unknown, budget: number): number {
      const stack: unknown[] = [value];
      let count = 0;
      while (stack.length > 0 && count <= budget) {
        const node = stack.pop();
        count++;
        if (node instanceof Map) for (const [key, item] of node) stack.push(key, item);
        else if (node instanceof Set || Array.isArray(node)) stack.push(...node);
        else if (typeof node === 'object' && node !== null && !ArrayBuffer.isView(node)) stack.push(...Object.values(node));
      }
      return count;
    }

    /** Refused with a DecodeError, or decoded to a tree no bigger than its bytes allow. */
    function assertRefusedOrBounded(bytes: Uint8Array): void {
      let decoded: unknown;
      try {
        decoded = codec.decode(bytes);
      } catch (err) {
        assert.ok(err instanceof DecodeError, `expected a DecodeError, got ${describeThrown(err)}`);
        return;
      }
      const budget = 4 * bytes.length;
      const size = treeSizeWithin(decoded, budget);
      assert.ok(size <= budget, `${bytes.length} bytes decoded to a value of more than ${budget} nodes (aliased or cyclic); the codec must refuse it`);
    }

    /** Level k is tag 28 (shareable) around [ref(k-1), ref(k-1)]: 2^(levels+1) leaves. */
    function sharedDag(levels: number): Uint8Array {
      const bytes = [0x98, levels + 1, 0xd8, 0x1c, 0x82, 0x01, 0x01];
      for (let k = 1; k <= levels; k++) bytes.push(0xd8, 0x1c, 0x82, 0xd8, 0x1d, 0x18, k - 1, 0xd8, 0x1d, 0x18, k - 1);
      return Uint8Array.from(bytes);
    }

    /** Nested packed tables (tag 51), each holding [ref, ref] to the outer table's value (tag 6). */
    function packedDag(levels: number): Uint8Array {
      const padding = new Array<number>(16).fill(0); // tag 6 reference n reads packed value 16 + 2n
      const bytes = [0xd8, 0x33, 0x84, 0x91, ...padding, 0x82, 0x01, 0x01, 0x80, 0x80];
      for (let k = 2; k <= levels; k++) bytes.push(0xd8, 0x33, 0x84, 0x91, ...padding, 0x82, 0xc6, 0x00, 0xc6, 0x00, 0x80, 0x80);
      bytes.push(0xc6, 0x00);
      return Uint8Array.from(bytes);
    }

    it('the encoder never writes them: an object reached twice is written twice', () => {
      const shared = { a: 1 };
      const bytes = codec.encode([shared, shared]);
      assert.equal(Buffer.from(bytes).toString('hex'), '82' + 'b90001616101'.repeat(2));
    });

    it('a reference cycle built from tags 28 and 29 (d81c 81 d81d 00) is refused', () => {
      assertRefusedOrBounded(hex('d81c 81 d81d 00'));
    });

    it('value-sharing references cannot expand 447 bytes into a value of 2^41 leaves', () => {
      const bytes = sharedDag(40);
      assert.equal(bytes.length, 447);
      assertRefusedOrBounded(bytes);
    });

    it('packed-value references cannot expand 810 bytes into a value of 2^30 leaves', () => {
      const bytes = packedDag(30);
      assert.equal(bytes.length, 810);
      assertRefusedOrBounded(bytes);
    });
  });

  describe('encode', () => {
    const unencodable: [string, () => unknown][] = [
      ['a function', () => () => 1],
      ['a symbol', () => Symbol('s')],
      ['an object holding a function', () => ({ handler() {} })],
      ['an object holding a symbol', () => ({ s: Symbol('s') })],
      ['a cyclic object', () => {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        return cyclic;
      }],
      ['a cyclic array', () => {
        const cyclic: unknown[] = [];
        cyclic.push(cyclic);
        return cyclic;
      }],
    ];
    for (const [name, make] of unencodable) {
      it(`${name} is EncodeError ERR_ENCODE, and the codec keeps working`, () => {
        assert.throws(() => codec.encode(make()), (err: unknown) => err instanceof EncodeError && err.code === 'ERR_ENCODE');
        assert.deepStrictEqual(codec.decode(codec.encode(PUT)), PUT);
      });
    }

    it('a value whose encoding exceeds maxBytes is FrameTooLargeError ERR_FRAME_TOO_LARGE; exactly maxBytes passes', () => {
      const small = new Codec({ maxBytes: 64 });
      // A byte string of 62 bytes encodes as 0x58 0x3e and its 62 bytes: 64 in all.
      assert.equal(small.encode(Buffer.alloc(62)).length, 64);
      assert.throws(() => small.encode(Buffer.alloc(63)), (err: unknown) => err instanceof FrameTooLargeError && err.code === 'ERR_FRAME_TOO_LARGE');
      assert.throws(() => codec.encode(new Uint8Array(DEFAULT_CODEC_LIMITS.maxBytes)), (err: unknown) => err instanceof FrameTooLargeError && err.code === 'ERR_FRAME_TOO_LARGE');
      assert.deepStrictEqual(small.decode(small.encode(PUT.key)), PUT.key);
    });
  });

  describe('property tests', function () {
    this.timeout(60_000);
    before(() => console.log(`      fast-check seed ${SEED} (set FC_SEED to change it)`));

    /**
     * Values that cbor-x (useRecords: false) gives back deep-equal. Left out, and why:
     * - -0: cbor-x writes it as the integer 0;
     * - sparse arrays: holes come back as undefined;
     * - Node Buffers: they come back as Buffers but are written as plain byte strings, and a
     *   plain byte string from another peer decodes as a Buffer, not a Uint8Array;
     * - '__proto__' keys: renamed on decode on purpose (see the tests above);
     * - null-prototype objects: decoded objects are plain objects;
     * - Dates far from 1970: tag 1 carries float seconds, which lose a millisecond beyond ~10^15 ms.
     * Object keys that look numeric ('1') do round-trip: they travel as text keys.
     */
    const { value } = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { maxDepth: 5, depthSize: 'medium', withCrossShrink: true },
        fc.constant(null),
        fc.constant(undefined),
        fc.boolean(),
        fc.integer(),
        fc.maxSafeInteger(),
        fc.double().filter((d) => !Object.is(d, -0)),
        fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n }),
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.date({ min: new Date(-1e14), max: new Date(1e14), noInvalidDate: true }),
        fc.array(tie('value'), { maxLength: 6 }),
        fc.dictionary(fc.string({ maxLength: 8 }).filter((key) => key !== '__proto__'), tie('value'), { maxKeys: 6, noNullPrototype: true }),
        fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), tie('value')), { maxLength: 5 }).map((entries) => new Map(entries)),
        fc.uniqueArray(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxLength: 5 }).map((items) => new Set(items)),
      ),
    }));

    it('decode(encode(v)) deep-equals v for arbitrary supported values, alone and as a sequence', () => {
      fc.assert(
        fc.property(fc.array(value, { minLength: 1, maxLength: 4 }), (values) => {
          const parts = values.map((v) => copy(codec.encode(v)));
          parts.forEach((bytes, i) => assert.deepStrictEqual(codec.decode(bytes), values[i]));
          assert.deepStrictEqual(codec.decodeSequence(concat(...parts)), values);
        }),
        { seed: SEED, numRuns: 2_000 },
      );
    });

    /** Hand-picked encodings whose heads a mutation turns into the interesting cases. */
    const corpus = [
      hex('9f 01 82 02 03 bf 61 61 01 ff 5f 41 00 ff 7f 61 62 ff ff'),
      hex('d9 0103 a1 61 6b 81 c2 49 010000000000000000'),
      hex('a3 64 74797065 63 707574 63 6b6579 58 20' + '11'.repeat(32) + ' 65 76616c7565 f6'),
      hex('84 fb 3ff8000000000000 f9 3c00 fa 47c35000 1b ffffffffffffffff'),
      hex('83 c1 fb 41d0000000000000 d9 0102 82 01 02 d8 40 43 010203'),
    ];
    const interestingBytes = [0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x5a, 0x5b, 0x5f, 0x7f, 0x9b, 0x9f, 0xbb, 0xbf, 0xc2, 0xd8, 0xd9, 0xdf, 0xf8, 0xfb, 0xff];
    const position = fc.nat({ max: 1 << 16 });
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ op: fc.constant('set' as const), at: position, byte: fc.oneof(fc.constantFrom(...interestingBytes), fc.integer({ min: 0, max: 255 })) }),
      fc.record({ op: fc.constant('insert' as const), at: position, byte: fc.oneof(fc.constantFrom(...interestingBytes), fc.integer({ min: 0, max: 255 })) }),
      fc.record({ op: fc.constant('delete' as const), at: position }),
      fc.record({ op: fc.constant('truncate' as const), at: position }),
    );
    type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

    function mutate(original: Uint8Array, mutations: Mutation[]): Uint8Array {
      const bytes = Array.from(original);
      for (const m of mutations) {
        const at = bytes.length === 0 ? 0 : m.at % (bytes.length + (m.op === 'insert' ? 1 : 0));
        if (m.op === 'flip' && bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << m.bit);
        else if (m.op === 'set' && bytes.length > 0) bytes[at] = m.byte;
        else if (m.op === 'insert') bytes.splice(at, 0, m.byte);
        else if (m.op === 'delete') bytes.splice(at, 1);
        else if (m.op === 'truncate') bytes.length = at;
      }
      return Uint8Array.from(bytes);
    }

    const frame = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(fc.oneof(value.map((v) => copy(codec.encode(v))), fc.constantFrom(...corpus)), fc.array(mutation, { minLength: 1, maxLength: 6 })).map(([bytes, ms]) => mutate(bytes, ms)) },
      { weight: 2, arbitrary: fc.uint8Array({ maxLength: 96 }) },
      { weight: 2, arbitrary: fc.array(fc.constantFrom(...interestingBytes), { maxLength: 48 }).map((bytes) => Uint8Array.from(bytes)) },
    );

    it(`${FUZZ_RUNS.toLocaleString('en')} mutated and random frames: decode and decodeSequence return a value or throw a DecodeError, and the codec keeps working`, () => {
      const canary = copy(codec.encode(PUT));
      const outcomes = { values: 0, decodeErrors: 0, tooLarge: 0 };
      const classify = (run: () => unknown): void => {
        try {
          run();
          outcomes.values++;
        } catch (err) {
          if (err instanceof DecodeError) outcomes.decodeErrors++;
          else if (err instanceof FrameTooLargeError) outcomes.tooLarge++;
          else assert.fail(`unexpected ${describeThrown(err)}`);
        }
      };
      fc.assert(
        fc.property(frame, (bytes) => {
          classify(() => codec.decode(bytes));
          classify(() => codec.decodeSequence(bytes));
          // A failed decode must leave no state behind in the shared cbor-x decoder.
          assert.deepStrictEqual(codec.decode(canary), PUT);
        }),
        { seed: SEED, numRuns: FUZZ_RUNS },
      );
      console.log(`      outcomes of ${2 * FUZZ_RUNS} decodes: ${JSON.stringify(outcomes)}`);
      assert.ok(outcomes.values > 0 && outcomes.decodeErrors > 0, 'the corpus should reach both outcomes');
    });
  });
});
