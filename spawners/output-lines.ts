import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

/** Forward each line a worker or child writes to a stream, so its output reaches the parent's log. */
export function forwardLines(stream: Readable | null | undefined, emit: (line: string) => void): void {
  if (stream === null || stream === undefined) return;
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => {
    if (line.length > 0) emit(line);
  });
  lines.on('error', () => {});
}
