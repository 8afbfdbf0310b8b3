/**
 * The public API of mydht. The DHT node (createNode, createTestnet) arrives with the node and
 * DHT layers; what is here is the service runtime they are built on.
 */
export { createServiceSystem, defaultSpawners } from './assemble.ts';
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
