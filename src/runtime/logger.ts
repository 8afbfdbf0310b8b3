/**
 * The logging surface services see. It is pino's: a child logger per service, and structured
 * fields first. Services in workers and child processes log through their parent, which writes
 * each line with the service's name.
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export type LogFn = (fields: object | string, message?: string) => void;

export type Logger = { [L in LogLevel]: LogFn } & {
  child(bindings: Record<string, unknown>): Logger;
};

/** A logger that drops everything: the default when the embedder gives none. */
export const silentLogger: Logger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return silentLogger;
  },
};

/** A logger whose lines go to `sink`, as the host of a remote service uses to forward them. */
export function forwardingLogger(
  sink: (level: LogLevel, fields: Record<string, unknown>, message: string | undefined) => void,
  bindings: Record<string, unknown> = {},
): Logger {
  const at =
    (level: LogLevel): LogFn =>
    (fields, message) => {
      if (typeof fields === 'string') sink(level, { ...bindings }, fields);
      else sink(level, { ...bindings, ...plainFields(fields) }, message);
    };
  return {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (more) => forwardingLogger(sink, { ...bindings, ...more }),
  };
}

/** Errors do not encode as plain objects; keep what a reader needs from them. */
function plainFields(fields: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] =
      value instanceof Error ? { message: value.message, code: (value as { code?: unknown }).code, stack: value.stack } : value;
  }
  return out;
}
