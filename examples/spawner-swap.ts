/**
 * The same scenario under each spawner, chosen by one field: a chat service gets 20,000 lines
 * (one-way sends, then one call that waits behind them), and the timings are printed.
 *
 *   npx node examples/spawner-swap.ts
 */
import { ACCEPTED, createServiceSystem, serviceModule, SPAWNER_KINDS } from '../src/index.ts';
import type { AdminProtocol, ChatProtocol } from './echo-service.ts';

const LINES = 20_000;

export async function swap(lines = LINES): Promise<{ spawner: string; ms: number; lines: number }[]> {
  const results = [];
  for (const spawner of SPAWNER_KINDS) {
    const system = createServiceSystem();
    const chat = system.spawn<ChatProtocol & AdminProtocol>({
      name: 'chat',
      module: serviceModule(import.meta.url, './echo-service.ts'),
      spawner,
    });
    await chat.ready;
    const started = performance.now();
    for (let i = 0; i < lines; i++) {
      const sent = chat.send({ type: 'say', from: 'example', text: `line ${i}` });
      if (sent !== ACCEPTED) await sent;
    }
    const counted = await chat.call({ type: 'lines' });
    results.push({ spawner, ms: Math.round(performance.now() - started), lines: counted });
    await system.stop();
  }
  return results;
}

if (import.meta.main) {
  for (const { spawner, ms, lines } of await swap()) {
    console.log(`${spawner.padEnd(14)} ${String(lines).padStart(6)} lines in ${String(ms).padStart(5)} ms`);
  }
}
