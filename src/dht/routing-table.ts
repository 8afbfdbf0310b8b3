import { DEFAULT_DIVERSITY, subnetOf, type DiversityLimits } from './ip-diversity.ts';
import { commonPrefixLength, compareDistance, ID_BITS, ID_BYTES, randomIdInBucket } from './xor.ts';

/** Kademlia's replication parameter: contacts per bucket, and records' replicas (k = 20). */
export const DEFAULT_K = 20;

export interface Contact {
  id: Uint8Array;
  idHex: string;
  /** The address it was reached at (a multiaddr). */
  address: string;
  /** When it was last heard from, ms. */
  lastSeen: number;
  /** It answered a request of ours at least once: only such contacts count as closest. */
  answered: boolean;
}

export type AddResult =
  /** In the table now. */
  | 'added'
  /** Was already there: refreshed (moved to most recently seen). */
  | 'updated'
  /** The bucket was full and its least recently seen contact still answers: the newcomer is dropped. */
  | 'full'
  /** Its subnet already has as many contacts as the diversity limits allow. */
  | 'diversity'
  /** It is this node. */
  | 'self';

export interface RoutingTableOptions {
  k?: number;
  diversity?: Partial<DiversityLimits>;
  /** Ask a contact whether it is alive (the ping before an eviction). */
  ping: (contact: Contact) => Promise<boolean>;
  now?: () => number;
}

/**
 * A Kademlia routing table over 256-bit XOR distance. Bucket i holds contacts whose id shares
 * exactly i leading bits with ours, oldest heard-from first. A full bucket keeps its old
 * contacts while they answer (long-lived peers tend to stay, and an attacker cannot flush a
 * bucket with fresh ids): the least recently seen one is pinged, and only evicted if it is silent.
 */
export class RoutingTable {
  readonly self: Uint8Array;
  readonly k: number;
  readonly #limits: DiversityLimits;
  readonly #ping: (contact: Contact) => Promise<boolean>;
  readonly #now: () => number;
  /**
   * The buckets met so far, by index (an add makes its bucket, even one it then refuses): a table
   * of n peers fills about log2(n) of the 256, and 256 empty arrays up front were ~10 KiB of every
   * node's heap.
   */
  readonly #buckets = new Map<number, Contact[]>();
  readonly #byId = new Map<string, Contact>();
  readonly #subnets = new Map<string, number>();
  /** Buckets whose least recently seen contact is being pinged: one eviction check at a time each. */
  readonly #checking = new Set<number>();
  /** When each bucket was last refreshed; absent: never. */
  readonly #refreshed = new Map<number, number>();

  constructor(self: Uint8Array, options: RoutingTableOptions) {
    if (self.length !== ID_BYTES) throw new RangeError(`an id is ${ID_BYTES} bytes`);
    this.self = self;
    this.k = options.k ?? DEFAULT_K;
    this.#limits = { ...DEFAULT_DIVERSITY, ...options.diversity };
    this.#ping = options.ping;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#byId.size;
  }

  get(idHex: string): Contact | undefined {
    return this.#byId.get(idHex);
  }

  /** Which bucket an id falls in (its common prefix length with ours). */
  bucketOf(id: Uint8Array): number {
    return commonPrefixLength(this.self, id);
  }

  bucket(index: number): readonly Contact[] {
    return this.#buckets.get(index) ?? [];
  }

  /**
   * Add or refresh a contact. `answered` says it just answered a request of ours (rather than
   * being named by another peer). A full bucket pings its oldest contact before deciding.
   */
  async add(id: Uint8Array, address: string, answered: boolean): Promise<AddResult> {
    const index = this.bucketOf(id);
    if (index === ID_BITS) return 'self';
    const idHex = Buffer.from(id).toString('hex');
    const bucket = this.#bucketAt(index);
    const known = this.#byId.get(idHex);
    if (known !== undefined) {
      this.#touch(bucket, known, answered);
      return 'updated';
    }
    const subnet = subnetOf(address, this.#limits.exemptPrivate);
    if (subnet !== undefined && !this.#roomInSubnet(bucket, subnet)) return 'diversity';
    if (bucket.length < this.k) {
      this.#insert(bucket, { id, idHex, address, lastSeen: this.#now(), answered }, subnet);
      return 'added';
    }
    if (this.#checking.has(index)) return 'full';
    const oldest = bucket[0]!;
    this.#checking.add(index);
    let alive = false;
    try {
      alive = await this.#ping(oldest);
    } catch {
      alive = false;
    } finally {
      this.#checking.delete(index);
    }
    if (alive) {
      this.#touch(bucket, oldest, true);
      return 'full';
    }
    this.remove(oldest.idHex);
    if (bucket.length >= this.k || this.#byId.has(idHex)) return 'full';
    if (subnet !== undefined && !this.#roomInSubnet(bucket, subnet)) return 'diversity';
    this.#insert(bucket, { id, idHex, address, lastSeen: this.#now(), answered }, subnet);
    return 'added';
  }

  /** A contact answered a request: it is alive, and now counts as closest. */
  markAnswered(idHex: string): void {
    const contact = this.#byId.get(idHex);
    if (contact !== undefined) this.#touch(this.#bucketAt(this.bucketOf(contact.id)), contact, true);
  }

  remove(idHex: string): boolean {
    const contact = this.#byId.get(idHex);
    if (contact === undefined) return false;
    const bucket = this.#bucketAt(this.bucketOf(contact.id));
    bucket.splice(bucket.indexOf(contact), 1);
    this.#byId.delete(idHex);
    const subnet = subnetOf(contact.address, this.#limits.exemptPrivate);
    if (subnet !== undefined) {
      const left = (this.#subnets.get(subnet) ?? 1) - 1;
      if (left === 0) this.#subnets.delete(subnet);
      else this.#subnets.set(subnet, left);
    }
    return true;
  }

  /** The `count` contacts closest to `target` that have answered us, closest first. */
  closest(target: Uint8Array, count = this.k, includeUnanswered = false): Contact[] {
    const candidates: Contact[] = [];
    for (const contact of this.#byId.values()) if (includeUnanswered || contact.answered) candidates.push(contact);
    candidates.sort((a, b) => compareDistance(target, a.id, b.id));
    return candidates.slice(0, count);
  }

  /**
   * One random id inside each non-empty bucket not refreshed for `intervalMs`: the DHT looks each
   * up to keep its buckets fresh. Marks them refreshed.
   */
  refreshTargets(intervalMs: number, random: () => number = Math.random): Uint8Array[] {
    const now = this.#now();
    const targets: Uint8Array[] = [];
    for (const [index, bucket] of this.#buckets) {
      if (bucket.length === 0 || now - (this.#refreshed.get(index) ?? Number.NEGATIVE_INFINITY) < intervalMs) continue;
      this.#refreshed.set(index, now);
      targets.push(randomIdInBucket(this.self, index, random));
    }
    return targets;
  }

  /** The bucket at `index`, made on first use. Emptied buckets are kept: an add may hold one across its ping. */
  #bucketAt(index: number): Contact[] {
    let bucket = this.#buckets.get(index);
    if (bucket === undefined) this.#buckets.set(index, (bucket = []));
    return bucket;
  }

  #roomInSubnet(bucket: Contact[], subnet: string): boolean {
    if ((this.#subnets.get(subnet) ?? 0) >= this.#limits.perTable) return false;
    let inBucket = 0;
    for (const contact of bucket) if (subnetOf(contact.address, this.#limits.exemptPrivate) === subnet) inBucket++;
    return inBucket < this.#limits.perBucket;
  }

  #insert(bucket: Contact[], contact: Contact, subnet: string | undefined): void {
    bucket.push(contact);
    this.#byId.set(contact.idHex, contact);
    if (subnet !== undefined) this.#subnets.set(subnet, (this.#subnets.get(subnet) ?? 0) + 1);
  }

  /** Move to most recently seen. */
  #touch(bucket: Contact[], contact: Contact, answered: boolean): void {
    contact.lastSeen = this.#now();
    if (answered) contact.answered = true;
    const at = bucket.indexOf(contact);
    if (at !== bucket.length - 1) {
      bucket.splice(at, 1);
      bucket.push(contact);
    }
  }
}
