import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameTooLargeError } from '../../src/runtime/errors.ts';
import { FrameDecoder, LENGTH_PREFIX_BYTES, writeLengthPrefix } from '../../src/runtime/frames.ts';

/** Fixed so that a failure reproduces; set FC_SEED to explore other inputs. */
const SEED = Number(process.env.FC_SEED ?? 0xf4a3e5);
/** The wire protocol's frame cap (DEFAULT_CODEC_LIMITS.maxBytes). */
const MAX_FRAME = 1024 * 1024;
const MiB = 1024 * 1024;

function bytesOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 13 + seed) & 0xff);
}

/** Each body behind its u32 big-endian length, back to back. */
function stream(bodies: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(bodies.reduce((sum, body) => sum + LENGTH_PREFIX_BYTES + body.length, 0));
  let offset = 0;
  for (const body of bodies) {
    writeLengthPrefix(out, offset, body.length);
    out.set(body, offset + LENGTH_PREFIX_BYTES);
    offset += LENGTH_PREFIX_BYTES + body.length;
  }
  return out;
}

/** Feeds `bytes` cut at `cuts` (sorted offsets) and returns every frame that came out. */
function feed(decoder: FrameDecoder, bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    frames.push(...decoder.push(bytes.subarray(start, cut)));
    start = cut;
  }
  return frames;
}

function prefix(length: number): Uint8Array {
  const bytes = new Uint8Array(LENGTH_PREFIX_BYTES);
  writeLengthPrefix(bytes, 0, length);
  return bytes;
}

function isFrameTooLarge(err: unknown): boolean {
  assert.ok(err instanceof FrameTooLargeError, `expected a FrameTooLargeError, got ${String(err)}`);
  assert.equal(err.code, 'ERR_FRAME_TOO_LARGE');
  return true;
}

describe('FrameDecoder', () => {
  const bodies = [bytesOf(10, 1), new Uint8Array(0), bytesOf(1, 2), bytesOf(37, 3), bytesOf(4, 4)];
  const whole = stream(bodies);

  describe('whole and split frames', () => {
    it('one frame in one chunk comes out whole, leaving nothing buffered', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      assert.deepStrictEqual(decoder.push(stream([bodies[0]!])), [bodies[0]]);
      assert.equal(decoder.buffered, 0);
    });

    it('several frames in one chunk come out in order', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      assert.deepStrictEqual(decoder.push(whole), bodies);
      assert.equal(decoder.buffered, 0);
    });

    it('a zero-length frame is an empty Uint8Array', () => {
      const frames = new FrameDecoder(MAX_FRAME).push(prefix(0));
      assert.equal(frames.length, 1);
      assert.ok(frames[0] instanceof Uint8Array);
      assert.equal(frames[0].length, 0);
    });

    it('an empty chunk returns no frames and changes nothing', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      assert.deepStrictEqual(decoder.push(new Uint8Array(0)), []);
      decoder.push(whole.subarray(0, 6));
      assert.deepStrictEqual(decoder.push(new Uint8Array(0)), []);
      assert.equal(decoder.buffered, 6);
    });

    it('a stream split into two chunks at every byte boundary yields exactly the frames written', () => {
      for (let cut = 0; cut <= whole.length; cut++) {
        assert.deepStrictEqual(feed(new FrameDecoder(MAX_FRAME), whole, [cut]), bodies, `cut at ${cut}`);
      }
    });

    it('a stream split into three chunks at every pair of byte boundaries yields exactly the frames written', () => {
      for (let first = 0; first <= whole.length; first++) {
        for (let second = first; second <= whole.length; second++) {
          assert.deepStrictEqual(feed(new FrameDecoder(MAX_FRAME), whole, [first, second]), bodies, `cuts at ${first}, ${second}`);
        }
      }
    });

    it('a stream fed one byte at a time yields each frame as its last byte arrives', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      const ends = new Set<number>();
      bodies.reduce((end, body) => (ends.add(end + LENGTH_PREFIX_BYTES + body.length), end + LENGTH_PREFIX_BYTES + body.length), 0);
      const frames: Uint8Array[] = [];
      let lastEnd = 0;
      for (let i = 0; i < whole.length; i++) {
        const out = decoder.push(whole.subarray(i, i + 1));
        assert.equal(out.length, ends.has(i + 1) ? 1 : 0, `after byte ${i}`);
        frames.push(...out);
        if (ends.has(i + 1)) lastEnd = i + 1;
        assert.equal(decoder.buffered, i + 1 - lastEnd, `buffered after byte ${i}`);
      }
      assert.deepStrictEqual(frames, bodies);
      assert.equal(decoder.buffered, 0);
    });

    it('buffered counts the bytes received and not yet returned', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      decoder.push(whole.subarray(0, 3));
      assert.equal(decoder.buffered, 3);
      decoder.push(whole.subarray(3, 12));
      assert.equal(decoder.buffered, 12);
      decoder.push(whole.subarray(12, 14)); // completes the 10-byte frame
      assert.equal(decoder.buffered, 0);
    });

    it('frames returned earlier are not changed by later pushes', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      const early = decoder.push(whole.subarray(0, 20));
      decoder.push(whole.subarray(20));
      assert.deepStrictEqual(early, [bodies[0], bodies[1]]);
    });

    it('a frame of exactly maxFrame bytes is accepted', () => {
      const max = 1000;
      const body = bytesOf(max, 9);
      assert.deepStrictEqual(feed(new FrameDecoder(max), stream([body]), [2, 500]), [body]);
    });

    it('with maxFrame 0 only empty frames pass', () => {
      const decoder = new FrameDecoder(0);
      assert.deepStrictEqual(decoder.push(stream([new Uint8Array(0), new Uint8Array(0)])), [new Uint8Array(0), new Uint8Array(0)]);
      assert.throws(() => decoder.push(prefix(1)), isFrameTooLarge);
    });

    it('writeLengthPrefix writes u32 big-endian', () => {
      const cases: [number, string][] = [[0, '00000000'], [1, '00000001'], [255, '000000ff'], [256, '00000100'], [65_536, '00010000'], [0x01020304, '01020304'], [2 ** 32 - 1, 'ffffffff']];
      for (const [length, bytes] of cases) assert.equal(Buffer.from(prefix(length)).toString('hex'), bytes, `${length}`);
    });
  });

  describe('oversized length prefixes', () => {
    for (const [name, length] of [['2^32-1', 2 ** 32 - 1], ['maxFrame+1', MAX_FRAME + 1], ['2^31', 2 ** 31]] as const) {
      it(`a prefix of ${name} throws ERR_FRAME_TOO_LARGE as its fourth byte arrives, before any body`, () => {
        const decoder = new FrameDecoder(MAX_FRAME);
        const head = prefix(length);
        for (let i = 0; i < 3; i++) assert.deepStrictEqual(decoder.push(head.subarray(i, i + 1)), []);
        assert.throws(() => decoder.push(head.subarray(3, 4)), isFrameTooLarge);
        assert.equal(decoder.buffered, 0, 'the decoder drops what it held');
      });
    }

    it('a prefix of maxFrame (not over) waits for its body instead', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      assert.deepStrictEqual(decoder.push(prefix(MAX_FRAME)), []);
      assert.equal(decoder.buffered, LENGTH_PREFIX_BYTES);
    });

    it('an oversized prefix after valid frames in the same stream throws when it arrives', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      assert.deepStrictEqual(decoder.push(whole), bodies);
      assert.throws(() => decoder.push(prefix(MAX_FRAME + 1)), isFrameTooLarge);
    });

    it('an oversized prefix split across chunks throws on the chunk that completes it', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      const head = prefix(2 ** 32 - 1);
      assert.deepStrictEqual(decoder.push(head.subarray(0, 1)), []);
      assert.deepStrictEqual(decoder.push(head.subarray(1, 3)), []);
      assert.throws(() => decoder.push(Uint8Array.of(head[3]!, 1, 2, 3)), isFrameTooLarge);
    });

    it('after the error the decoder stays failed: every later push throws ERR_FRAME_TOO_LARGE', () => {
      const decoder = new FrameDecoder(MAX_FRAME);
      assert.throws(() => decoder.push(prefix(2 ** 32 - 1)), isFrameTooLarge);
      assert.throws(() => decoder.push(stream([bytesOf(3, 0)])), isFrameTooLarge);
      assert.throws(() => decoder.push(new Uint8Array(0)), isFrameTooLarge);
      assert.throws(() => decoder.push(prefix(0)), isFrameTooLarge);
      assert.equal(decoder.buffered, 0);
    });

    it('1,000 lying prefixes of 2^32-1 grow array buffers by < 1 MiB in all (nothing allocated for a body)', () => {
      const before = process.memoryUsage();
      for (let i = 0; i < 1000; i++) {
        const decoder = new FrameDecoder(MAX_FRAME);
        assert.throws(() => decoder.push(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0)), isFrameTooLarge);
      }
      const after = process.memoryUsage();
      assert.ok(after.arrayBuffers - before.arrayBuffers < MiB, `array buffers grew by ${after.arrayBuffers - before.arrayBuffers} bytes`);
      assert.ok(after.rss - before.rss < 64 * MiB, `rss grew by ${after.rss - before.rss} bytes`);
    });
  });

  describe('property tests', () => {
    before(() => console.log(`      fast-check seed ${SEED} (set FC_SEED to change it)`));

    it('random frames cut into random chunks yield exactly the frames written, leaving nothing buffered', () => {
      const scenario = fc
        .array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 })
        .chain((frames) => {
          const length = stream(frames).length;
          return fc.tuple(fc.constant(frames), fc.uniqueArray(fc.integer({ min: 0, max: length }), { maxLength: 40 }).map((cuts) => cuts.sort((a, b) => a - b)));
        });
      fc.assert(
        fc.property(scenario, ([frames, cuts]) => {
          const decoder = new FrameDecoder(300);
          assert.deepStrictEqual(feed(decoder, stream(frames), cuts), frames);
          assert.equal(decoder.buffered, 0);
        }),
        { seed: SEED, numRuns: 1_000 },
      );
    });

    it('random frames with one oversized length among them: the frames before it, then ERR_FRAME_TOO_LARGE, then failed for good', () => {
      const scenario = fc.record({
        before: fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }),
        length: fc.integer({ min: 65, max: 2 ** 32 - 1 }),
        chunk: fc.integer({ min: 1, max: 16 }),
      });
      fc.assert(
        fc.property(scenario, ({ before, length, chunk }) => {
          const decoder = new FrameDecoder(64);
          const bytes = new Uint8Array([...stream(before), ...prefix(length), ...bytesOf(20, 0)]);
          const frames: Uint8Array[] = [];
          let failedAt = -1;
          for (let start = 0; start < bytes.length && failedAt < 0; start += chunk) {
            try {
              frames.push(...decoder.push(bytes.subarray(start, start + chunk)));
            } catch (err) {
              isFrameTooLarge(err);
              failedAt = start;
            }
          }
          const prefixEnd = stream(before).length + LENGTH_PREFIX_BYTES;
          assert.ok(failedAt >= 0, 'the oversized prefix must throw');
          assert.ok(failedAt < prefixEnd && failedAt + chunk >= prefixEnd, 'thrown by the chunk that completes the prefix');
          assert.deepStrictEqual(frames, before.slice(0, frames.length), 'only whole frames written before it');
          assert.throws(() => decoder.push(stream([new Uint8Array(1)])), isFrameTooLarge);
        }),
        { seed: SEED, numRuns: 500 },
      );
    });
  });
});
