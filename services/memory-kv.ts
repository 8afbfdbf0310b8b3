import { defineService } from '../src/runtime/service.ts';

/**
 * A key-value store held in memory, bounded by entry count. It is the runtime demo's global
 * service and a minimal example of a service: one protocol, one handler per command.
 */
export interface MemoryKvProtocol {
  put: { command: { key: Uint8Array; value: Uint8Array }; reply: void };
  get: { command: { key: Uint8Array }; reply: Uint8Array | null };
  delete: { command: { key: Uint8Array }; reply: boolean };
  size: { command: object; reply: number };
}

export interface MemoryKvConfig {
  /** Entries held at most; a put past it fails with ERR_STORE_FULL. Default 1,000,000. */
  maxEntries?: number;
}

const DEFAULT_MAX_ENTRIES = 1_000_000;

export default defineService<MemoryKvProtocol, MemoryKvConfig | null>((ctx) => {
  const maxEntries = ctx.config?.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const entries = new Map<string, Uint8Array>();
  // A copy, not a view of key.buffer, which would move an on-heap key off the heap (toHex).
  const keyOf = (key: Uint8Array): string => Buffer.from(key).toString('base64');
  return {
    handlers: {
      put: ({ key, value }) => {
        const id = keyOf(key);
        if (!entries.has(id) && entries.size >= maxEntries) {
          throw Object.assign(new Error(`store is full (${maxEntries} entries)`), { code: 'ERR_STORE_FULL' });
        }
        entries.set(id, value);
      },
      get: ({ key }) => entries.get(keyOf(key)) ?? null,
      delete: ({ key }) => entries.delete(keyOf(key)),
      size: () => entries.size,
    },
  };
});
