/**
 * The public API of mydht: the node (createNode) with its DHT operations, createTestnet for a
 * local network, records, and the service runtime it is all built on.
 */
export {
  createNode,
  createServiceSystem,
  defaultSpawners,
  Libp2pTransport,
  MemoryNetwork,
  TcpTransport,
  transportNamed,
  UdpTransport,
  type NodeConfig,
  type TransportContext,
  type TransportName,
  type UdpTransportOptions,
} from './assemble.ts';
export { ListenSubscription, type ListenItem } from './node/listen-subscription.ts';
export { MyDhtNode, NODE_SERVICES, type ApplicationService, type NodeEventMap, type NodeServiceName, type QueryOptions } from './node/node.ts';
export { createTestnet, SPAWNER_PRESETS, type SpawnerPreset, type Testnet, type TestnetOptions } from './testnet.ts';
export { immutableRecord, mutableRecord, plainRecord, validateRecord, type DhtRecord } from './dht/records.ts';
export { NodeIdentity, peerIdOf } from './node/identity.ts';
export { PeerRecord } from './node/peer-record.ts';
export type { GlobalProtocol, QueryResult, ConnectedPeer, KnownPeer, LookupReply, QueryEvent } from './node/protocols.ts';
export { parseQueryMode, type QueryMode } from './dht/seek.ts';
export type { Connection, Listener, SecureChannel, SessionKeys, Transport } from './net/transport.ts';
export { Codec, DEFAULT_CODEC_LIMITS, type CodecLimits } from './runtime/codec.ts';
export * from './runtime/errors.ts';
export { silentLogger, type Logger, type LogLevel } from './runtime/logger.ts';
export { ACCEPTED, QueueFullError, type MailboxCounters } from './runtime/mailbox.ts';
export { DEFAULT_CALL_TIMEOUT_MS } from './runtime/reply.ts';
export { DEFAULT_RESTART_POLICY, type RestartPolicy } from './runtime/restart-policy.ts';
export {
  defineService,
  serviceModule,
  type AnyServiceDefinition,
  type CallOptions,
  type Command,
  type CommandType,
  type Handlers,
  type Protocol,
  type Reply,
  type ServiceBody,
  type ServiceContext,
  type ServiceDefinition,
  type ServiceModule,
  type ServicePort,
} from './runtime/service.ts';
export { defineShared, internedCount, type SharedType } from './runtime/shared-ref.ts';
export {
  SPAWNER_KINDS,
  type ServiceHandle,
  type ServiceState,
  type ServiceStatus,
  type Spawner,
  type SpawnerKind,
  type SpawnOptions,
} from './runtime/spawner.ts';
export { DEFAULT_QUEUE_CAPACITY, ServiceSystem, type ServiceSpec, type SystemOptions } from './runtime/system.ts';
