import { randomBytes } from 'node:crypto';
import type { MemoryKvProtocol } from '../../services/memory-kv.ts';
import { createServiceSystem } from '../assemble.ts';
import { ACCEPTED } from '../runtime/mailbox.ts';
import { serviceModule } from '../runtime/service.ts';
import type { SpawnerKind } from '../runtime/spawner.ts';

const MEMORY_KV = serviceModule(import.meta.url, `../../services/memory-kv${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`);

export interface DemoOptions {
  records: number;
  spawners: SpawnerKind[];
  json: boolean;
}

export interface DemoResult {
  spawner: SpawnerKind;
  records: number;
  startMs: number;
  putOpsPerSec: number;
  getOpsPerSec: number;
  verified: number;
  restarts: number;
}

/**
 * The runtime demo: the same key-value service under each spawner, chosen by one field of its
 * spec. Puts are one-way sends (backpressure keeps the queue bounded); gets are calls.
 * Exit code 0 when every record read back matches what was put.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const records = Array.from({ length: options.records }, () => ({ key: randomBytes(32), value: randomBytes(100) }));
  const results: DemoResult[] = [];
  for (const spawner of options.spawners) {
    const result = await demoOne(spawner, records);
    results.push(result);
    if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  if (!options.json) printTable(results);
  return results.every((result) => result.verified === result.records) ? 0 : 1;
}

async function demoOne(spawner: SpawnerKind, records: { key: Uint8Array; value: Uint8Array }[]): Promise<DemoResult> {
  const system = createServiceSystem();
  try {
    const started = performance.now();
    const kv = system.spawn<MemoryKvProtocol>({ name: 'kv', module: MEMORY_KV, spawner });
    await kv.ready;
    const startMs = performance.now() - started;

    const putStart = performance.now();
    for (const { key, value } of records) {
      const sent = kv.send({ type: 'put', key, value });
      if (sent !== ACCEPTED) await sent;
    }
    await system.settled();
    const putSeconds = (performance.now() - putStart) / 1000;

    const getStart = performance.now();
    let verified = 0;
    // Keep 64 gets in flight: a call each, answered in order.
    const window = 64;
    for (let i = 0; i < records.length; i += window) {
      const batch = records.slice(i, i + window);
      const values = await Promise.all(batch.map(({ key }) => kv.call({ type: 'get', key })));
      values.forEach((value, j) => {
        if (value !== null && Buffer.compare(Buffer.from(value), Buffer.from(batch[j]!.value)) === 0) verified++;
      });
    }
    const getSeconds = (performance.now() - getStart) / 1000;
    return {
      spawner,
      records: records.length,
      startMs: round(startMs),
      putOpsPerSec: Math.round(records.length / putSeconds),
      getOpsPerSec: Math.round(records.length / getSeconds),
      verified,
      restarts: kv.status().restarts,
    };
  } finally {
    await system.stop();
  }
}

function printTable(results: DemoResult[]): void {
  const rows = [
    ['spawner', 'records', 'start ms', 'put ops/s', 'get ops/s', 'verified'],
    ...results.map((r) => [r.spawner, r.records, r.startMs, r.putOpsPerSec, r.getOpsPerSec, `${r.verified}/${r.records}`].map(String)),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, column) => cell.padStart(widths[column]!)).join('  ')}\n`);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
