import { addExtension } from 'cbor-x';

/**
 * Shared refs (MyDHT's SRef). A message may carry shared objects, such as a peer record. On the
 * same loop they are passed by reference, untouched. When a message crosses a thread or process,
 * each shared object is written in its sendable form under a CBOR tag and rebuilt on arrival,
 * then interned by id: every message naming the same id yields the very same object on the
 * receiving side, for as long as anything there still holds it.
 *
 * Declaring a shared type is this one call, made in the module that defines the class, so every
 * thread or process that imports the class also knows how to rebuild it.
 */
export interface SharedType<T extends object, S> {
  /** The class whose instances are shared (its constructor may be private: only the prototype is used). */
  class: { prototype: T; name: string };
  /** A CBOR tag number, unique per shared type (use the private range 40000-49999). */
  tag: number;
  /** The identity that interning uses: two objects with the same id are the same thing. */
  id: (value: T) => string;
  /** The plain, encodable form that crosses the boundary. */
  toSendable: (value: T) => S;
  /** Rebuild an object from its sendable form (validate it: it may come from a broken peer). */
  fromSendable: (sendable: S) => T;
  /**
   * Called when a sendable form arrives for an id already interned: fold the newer content into
   * the existing object (for example a peer record with a higher sequence). Default: keep it.
   */
  update?: (existing: T, incoming: S) => void;
}

/** Interned objects per tag, held weakly so the table never keeps an object alive by itself. */
const interned = new Map<number, Map<string, WeakRef<object>>>();
const declared = new Map<number, SharedType<object, unknown>>();
const forget = new FinalizationRegistry<{ tag: number; id: string }>(({ tag, id }) => {
  const table = interned.get(tag);
  const ref = table?.get(id);
  if (ref !== undefined && ref.deref() === undefined) table!.delete(id);
});

export function defineShared<T extends object, S>(type: SharedType<T, S>): SharedType<T, S> {
  const existing = declared.get(type.tag);
  if (existing !== undefined) {
    if (existing.class === type.class) return type; // the module was evaluated twice; same declaration
    throw new Error(`CBOR tag ${type.tag} is already declared for shared type ${existing.class.name}`);
  }
  declared.set(type.tag, type as unknown as SharedType<object, unknown>);
  const table = new Map<string, WeakRef<object>>();
  interned.set(type.tag, table);
  addExtension({
    Class: type.class as unknown as new () => T,
    tag: type.tag,
    encode: (value: T, encodeNext: (v: unknown) => Uint8Array) => {
      // The sender's own object is interned too (the latest one sent for its id wins), so a ref
      // that goes out and comes back is the object it left as.
      remember(type, table, value, type.id(value), true);
      return encodeNext(type.toSendable(value));
    },
    decode: (sendable: S) => intern(type, table, sendable),
  });
  return type;
}

function intern<T extends object, S>(type: SharedType<T, S>, table: Map<string, WeakRef<object>>, sendable: S): T {
  const fresh = type.fromSendable(sendable);
  const id = type.id(fresh);
  const held = table.get(id)?.deref() as T | undefined;
  if (held !== undefined) {
    type.update?.(held, sendable);
    return held;
  }
  remember(type, table, fresh, id);
  return fresh;
}

function remember<T extends object, S>(
  type: SharedType<T, S>,
  table: Map<string, WeakRef<object>>,
  value: T,
  id: string,
  replace = false,
): void {
  const held = table.get(id)?.deref();
  if (held === value || (held !== undefined && !replace)) return;
  table.set(id, new WeakRef(value));
  forget.register(value, { tag: type.tag, id });
}

/** How many objects of a shared type are interned here (for tests and status). */
export function internedCount(type: { readonly tag: number }): number {
  return interned.get(type.tag)?.size ?? 0;
}
