import { DecodeError } from './errors.ts';

/**
 * A structural pass over CBOR bytes that runs before cbor-x decodes them. cbor-x recurses (a
 * 10,000-deep nesting overflows the stack) and trusts claimed lengths when it allocates, so bytes
 * from outside are checked here first, iteratively and without allocating:
 * - nesting depth (arrays, maps and tags) is at most `maxDepth`;
 * - every claimed string length fits in the bytes that remain, and every claimed array or map
 *   count could fit (each item takes at least one byte), so no lie about a length allocates;
 * - the reserved additional-information values 28-30 and stray "break" bytes are refused;
 * - only tags that `allowTag` accepts pass. cbor-x also decodes value-sharing (28/29) and packed
 *   (51/6) tags, with which a few hundred bytes expand into a structure of 2^40 leaves or a cycle,
 *   and tag 27, which calls constructors: none of them ever comes from our own encoder.
 * It returns the number of top-level items (a CBOR sequence, RFC 8742, may hold several).
 */
export function scanCbor(
  bytes: Uint8Array,
  maxDepth: number,
  maxItems = Number.POSITIVE_INFINITY,
  allowTag: (tag: number) => boolean = () => true,
): number {
  const end = bytes.length;
  // remaining[i] is the number of items still expected at depth i; -1 means indefinite (until break).
  const remaining: number[] = [];
  // isStringChunks[i] marks an indefinite byte or text string, whose items must be chunks of `major`.
  const chunkMajor: number[] = [];
  let pos = 0;
  let topLevel = 0;

  const fail = (detail: string): never => {
    throw new DecodeError('ERR_DECODE_MALFORMED', `malformed CBOR at byte ${pos}: ${detail}`);
  };

  while (pos < end || remaining.length > 0) {
    if (pos >= end) fail('truncated: the input ends inside a container');
    const initial = bytes[pos]!;
    const major = initial >> 5;
    const info = initial & 0x1f;
    pos++;

    // The item's argument: a count, a length or a value.
    let arg = info;
    if (info === 24) {
      if (pos + 1 > end) fail('truncated argument');
      arg = bytes[pos]!;
      pos += 1;
    } else if (info === 25) {
      if (pos + 2 > end) fail('truncated argument');
      arg = (bytes[pos]! << 8) | bytes[pos + 1]!;
      pos += 2;
    } else if (info === 26) {
      if (pos + 4 > end) fail('truncated argument');
      arg = ((bytes[pos]! << 24) >>> 0) + (bytes[pos + 1]! << 16) + (bytes[pos + 2]! << 8) + bytes[pos + 3]!;
      pos += 4;
    } else if (info === 27) {
      if (pos + 8 > end) fail('truncated argument');
      const high = ((bytes[pos]! << 24) >>> 0) + (bytes[pos + 1]! << 16) + (bytes[pos + 2]! << 8) + bytes[pos + 3]!;
      const low = ((bytes[pos + 4]! << 24) >>> 0) + (bytes[pos + 5]! << 16) + (bytes[pos + 6]! << 8) + bytes[pos + 7]!;
      // Lengths and counts above 2^53 can never fit; integers that large are fine as values.
      arg = high >= 0x200000 ? Number.MAX_SAFE_INTEGER : high * 0x100000000 + low;
      pos += 8;
    } else if (info >= 28 && info <= 30) {
      fail(`reserved additional information ${info}`);
    }
    const indefinite = info === 31;

    const depth = remaining.length;
    const parentChunk = depth > 0 ? chunkMajor[depth - 1]! : -1;

    if (major === 7 && indefinite) {
      // "break": closes the innermost indefinite container.
      if (depth === 0 || remaining[depth - 1] !== -1) fail('unexpected break');
      remaining.pop();
      chunkMajor.pop();
      finishItem();
      continue;
    }
    if (parentChunk !== -1 && (major !== parentChunk || indefinite)) {
      fail('an indefinite string may only hold definite chunks of its own type');
    }

    switch (major) {
      case 0:
      case 1:
        if (indefinite) fail('indefinite integer');
        finishItem();
        break;
      case 2:
      case 3:
        if (indefinite) {
          open(-1, major);
        } else {
          if (arg > end - pos) fail(`string length ${arg} exceeds the ${end - pos} bytes left`);
          pos += arg;
          finishItem();
        }
        break;
      case 4:
      case 5: {
        if (indefinite) {
          open(-1, -1);
        } else {
          const items = major === 5 ? arg * 2 : arg;
          if (items > end - pos) fail(`container of ${arg} entries cannot fit in the ${end - pos} bytes left`);
          if (items === 0) finishItem();
          else open(items, -1);
        }
        break;
      }
      case 6:
        if (indefinite) fail('indefinite tag');
        if (!allowTag(arg)) fail(`tag ${arg} is not accepted`);
        open(1, -1);
        break;
      default: // major 7: simple values and floats; the argument bytes were already skipped.
        finishItem();
    }
  }
  return topLevel;

  function open(items: number, chunk: number): void {
    if (remaining.length >= maxDepth) {
      throw new DecodeError('ERR_DECODE_DEPTH', `CBOR nesting deeper than ${maxDepth}`);
    }
    remaining.push(items);
    chunkMajor.push(chunk);
  }

  // One item is complete: count it against its container, closing every container it fills.
  function finishItem(): void {
    for (;;) {
      const depth = remaining.length;
      if (depth === 0) {
        topLevel++;
        if (topLevel > maxItems) {
          throw new DecodeError('ERR_DECODE_TRAILING', `more than ${maxItems} top-level CBOR item(s)`);
        }
        return;
      }
      const left = remaining[depth - 1]!;
      if (left === -1) return; // indefinite: closed by its break
      if (left > 1) {
        remaining[depth - 1] = left - 1;
        return;
      }
      remaining.pop();
      chunkMajor.pop();
    }
  }
}
