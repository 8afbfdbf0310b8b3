import { defineService } from '../src/index.ts';

/**
 * A user's own service, in one small file: a chat room that echoes each line with a running
 * count, and a second command union (`Admin`) understood by the same service.
 */
export interface ChatProtocol {
  say: { command: { from: string; text: string }; reply: string };
}

export interface AdminProtocol {
  lines: { command: object; reply: number };
}

export default defineService<ChatProtocol & AdminProtocol>((ctx) => {
  let lines = 0;
  return {
    handlers: {
      say: ({ from, text }) => {
        lines++;
        ctx.log.debug({ from }, 'line');
        return `#${lines} <${from}> ${text}`;
      },
      lines: () => lines,
    },
  };
});
