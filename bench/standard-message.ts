/**
 * The standard message of every runtime figure (shared/reference/limits.md):
 * `{ type: 'put', key: 32 bytes, value: 100 bytes }`. Its bytes come from a seeded generator, so
 * every run sends the same ones.
 */
export interface PutMessage {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
}

export interface EchoMessage {
  type: 'echo';
  key: Uint8Array;
  value: Uint8Array;
}

export const KEY_BYTES = 32;
export const VALUE_BYTES = 100;

/**
 * Messages in a pool, cycled through by `index & POOL_MASK`: building a message costs more than
 * sending one on the same loop, so the loops under test only pick them.
 */
export const POOL_SIZE = 1024;
export const POOL_MASK = POOL_SIZE - 1;

/** xorshift32: tiny, seeded, plenty for filler bytes. */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
}

function bytes(length: number, next: () => number): Uint8Array {
  // Its own ArrayBuffer each, never a view of a pool: a structured clone copies a view's whole buffer.
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = next() & 0xff;
  return out;
}

export function standardMessages(seed = 1): PutMessage[] {
  const next = seeded(seed);
  return Array.from({ length: POOL_SIZE }, () => ({ type: 'put', key: bytes(KEY_BYTES, next), value: bytes(VALUE_BYTES, next) }));
}

export function echoMessage(seed = 2): EchoMessage {
  const next = seeded(seed);
  return { type: 'echo', key: bytes(KEY_BYTES, next), value: bytes(VALUE_BYTES, next) };
}
