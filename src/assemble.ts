/**
 * The one place in src/ that names concrete spawners (and, later, transports and services):
 * everything else depends on the contracts only.
 */
import { join } from 'node:path';
import { ChildProcessSpawner } from '../spawners/child-process/index.ts';
import { SameLoopSpawner } from '../spawners/same-loop.ts';
import { WorkerThreadSpawner } from '../spawners/worker-thread/index.ts';
import { MemoryNetwork } from '../transports/memory.ts';
import { TcpTransport } from '../transports/tcp.ts';
import { UdpTransport, type UdpTransportOptions } from '../transports/udp/index.ts';
import { Libp2pTransport } from '../transports/libp2p/index.ts';
import type { Transport, TransportName } from './net/transport.ts';
import { NodeIdentity } from './node/identity.ts';
import { MyDhtNode, NODE_SERVICES, type ApplicationService, type NodeServiceName, type NodeTuning } from './node/node.ts';
import { ConfigError } from './runtime/errors.ts';
import { serviceModule, type ServiceModule } from './runtime/service.ts';
import type { Spawner, SpawnerKind } from './runtime/spawner.ts';
import { ServiceSystem, type SystemOptions } from './runtime/system.ts';

export function defaultSpawners(): Record<SpawnerKind, Spawner> {
  return {
    'same-loop': new SameLoopSpawner(),
    'worker-thread': new WorkerThreadSpawner(),
    'child-process': new ChildProcessSpawner(),
  };
}

/** A service system with all three spawners available. */
export function createServiceSystem(options: Omit<SystemOptions, 'spawners'> = {}): ServiceSystem {
  return new ServiceSystem({ ...options, spawners: defaultSpawners() });
}

/** Source files run as .ts; the built package as .js. */
const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** The default global service: the key-value store of the DHT's records. */
export const KV_SERVICE = serviceModule(import.meta.url, `../services/kv${EXT}`);

const BUILTIN_SERVICES: Record<Exclude<NodeServiceName, 'global'>, ServiceModule> = {
  'main-loop': serviceModule(import.meta.url, `../services/main-loop${EXT}`),
  read: serviceModule(import.meta.url, `../services/read${EXT}`),
  write: serviceModule(import.meta.url, `../services/write${EXT}`),
  'peer-store': serviceModule(import.meta.url, `../services/peer-store${EXT}`),
  api: serviceModule(import.meta.url, `../services/api/index${EXT}`),
  events: serviceModule(import.meta.url, `../services/events${EXT}`),
  listen: serviceModule(import.meta.url, `../services/listen${EXT}`),
};

export interface NodeConfig extends NodeTuning {
  /** Where the node key lives (created on first start). Without it the identity is new each run. */
  dataDir?: string;
  identity?: NodeIdentity;
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0` or `/memory/a`. */
  listen?: string[];
  /** Multiaddrs to dial once started. */
  bootstrap?: string[];
  /** Transports to use; default TCP. */
  transports?: Transport[];
  /** The spawner of each service (the main loop is always same-loop); default all same-loop. */
  spawners?: Partial<Record<NodeServiceName, SpawnerKind>>;
  /**
   * The application's global service module (its config is `globalConfig`). Default: the
   * key-value service, on LMDB in `<dataDir>/records` when there is a data dir, else in memory.
   */
  global?: ServiceModule;
  /**
   * The application's own services beside the global one, by name (MyDHT's custom commands):
   * each speaks the global service's protocol, and peers reach it with `query({ service })`.
   */
  services?: Record<string, ApplicationService>;
  /**
   * Replace a built-in service with another module speaking its protocol (a peer store that
   * persists, one that logs each command, or a misbehaving one in a simulated attack). The main
   * loop owns the sockets and must stay same-loop whatever its module.
   */
  modules?: Partial<Record<Exclude<NodeServiceName, 'global'>, ServiceModule>>;
}

/** Assemble a node from its configuration: identity, transports, and each service under its spawner. */
export async function createNode(config: NodeConfig): Promise<MyDhtNode> {
  const identity =
    config.identity ?? (config.dataDir === undefined ? NodeIdentity.generate() : await NodeIdentity.loadOrCreate(config.dataDir, config.log));
  const spawners = Object.fromEntries(NODE_SERVICES.map((name) => [name, config.spawners?.[name] ?? 'same-loop'])) as Record<
    NodeServiceName,
    SpawnerKind
  >;
  const { dataDir, identity: _identity, transports, spawners: _spawners, global, listen, bootstrap, services, modules, ...tuning } = config;
  const kvConfig = {
    ...(dataDir === undefined ? { store: 'memory' } : { store: 'lmdb', dataDir }),
    ...(tuning.maxValueBytes === undefined ? {} : { maxValueBytes: tuning.maxValueBytes }),
    ...(tuning.recordValidators === undefined ? {} : { validators: tuning.recordValidators }),
  };
  return new MyDhtNode({
    ...tuning,
    ...(global === undefined && tuning.globalConfig === undefined ? { globalConfig: kvConfig } : {}),
    identity,
    transports: transports ?? [new TcpTransport()],
    modules: { ...BUILTIN_SERVICES, ...modules, global: global ?? KV_SERVICE },
    spawners,
    system: createServiceSystem(config.log === undefined ? {} : { log: config.log }),
    listen: listen ?? [],
    bootstrap: bootstrap ?? [],
    ...(services === undefined ? {} : { services }),
    ...(dataDir === undefined ? {} : { publishedPath: join(dataDir, 'published') }),
  });
}

export type { TransportName, UdpTransportOptions };
/** The concrete transports, for `createNode({ transports })`: assembled here, offered from the package root. */
export { Libp2pTransport, MemoryNetwork, TcpTransport, UdpTransport };

/** What building a transport by name may need. */
export interface TransportContext {
  /** The in-memory network all memory transports of a testnet share. */
  network?: MemoryNetwork;
  /** UDP tuning (limits, injected loss). */
  udp?: UdpTransportOptions;
  /** The node's identity: libp2p runs under the node's own key. */
  identity?: NodeIdentity;
}

/** A transport by name; memory transports of one testnet share one in-memory network. */
export function transportNamed(name: TransportName, context: TransportContext = {}): Transport {
  switch (name) {
    case 'tcp':
      return new TcpTransport();
    case 'udp':
      return new UdpTransport(context.udp);
    case 'memory':
      if (context.network === undefined) throw new TypeError('a memory transport needs its network');
      return context.network.transport();
    case 'libp2p':
      if (context.identity === undefined) throw new ConfigError('the libp2p transport needs the node identity: its key is the libp2p key');
      return new Libp2pTransport({ identity: context.identity });
  }
}

/** Where node `i` of a local network listens on `name`: loopback, any free port. */
export function localListenAddress(name: TransportName, i: number): string {
  switch (name) {
    case 'memory':
      return `/memory/node-${i}`;
    case 'udp':
      return '/ip4/127.0.0.1/udp/0';
    case 'tcp':
    case 'libp2p':
      return '/ip4/127.0.0.1/tcp/0';
  }
}

export function memoryNetwork(seed?: number): MemoryNetwork {
  return new MemoryNetwork(seed === undefined ? {} : { seed });
}
