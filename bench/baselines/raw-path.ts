import type { EchoMessage, PutMessage } from '../standard-message.ts';

/**
 * The bare version of the path one spawner takes, with no mydht runtime on it: what a service
 * handle is measured against. One per spawner kind.
 */
export interface RawPath {
  /** What the one-way baseline is, in a few words. */
  readonly oneWayName: string;
  /** What the round-trip baseline is. */
  readonly roundTripName: string;
  /** Send `count` messages (cycling through `messages`); resolves once the far side counted them all. */
  oneWay(messages: readonly PutMessage[], count: number): Promise<void>;
  /** One request and its reply. */
  roundTrip(message: EchoMessage): Promise<unknown>;
  close(): Promise<void>;
}

/** Messages per batch or per write: where batching levels off (limits.md), as the runtime uses. */
export const BATCH_MESSAGES = 256;
/**
 * Batches in flight before the producer waits for an acknowledgement: 4 x 256 = 1024 messages,
 * the same window as the runtime's default queue credit (DEFAULT_QUEUE_CAPACITY).
 */
export const WINDOW_BATCHES = 4;
