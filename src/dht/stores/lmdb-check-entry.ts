/**
 * Run by checkLmdb in a child process of its own: opens the LMDB environment at argv[2] read-only
 * and reads every entry, key and value, so that every page a reader can reach is touched. LMDB
 * trusts its file: a damaged one can crash the process that reads it, and this is that process.
 */
import { open } from 'lmdb';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: lmdb-check-entry <path>');
const db = open<Uint8Array, Uint8Array>({ path, readOnly: true, encoding: 'binary', keyEncoding: 'binary', compression: false });
// Each step reads the entry's key and value: the reading is the check.
for (const { key, value } of db.getRange()) void [key, value];
await db.close();
