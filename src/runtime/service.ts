import type { Logger } from './logger.ts';

/**
 * A protocol is a map from command type to its command fields and its reply:
 *
 *   interface KvProtocol {
 *     put: { command: { key: Uint8Array; value: Uint8Array }; reply: void };
 *     get: { command: { key: Uint8Array }; reply: Uint8Array | undefined };
 *   }
 *
 * The command union a service accepts is derived from it: `{ type: 'put', key, value } | ...`.
 * A service that understands two command unions (d3's machine with two instruction sets) takes
 * the intersection `KvProtocol & AdminProtocol`.
 */
export type Protocol = object;

/** One entry of a protocol: the command's fields and its reply. */
export interface CommandSpec {
  command: object;
  reply: unknown;
}

export type CommandType<P extends Protocol> = keyof P & string;

/** The command union of a protocol, or the one command of type K. */
export type Command<P extends Protocol, K extends CommandType<P> = CommandType<P>> = K extends CommandType<P>
  ? P[K] extends CommandSpec
    ? { type: K } & P[K]['command']
    : never
  : never;

export type Reply<P extends Protocol, K extends CommandType<P>> = P[K] extends CommandSpec ? P[K]['reply'] : never;

/** One handler per command type. A handler returns the reply, or a promise of it. */
export type Handlers<P extends Protocol> = {
  [K in CommandType<P>]: (command: Command<P, K>) => Reply<P, K> | Promise<Reply<P, K>>;
};

export interface CallOptions {
  /** Deadline in ms; the call rejects with ERR_CALL_TIMEOUT after it. Default: the spawner's. */
  timeout?: number;
  signal?: AbortSignal;
}

/** What any holder of a service can do with it, wherever the service runs. */
export interface ServicePort<P extends Protocol> {
  readonly name: string;
  /** Queue a command. Resolves once it is queued: at once, or when a full queue has room. */
  send(command: Command<P>): Promise<void>;
  /** Queue a command if there is room now; false when the queue is full. Never waits. */
  offer(command: Command<P>): boolean;
  /** Request/reply with a deadline and an AbortSignal. */
  call<C extends Command<P>>(command: C, options?: CallOptions): Promise<Reply<P, C['type']>>;
}

/** What a running service gets from its host: its identity, its config, and its peers. */
export interface ServiceContext<Config = unknown> {
  readonly name: string;
  readonly config: Config;
  readonly log: Logger;
  /** Aborted when the service is stopping. */
  readonly signal: AbortSignal;
  /** A port to another service of the same system, by name, under whatever spawner runs it. */
  service<P extends Protocol>(name: string): ServicePort<P>;
}

export interface ServiceBody<P extends Protocol> {
  handlers: Handlers<P>;
  /** Release what the service holds (stores, timers). Called once, after the last command. */
  stop?(): void | Promise<void>;
  /**
   * How many commands may be handled at once. 1 (the default) is a strict actor: FIFO order and
   * no interleaving of handlers. More lets a service overlap I/O, and then replies may reorder.
   */
  concurrency?: number;
}

export type ServiceInit<P extends Protocol, Config = unknown> = (
  context: ServiceContext<Config>,
) => ServiceBody<P> | Promise<ServiceBody<P>>;

/** A service definition: the default export of a service module. */
export interface ServiceDefinition<P extends Protocol, Config = unknown> {
  readonly kind: 'mydht.service';
  readonly init: ServiceInit<P, Config>;
}

/**
 * Define a service in one small file:
 *
 *   export default defineService<EchoProtocol>((ctx) => ({
 *     handlers: { echo: (cmd) => cmd.text },
 *   }));
 */
export function defineService<P extends Protocol, Config = unknown>(
  init: ServiceInit<P, Config>,
): ServiceDefinition<P, Config> {
  return { kind: 'mydht.service', init };
}

/** Any service definition, whatever its protocol: what specs and loaders pass around. */
export type AnyServiceDefinition = { readonly kind: 'mydht.service' };

export function isServiceDefinition(value: unknown): value is ServiceDefinition<Protocol> {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'mydht.service';
}

/**
 * Where a worker or child can load a service from: a module URL and the export holding its
 * definition. Module references, not functions, are what crosses a thread or process boundary.
 */
export interface ServiceModule {
  /** An absolute `file:` URL (or a package specifier the child can resolve). */
  url: string;
  /** The export that holds the definition; `default` unless said otherwise. */
  export?: string;
}

/** Resolve a service module path relative to the calling module: `serviceModule(import.meta.url, '../services/kv.ts')`. */
export function serviceModule(base: string | URL, path: string, exportName?: string): ServiceModule {
  const url = new URL(path, base).href;
  return exportName === undefined ? { url } : { url, export: exportName };
}

export async function loadServiceDefinition(module: ServiceModule): Promise<ServiceDefinition<Protocol>> {
  const loaded = (await import(module.url)) as Record<string, unknown>;
  const definition = loaded[module.export ?? 'default'];
  if (!isServiceDefinition(definition)) {
    throw new TypeError(`${module.url} does not export a service definition as "${module.export ?? 'default'}"`);
  }
  return definition;
}
