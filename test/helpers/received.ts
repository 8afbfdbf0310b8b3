import type { Connection } from '../../src/net/transport.ts';

/** What a connection receives until `bytes` have arrived, as one buffer (chunk boundaries mean nothing). */
export function received(connection: Connection, bytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    connection.onData = (chunk) => {
      chunks.push(Buffer.from(chunk));
      got += chunk.length;
      if (got >= bytes) resolve(Buffer.concat(chunks));
    };
  });
}
