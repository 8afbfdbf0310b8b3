/**
 * Every failure a caller can act on has its own class and a stable `code`. Codes are part of the
 * public contract: tests, logs and the CLI match on them, never on messages.
 */
export class MyDhtError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bytes that do not decode: bad CBOR, limits exceeded, trailing data. */
export class DecodeError extends MyDhtError {}

/** A value that cannot travel across a boundary (a function, a symbol, a cycle). */
export class EncodeError extends MyDhtError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_ENCODE', message, options);
  }
}

/** A frame or message larger than the configured maximum, refused before allocation. */
export class FrameTooLargeError extends MyDhtError {
  constructor(size: number, max: number) {
    super('ERR_FRAME_TOO_LARGE', `frame of ${size} bytes exceeds the maximum of ${max}`);
  }
}

/** A command whose `type` the service has no handler for. */
export class UnknownCommandError extends MyDhtError {
  constructor(service: string, type: unknown) {
    super('ERR_UNKNOWN_COMMAND', `service "${service}" has no handler for command type ${JSON.stringify(type)}`);
  }
}

/** A command that is not an object with a string `type`. */
export class MalformedMessageError extends MyDhtError {
  constructor(service: string, detail: string) {
    super('ERR_MALFORMED_MESSAGE', `service "${service}" received a malformed message: ${detail}`);
  }
}

/** The service was stopped while the call was queued or in flight, or a send came after stop. */
export class ServiceStoppedError extends MyDhtError {
  constructor(service: string) {
    super('ERR_SERVICE_STOPPED', `service "${service}" is stopped`);
  }
}

/** The worker or child running the service died; the call was in flight and is lost. */
export class ServiceRestartedError extends MyDhtError {
  constructor(service: string, reason: string) {
    super('ERR_SERVICE_RESTARTED', `service "${service}" restarted (${reason}); the call in flight was lost`);
  }
}

/**
 * The service crashed more often than its restart policy allows and is given up. `cause` is the
 * last error it threw, when it threw one (a crashed process has none): its code says why.
 */
export class ServiceFailedError extends MyDhtError {
  constructor(service: string, reason: string, options?: ErrorOptions) {
    super('ERR_SERVICE_FAILED', `service "${service}" failed permanently: ${reason}`, options);
  }
}

/** A call's deadline passed before its reply arrived. */
export class CallTimeoutError extends MyDhtError {
  constructor(service: string, type: string, ms: number) {
    super('ERR_CALL_TIMEOUT', `call "${type}" to service "${service}" timed out after ${ms} ms`);
  }
}

/** The caller's AbortSignal fired. */
export class AbortedError extends MyDhtError {
  constructor(reason?: unknown) {
    super('ERR_ABORTED', 'the operation was aborted', reason === undefined ? undefined : { cause: reason });
  }
}

/** A name that no service is registered under. */
export class NoSuchServiceError extends MyDhtError {
  constructor(name: string) {
    super('ERR_NO_SUCH_SERVICE', `no service is registered as "${name}"`);
  }
}

/**
 * A handler threw something without a `code` of its own. Errors that carry a code keep it when
 * they cross a boundary, so a caller matches on the same code under every spawner.
 */
export class HandlerError extends MyDhtError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_HANDLER', message, options);
  }
}

/** Configuration that cannot be used; names the field and what was expected. */
export class ConfigError extends MyDhtError {
  constructor(message: string) {
    super('ERR_CONFIG', message);
  }
}

/** The stable code of anything thrown: its own `code` when it has a string one, else ERR_HANDLER. */
export function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'ERR_HANDLER';
}

/** The code of the innermost error that has one, following `cause`: why a wrapped failure happened. */
export function rootCodeOf(err: unknown): string {
  let code = codeOf(err);
  let at = (err as { cause?: unknown } | null)?.cause;
  for (let depth = 0; at !== undefined && at !== null && depth < 8; depth++) {
    const inner = (at as { code?: unknown }).code;
    if (typeof inner === 'string') code = inner;
    at = (at as { cause?: unknown }).cause;
  }
  return code;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Rebuild an error that crossed a boundary as its code and message. */
export function errorFromWire(code: string, message: string): MyDhtError {
  return new MyDhtError(code, message);
}
