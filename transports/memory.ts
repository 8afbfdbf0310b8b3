import { AbortedError } from '../src/runtime/errors.ts';
import { SeededRandom } from '../src/net/seeded-random.ts';
import { WRITE_HIGH_WATER_MARK, type Connection, type DialOptions, type Listener, type Transport } from '../src/net/transport.ts';
import { TransportError } from './transport-error.ts';

export interface MemoryNetworkOptions {
  /** Seed of every random choice the network makes (latency, resets). Printed by tests that fail. */
  seed?: number;
  /** One-way delay of each write, ms, drawn uniformly per write; order is kept. Default 0. */
  latencyMs?: { min: number; max: number };
  /**
   * Probability that a write breaks its connection instead of arriving: a stream cannot lose a
   * write and go on (neither can TCP), so loss here is a connection reset. Default 0.
   */
  resetRate?: number;
  /** Told of every chunk delivered, in delivery order: a simulator hashes these into its event log. */
  onDeliver?: (from: string, to: string, bytes: number) => void;
}

/**
 * A network in one process, for tests and simulation: nodes listen on `/memory/<name>` and dial
 * each other by that name. Latency, resets and partitions are injected from a seed, so a run is
 * reproducible. Each node takes its own transport from the same network.
 */
export class MemoryNetwork {
  readonly random: SeededRandom;
  readonly #options: MemoryNetworkOptions;
  readonly #listeners = new Map<string, (connection: MemoryConnection) => void>();
  #groups: Map<string, number> | undefined;
  #nextAnonymous = 1;

  constructor(options: MemoryNetworkOptions = {}) {
    this.#options = options;
    this.random = new SeededRandom(options.seed ?? 1);
  }

  transport(): MemoryTransport {
    return new MemoryTransport(this);
  }

  /** Split the network: names in different groups cannot reach each other; names in no group reach nobody. */
  partition(...groups: readonly (readonly string[])[]): void {
    this.#groups = new Map();
    groups.forEach((group, index) => group.forEach((name) => this.#groups!.set(name, index)));
  }

  heal(): void {
    this.#groups = undefined;
  }

  reachable(from: string, to: string): boolean {
    if (this.#groups === undefined) return true;
    const a = this.#groups.get(from);
    return a !== undefined && a === this.#groups.get(to);
  }

  /** @internal */
  register(name: string, accept: (connection: MemoryConnection) => void): void {
    if (this.#listeners.has(name)) throw new TransportError('ERR_ADDRESS_IN_USE', `/memory/${name} is already listened on`);
    this.#listeners.set(name, accept);
  }

  /** @internal */
  unregister(name: string): void {
    this.#listeners.delete(name);
  }

  /** @internal */
  connect(from: string, to: string): MemoryConnection {
    const accept = this.#listeners.get(to);
    if (accept === undefined || !this.reachable(from, to)) {
      throw new TransportError('ERR_DIAL_FAILED', `cannot dial /memory/${to}: nothing listens there, or it is partitioned away`);
    }
    const outbound = new MemoryConnection(this, 'outbound', from, to);
    const inbound = new MemoryConnection(this, 'inbound', to, from);
    outbound.peer = inbound;
    inbound.peer = outbound;
    queueMicrotask(() => accept(inbound));
    return outbound;
  }

  /** @internal */
  anonymousName(): string {
    return `anonymous-${this.#nextAnonymous++}`;
  }

  /** @internal The delay of one write, ms. */
  delay(): number {
    const latency = this.#options.latencyMs;
    return latency === undefined ? 0 : this.random.int(latency.min, latency.max);
  }

  /** @internal */
  delivered(from: string, to: string, bytes: number): void {
    this.#options.onDeliver?.(from, to, bytes);
  }

  /** @internal Whether a write breaks its connection. */
  resets(): boolean {
    const rate = this.#options.resetRate ?? 0;
    return rate > 0 && this.random.next() < rate;
  }
}

export class MemoryTransport implements Transport {
  readonly name = 'memory' as const;
  readonly duplex = true as const;
  readonly #network: MemoryNetwork;
  readonly #names = new Set<string>();
  readonly #connections = new Set<MemoryConnection>();
  #name: string | undefined;

  constructor(network: MemoryNetwork) {
    this.#network = network;
  }

  handles(address: string): boolean {
    return /^\/memory\/[^/]+$/.test(address);
  }

  async listen(address: string, onConnection: (connection: Connection) => void): Promise<Listener> {
    const name = nameOf(address);
    this.#network.register(name, (connection) => onConnection(this.#track(connection)));
    this.#names.add(name);
    this.#name ??= name;
    return {
      addresses: [address],
      close: async () => {
        this.#network.unregister(name);
        this.#names.delete(name);
      },
    };
  }

  async dial(address: string, options: DialOptions = {}): Promise<Connection> {
    if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
    this.#name ??= this.#network.anonymousName();
    return this.#track(this.#network.connect(this.#name, nameOf(address)));
  }

  async close(): Promise<void> {
    for (const name of this.#names) this.#network.unregister(name);
    this.#names.clear();
    for (const connection of this.#connections) connection.close(true);
  }

  #track(connection: MemoryConnection): MemoryConnection {
    this.#connections.add(connection);
    connection.closedBy = () => this.#connections.delete(connection);
    return connection;
  }
}

let nextId = 1;

class MemoryConnection implements Connection {
  readonly id = `memory-${nextId++}`;
  readonly direction: 'inbound' | 'outbound';
  readonly remoteAddress: string;
  readonly localAddress: string;
  onData: ((chunk: Uint8Array) => void) | undefined;
  onClose: ((error?: Error) => void) | undefined;
  onDrain: (() => void) | undefined;
  peer: MemoryConnection | undefined;
  closedBy: (() => void) | undefined;
  readonly #network: MemoryNetwork;
  readonly #localName: string;
  readonly #remoteName: string;
  /** Chunks in flight to the peer, oldest first, each with the time it may arrive. */
  #inFlight: { at: number; chunk: Uint8Array }[] = [];
  #buffered = 0;
  /** The pending delivery: a timer for a chunk that is due later, an immediate for one due now. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #immediate: ReturnType<typeof setImmediate> | undefined;
  #closed = false;
  #lastArrival = 0;

  constructor(network: MemoryNetwork, direction: 'inbound' | 'outbound', local: string, remote: string) {
    this.#network = network;
    this.direction = direction;
    this.#localName = local;
    this.#remoteName = remote;
    this.localAddress = `/memory/${local}`;
    this.remoteAddress = `/memory/${remote}`;
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed) return false;
    if (this.#network.resets()) {
      this.close(true);
      return false;
    }
    // A partitioned link swallows what is written, as a cut cable does until the session times out.
    if (!this.#network.reachable(this.#localName, this.#remoteName)) return true;
    const at = Math.max(this.#lastArrival, performance.now() + this.#network.delay());
    this.#lastArrival = at;
    this.#inFlight.push({ at, chunk: Uint8Array.from(bytes) });
    this.#buffered += bytes.length;
    this.#schedule();
    return this.#buffered < WRITE_HIGH_WATER_MARK;
  }

  close(reset = false): void {
    if (this.#closed) return;
    if (!reset && this.#inFlight.length > 0) {
      // Deliver what was written, then close.
      this.#closeAfterFlush = true;
      return;
    }
    this.#finish(reset ? new TransportError('ERR_CONNECTION_RESET', 'connection reset') : undefined);
    const peer = this.peer;
    if (peer !== undefined) peer.#finish(reset ? new TransportError('ERR_CONNECTION_RESET', 'connection reset by peer') : undefined);
  }

  #closeAfterFlush = false;

  #finish(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#inFlight = [];
    this.closedBy?.();
    this.onClose?.(error);
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#immediate !== undefined || this.#inFlight.length === 0) return;
    const wait = this.#inFlight[0]!.at - performance.now();
    // setTimeout(0) waits at least 1 ms: with no latency configured, the next turn of the loop
    // (after I/O, as a socket's data would arrive) is what a write costs.
    if (wait <= 0) this.#immediate = setImmediate(this.#deliver);
    else this.#timer = setTimeout(this.#deliver, wait);
  }

  readonly #deliver = (): void => {
    this.#timer = undefined;
    this.#immediate = undefined;
    const now = performance.now();
    const wasAbove = this.#buffered >= WRITE_HIGH_WATER_MARK;
    while (this.#inFlight.length > 0 && this.#inFlight[0]!.at <= now && !this.#closed) {
      const { chunk } = this.#inFlight.shift()!;
      this.#buffered -= chunk.length;
      if (this.peer !== undefined && !this.peer.#closed) {
        this.#network.delivered(this.#localName, this.#remoteName, chunk.length);
        this.peer.onData?.(chunk);
      }
    }
    if (wasAbove && this.#buffered < WRITE_HIGH_WATER_MARK) this.onDrain?.();
    if (this.#inFlight.length > 0) this.#schedule();
    else if (this.#closeAfterFlush) this.close(false);
  };
}

function nameOf(address: string): string {
  const match = /^\/memory\/([^/]+)$/.exec(address);
  if (match === null) throw new TransportError('ERR_ADDRESS_INVALID', `not a memory multiaddr: ${address}`);
  return match[1]!;
}
