import { defineService } from '../src/runtime/service.ts';
import type { EventsProtocol, NodeEvent } from '../src/node/protocols.ts';

export interface EventsConfig {
  /** The node's dispatcher: a function, so this service runs on the node's loop only. */
  emit: (event: NodeEvent) => void;
}

/**
 * Where the node's services, wherever they run, send what the node's listeners should hear:
 * an event crosses a thread or process boundary like any message, and is emitted here, on the
 * loop the listeners live on.
 */
export default defineService<EventsProtocol, EventsConfig>((ctx) => ({
  handlers: {
    emit: ({ event }) => {
      try {
        ctx.config.emit(event);
      } catch (err) {
        // A listener's bug is not the service's: log it and go on.
        ctx.log.warn({ err, event: event.type }, 'an event listener threw');
      }
    },
  },
}));
