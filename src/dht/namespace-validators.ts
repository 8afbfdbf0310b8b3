import { ConfigError } from '../runtime/errors.ts';
import type { NamespaceValidator } from './records.ts';

/**
 * Plain records are judged by their namespace's validator, which applications write. Validators
 * are code, and the services that run them may sit in a worker thread or a child process, so
 * they are named by module: a module whose default export maps each namespace to a function
 * that throws to refuse a record, e.g.
 *
 *   export default { names: (record) => { if (record.value.length > 64) throw new Error('too long') } };
 *
 * Every service and the node load the same module, so a record is judged alike on put and on
 * get, wherever it runs. A namespace without a validator is refused (ERR_RECORD_NAMESPACE).
 */
export type ValidatorsModule = string;

const loaded = new Map<string, Promise<ReadonlyMap<string, NamespaceValidator>>>();

/**
 * The namespace every node accepts: any value within the size limit, under any name; a newer
 * value replaces an older one on each holder, and nobody owns a name (OpenDHT's unsigned
 * values). It is what `mydht put <name> <value>` and the HTTP API store.
 */
export const PUBLIC_NAMESPACE = 'public';
const BUILT_IN: ReadonlyMap<string, NamespaceValidator> = new Map([[PUBLIC_NAMESPACE, () => {}]]);

/**
 * The validators of a module (an absolute file: or data: URL), loaded once per process, with the
 * built-in `public` namespace (which a module may not redefine).
 */
export function loadValidators(url: ValidatorsModule | undefined): Promise<ReadonlyMap<string, NamespaceValidator>> {
  if (url === undefined) return Promise.resolve(BUILT_IN);
  let pending = loaded.get(url);
  if (pending === undefined) {
    pending = load(url);
    loaded.set(url, pending);
    pending.catch(() => loaded.delete(url));
  }
  return pending;
}

async function load(url: string): Promise<ReadonlyMap<string, NamespaceValidator>> {
  let exported: unknown;
  try {
    exported = ((await import(url)) as { default?: unknown }).default;
  } catch (err) {
    throw new ConfigError(`record validators: cannot load ${url}: ${(err as Error).message}`);
  }
  if (typeof exported !== 'object' || exported === null) {
    throw new ConfigError(`record validators: ${url} must export by default an object of namespace -> function`);
  }
  const validators = new Map<string, NamespaceValidator>(BUILT_IN);
  for (const [namespace, validator] of Object.entries(exported)) {
    if (namespace === PUBLIC_NAMESPACE) throw new ConfigError(`record validators: ${url}: the ${PUBLIC_NAMESPACE} namespace is built in`);
    if (typeof validator !== 'function') throw new ConfigError(`record validators: ${url}: the validator of namespace ${JSON.stringify(namespace)} is not a function`);
    validators.set(namespace, validator as NamespaceValidator);
  }
  return validators;
}
