import assert from 'node:assert/strict';
import { createNode } from '../../src/assemble.ts';
import { forwardingLogger, type Logger } from '../../src/runtime/logger.ts';
import { serviceModule } from '../../src/runtime/service.ts';
import type { SpawnerKind } from '../../src/runtime/spawner.ts';
import { until } from '../helpers/until.ts';

const CHAT = serviceModule(import.meta.url, '../../examples/chat-service.ts');

/** A logger that keeps every line with its bindings, as pino would write them. */
function capturing(lines: Record<string, unknown>[], bindings: Record<string, unknown>): Logger {
  return forwardingLogger((level, fields, message) => void lines.push({ level, ...fields, msg: message }), bindings);
}

// Each line names the node and the service, wherever the service runs: workers and child
// processes log through the node.
describe('node logging', () => {
  for (const spawner of ['same-loop', 'worker-thread', 'child-process'] as SpawnerKind[]) {
    it(`a service's log lines carry the node and the service (${spawner})`, async function () {
      this.timeout(30_000);
      const lines: Record<string, unknown>[] = [];
      const node = await createNode({ log: capturing(lines, { node: 'n1' }), services: { chat: { module: CHAT, spawner, config: { room: 'lobby' } } } });
      await node.start();
      try {
        await until(() => lines.some((line) => line.msg === 'chat open'));
        const line = lines.find((candidate) => candidate.msg === 'chat open')!;
        assert.equal(line.node, 'n1');
        assert.equal(line.service, 'chat');
        assert.equal(line.room, 'lobby');
        assert.equal(line.level, 'info');
      } finally {
        await node.stop();
      }
    });
  }
});
