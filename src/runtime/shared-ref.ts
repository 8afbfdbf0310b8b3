import { addExtension } from 'cbor-x';
import { DecodeError } from './errors.ts';

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
   * Called when a sendable form arrives for an id already interned, with the object rebuilt from
   * it: fold the newer content into the existing object (for example a peer record with a higher
   * sequence). Default: keep it.
   */
  update?: (existing: T, incoming: T) => void;
}

/** Interned objects per tag, held weakly so the table never keeps an object alive by itself. */
const interned = new Map<number, Map<string, WeakRef<object>>>();
const declared = new Map<number, SharedType<object, unknown>>();
/** Objects `forget` already watches. */
const watched = new WeakSet<object>();
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
      const sendable = type.toSendable(value);
      if (link === undefined) {
        // The sender's own object is interned too (the latest one sent for its id wins), so a ref
        // that goes to another thread or process and comes back is the object it left as. Not
        // on a link to another node: what comes back from there is the node's own to intern.
        remember(type, table, value, type.id(value), true);
        return encodeNext(sendable);
      }
      const index = link.indexOf(sendable);
      if (index !== undefined) return encodeNext(index);
      link.stage(sendable, sendable as object);
      return encodeNext(sendable);
    },
    decode: (sendable: S | number) => {
      if (link === undefined) return intern(type, table, sendable as S);
      if (typeof sendable === 'number') return link.at(sendable, type.class);
      const value = intern(type, table, sendable);
      link.stage(sendable, value);
      return value;
    },
  });
  return type;
}

function intern<T extends object, S>(type: SharedType<T, S>, table: Map<string, WeakRef<object>>, sendable: S): T {
  const fresh = type.fromSendable(sendable);
  const id = type.id(fresh);
  const held = table.get(id)?.deref() as T | undefined;
  if (held !== undefined) {
    if (held !== fresh) type.update?.(held, fresh);
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
  // Once per object: two objects of one id sent in turn would otherwise add a cell each time.
  if (!watched.has(value)) {
    watched.add(value);
    forget.register(value, { tag: type.tag, id });
  }
}

/** How many objects of a shared type are interned here (for tests and status). */
export function internedCount(type: { readonly tag: number }): number {
  return interned.get(type.tag)?.size ?? 0;
}

/**
 * Back-references on one direction of a long-lived, ordered link (a peer session): a shared
 * object whose sendable form went over the link lately is sent again as its index, an integer,
 * under the same tag. A FIND_NODE answer names 20 peer records, and on a session the same ones
 * come back answer after answer; by index, an answer is a few hundred bytes instead of ~4 KB.
 *
 * Each end of the link holds one table for what it sends and one for what it receives, and the
 * two tables of a direction stay equal because both apply the same steps in the same order:
 * every form sent in full (of at most `maxItemBytes`) is staged with the next index, in the order
 * of the stream; a frame's staged entries are committed once the frame is sent (or, on the
 * receiving side, decoded), and the oldest entries then leave until at most `capacity` remain. A
 * frame that is not sent after all is discarded, staged entries and all.
 *
 * The sender finds an entry by its sendable form's identity, so a type gets back-references only
 * if `toSendable` gives the same object for the same version of a value (a peer record's wire
 * form does; a newer version has a new one). The receiver holds the objects themselves: an index
 * resolves for as long as its entry is in the window, whatever else the process forgets.
 */
export interface RefTableLimits {
  /** Entries kept at most. */
  capacity: number;
  /**
   * Forms larger than this (bytes of a byte-string form) never take an index: with `capacity`,
   * it bounds what a peer can make a node hold per link.
   */
  maxItemBytes: number;
}

/** 128 records of at most 512 bytes: 64 KiB per direction of a session, at most. */
export const DEFAULT_REF_TABLE_LIMITS: RefTableLimits = { capacity: 128, maxItemBytes: 512 };

/**
 * One end's table of one direction: the sending end holds the sendable forms (to find them by
 * identity), the receiving end the objects they decoded to, oldest first, in one array trimmed to
 * its length. A session has two tables and a node hundreds of sessions: a table of 20 records
 * took ~2 KB as entry objects and a map, ~0.25 KB as one array (measured). A scan of it (at most
 * `capacity` items) costs less than encoding the record it saves.
 */
export class SharedRefTable {
  readonly limits: RefTableLimits;
  /** The index of the first item. */
  #base = 0;
  /** Committed items, oldest first, then the staged ones of the frame in progress. */
  #items: object[] = [];
  #committed = 0;

  constructor(limits?: Partial<RefTableLimits>) {
    this.limits = limits === undefined ? DEFAULT_REF_TABLE_LIMITS : { ...DEFAULT_REF_TABLE_LIMITS, ...limits };
  }

  /** Entries committed now. */
  get size(): number {
    return this.#committed;
  }

  /** Sending end: the index under which this sendable form went over the link, if it is still in the window. */
  indexOf(sendable: unknown): number | undefined {
    if (typeof sendable !== 'object' || sendable === null) return undefined;
    const position = this.#items.indexOf(sendable);
    return position < 0 ? undefined : this.#base + position;
  }

  /** Receiving end: the object under an index, checked to be of the class the tag declares. */
  at(index: number, expected: { prototype: object }): object {
    const position = index - this.#base;
    const item = Number.isSafeInteger(index) && position >= 0 ? this.#items[position] : undefined;
    if (item === undefined || !(item instanceof (expected as unknown as new () => object))) {
      throw new DecodeError('ERR_DECODE_UNKNOWN_REF', `back-reference ${String(index)} names nothing sent on this link (window ${this.#base}..${this.#base + this.#items.length})`);
    }
    return item;
  }

  /**
   * A form about to go over the link in full: the sending end stages the sendable form, the
   * receiving end the object it decoded to. Both ends know the form's size, and agree: a form
   * larger than `maxItemBytes`, or not an object, takes no index and goes in full every time.
   */
  stage(sendable: unknown, item: object): void {
    if (typeof sendable !== 'object' || sendable === null || sizeOf(sendable) > this.limits.maxItemBytes) return;
    this.#items.push(item);
  }

  /** The frame went out (or came in whole): its staged entries join the window, the oldest leave. */
  commit(): void {
    const count = this.#items.length;
    if (count === this.#committed) return;
    const drop = Math.max(0, count - this.limits.capacity);
    // A copy, not splice: it holds exactly its items, where a grown array keeps up to 1.5x slack.
    this.#items = this.#items.slice(drop);
    this.#base += drop;
    this.#committed = this.#items.length;
  }

  /** The frame was not sent: forget what it staged. */
  discard(): void {
    this.#items.length = this.#committed;
  }
}

/** The table of the link being encoded or decoded now, if any: set only around one frame. */
let link: SharedRefTable | undefined;

/**
 * Run one encode or decode of a frame on a link with back-references (see SharedRefTable): what
 * it staged is committed if it returns, discarded if it throws, so a frame refused for its size
 * (checked inside `run`) leaves the table as it was. Without a table, shared objects
 * travel in full, as between threads and processes.
 */
export function onLink<T>(table: SharedRefTable | undefined, run: () => T): T {
  if (table === undefined) return run();
  const outer = link;
  link = table;
  let result: T;
  try {
    result = run();
  } catch (err) {
    link = outer;
    table.discard();
    throw err;
  }
  link = outer;
  table.commit();
  return result;
}

function sizeOf(sendable: unknown): number {
  return sendable instanceof Uint8Array ? sendable.length : 0;
}
