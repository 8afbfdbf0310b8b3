/**
 * A chat room as a service of your own, beside the DHT: every node keeps the lines it was sent
 * (MyDHT's touch service, d3's ChatServer). It speaks the global service's protocol: `local`
 * for commands from this node, `distant` for commands from a peer. examples/custom-service.ts
 * registers it.
 */
import { defineService, type GlobalProtocol } from '../src/index.ts';

/** The commands of the chat service: `say` from a peer, `lines` from this node. */
type ChatCommand = { type: 'say'; text: string } | { type: 'lines' };

// The service itself: a handler for commands from this node (`local`) and from peers (`distant`).
export default defineService<GlobalProtocol, { room: string } | null>((ctx) => {
  const lines: string[] = [];
  const run = (from: string, command: { type: string }): unknown => {
    const chat = command as ChatCommand;
    if (chat.type === 'say') {
      lines.push(`${from.slice(0, 8)}: ${chat.text}`);
      return lines.length;
    }
    if (chat.type === 'lines') return [...lines];
    throw Object.assign(new Error(`the chat has no command ${JSON.stringify(command.type)}`), { code: 'ERR_UNKNOWN_COMMAND' });
  };
  ctx.log.info({ room: ctx.config?.room }, 'chat open');
  return {
    handlers: {
      local: ({ command }) => run('me', command),
      distant: ({ from, command }) => run(from, command),
    },
  };
});
