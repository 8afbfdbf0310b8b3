/** 256-bit ids and XOR distance, Kademlia's metric. */
export const ID_BYTES = 32;
export const ID_BITS = ID_BYTES * 8;

/** Leading bits `a` and `b` share: 0..256 (256 when equal). The bucket of b, seen from a. */
export function commonPrefixLength(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return ID_BITS;
}

/** Negative when `a` is closer to `target` than `b`, positive when farther, 0 when equal. */
export function compareDistance(target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const da = a[i]! ^ target[i]!;
    const db = b[i]! ^ target[i]!;
    if (da !== db) return da - db;
  }
  return 0;
}

/** A random id whose common prefix with `self` is exactly `prefix` bits (the bucket to refresh). */
export function randomIdInBucket(self: Uint8Array, prefix: number, random: () => number = Math.random): Uint8Array {
  const id = new Uint8Array(ID_BYTES);
  for (let i = 0; i < ID_BYTES; i++) id[i] = Math.floor(random() * 256);
  for (let bit = 0; bit <= prefix && bit < ID_BITS; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    const own = self[byte]! & mask;
    // Equal to self on the first `prefix` bits, different on the next one.
    const want = bit < prefix ? own : own ^ mask;
    id[byte] = (id[byte]! & ~mask) | want;
  }
  return id;
}
