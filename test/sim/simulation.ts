import { createHash, type Hash } from 'node:crypto';
import { createNode, type NodeConfig } from '../../src/assemble.ts';
import { NodeIdentity } from '../../src/node/identity.ts';
import type { MyDhtNode, NodeTuning } from '../../src/node/node.ts';
import { SeededRandom } from '../../src/net/seeded-random.ts';
import { MemoryNetwork } from '../../transports/memory.ts';
import type { VirtualClock } from './virtual-clock.ts';

export interface SimulationOptions {
  seed: number;
  /** One-way latency of each write, ms, drawn per write from the seed. */
  latencyMs?: { min: number; max: number };
  /** Share of writes that reset their connection instead of arriving (a stream's loss). */
  resetRate?: number;
  /** Node options, the same for every node. */
  node?: Partial<NodeTuning>;
  /** Options of node `index` alone, over `node` (its announced address, its service modules). */
  configure?: (index: number) => Partial<NodeConfig>;
}

/** The in-memory address a node listens on (the first of its addresses may be announced, not listened on). */
export function memoryAddress(node: MyDhtNode): string {
  const address = node.addresses.find((candidate) => candidate.startsWith('/memory/'));
  if (address === undefined) throw new Error(`node ${node.id} listens on no memory address`);
  return address;
}

/**
 * Real nodes (same-loop services, in-memory stores) on an in-memory network, under a virtual
 * clock: latency, resets and every random choice come from the seed. Every chunk delivered is
 * hashed, with its virtual time, into the event log's hash: two runs of one seed must agree.
 */
export class Simulation {
  readonly clock: VirtualClock;
  readonly random: SeededRandom;
  readonly network: MemoryNetwork;
  /** Live nodes by index; a killed node leaves its index empty. */
  readonly nodes = new Map<number, MyDhtNode>();
  readonly #options: SimulationOptions;
  readonly #log: Hash = createHash('sha256');
  #events = 0;
  #next = 0;

  constructor(clock: VirtualClock, options: SimulationOptions) {
    this.clock = clock;
    this.#options = options;
    this.random = new SeededRandom(options.seed);
    // Everything random in the nodes draws from the seed too (lookup tags, bucket refresh targets).
    const random = new SeededRandom(options.seed ^ 0x5eed);
    Math.random = () => random.next();
    this.network = new MemoryNetwork({
      seed: options.seed,
      ...(options.latencyMs === undefined ? {} : { latencyMs: options.latencyMs }),
      ...(options.resetRate === undefined ? {} : { resetRate: options.resetRate }),
      onDeliver: (from, to, bytes) => {
        this.#events++;
        this.#log.update(`${clock.now.toFixed(3)} ${from} ${to} ${bytes}\n`);
      },
    });
  }

  /** Chunks delivered so far. */
  get events(): number {
    return this.#events;
  }

  /** The hash of the event log so far (it can be read once: the run is over then). */
  hash(): string {
    return this.#log.digest('hex');
  }

  live(): MyDhtNode[] {
    return [...this.nodes.values()];
  }

  /** A random live node, optionally not `except`. */
  pick(except?: MyDhtNode): MyDhtNode {
    const live = this.live().filter((node) => node !== except);
    return live[this.random.int(0, live.length - 1)]!;
  }

  /** Start a new node, joining through `bootstrap` (addresses), and look itself up. */
  add(bootstrap: readonly string[]): Promise<MyDhtNode> {
    return this.clock.settle(this.#join(bootstrap));
  }

  /**
   * `count` nodes joining, `concurrency` at a time, each through up to 3 random nodes already
   * in. One settle drives them all: the virtual clock has one driver.
   */
  async grow(count: number, concurrency = 1, onJoined?: (joined: number) => void): Promise<void> {
    let left = count;
    let joined = 0;
    const worker = async (): Promise<void> => {
      while (left > 0) {
        left--;
        const live = this.live();
        const bootstrap = new Set<string>();
        while (bootstrap.size < Math.min(3, live.length)) bootstrap.add(memoryAddress(live[this.random.int(0, live.length - 1)]!));
        await this.#join([...bootstrap]);
        onJoined?.(++joined);
      }
    };
    // The first node has no one to join through: it starts alone, before the others.
    if (this.nodes.size === 0 && left > 0) {
      left--;
      await this.add([]);
    }
    await this.clock.settle(Promise.all(Array.from({ length: concurrency }, worker)), 24 * 3_600_000);
  }

  async #join(bootstrap: readonly string[]): Promise<MyDhtNode> {
    const index = this.#next++;
    const seed = createHash('sha256').update(`mydht sim ${this.#options.seed} node ${index}`).digest();
    const own = this.#options.configure?.(index);
    const node = await createNode({
      ...this.#options.node,
      ...own,
      identity: own?.identity ?? NodeIdentity.fromSeed(new Uint8Array(seed)),
      transports: [this.network.transport()],
      listen: [`/memory/n${index}`],
      bootstrap: [...bootstrap],
    });
    this.nodes.set(index, node);
    await node.start();
    await node.lookup(node.identity.id, { mode: 'iterative' });
    return node;
  }

  /** A node stops at once: its connections are reset, its records gone with it. */
  async kill(node: MyDhtNode): Promise<void> {
    for (const [index, candidate] of this.nodes) if (candidate === node) this.nodes.delete(index);
    await this.clock.settle(node.stop());
  }

  async stop(): Promise<void> {
    await this.clock.settle(Promise.all(this.live().map((node) => node.stop())));
    this.nodes.clear();
  }
}
