/**
 * A service of your own beside the DHT (./chat-service.ts, one small file), registered by
 * configuration: two nodes each run it, and one talks to the other's.
 *
 *   npx node examples/custom-service.ts
 */
import { createNode, serviceModule } from '../src/index.ts';
import { MemoryNetwork } from '../transports/memory.ts';

export async function chat(spawner: 'same-loop' | 'worker-thread' | 'child-process' = 'same-loop'): Promise<string[]> {
  const network = new MemoryNetwork();
  // The registration: a name, the module, and where it runs. Peers reach it by that name.
  const services = { chat: { module: serviceModule(import.meta.url, './chat-service.ts'), spawner, config: { room: 'lobby' } } };
  const alice = await createNode({ transports: [network.transport()], listen: ['/memory/alice'], services });
  const bob = await createNode({ transports: [network.transport()], listen: ['/memory/bob'], bootstrap: ['/memory/alice'], services });
  await alice.start();
  await bob.start();
  try {
    for (const text of ['hello alice', 'the DHT is up', 'bye']) {
      await bob.query({ peers: [alice.id], service: 'chat', command: { type: 'say', text } as { type: string }, expect: 1 });
    }
    return (await alice.local({ type: 'lines' }, { service: 'chat' })) as string[];
  } finally {
    await Promise.all([alice.stop(), bob.stop()]);
  }
}

if (import.meta.main) {
  for (const line of await chat()) console.log(line);
}
