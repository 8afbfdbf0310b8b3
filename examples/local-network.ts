/**
 * Five nodes on this machine: a record put on one and got from each of the others, printed.
 *
 *   npx node examples/local-network.ts
 */
import { createTestnet, immutableRecord, mutableRecord, NodeIdentity } from '../src/index.ts';

export async function localNetwork(): Promise<{ from: string; value: string }[]> {
  const testnet = await createTestnet({ nodes: 5 });
  try {
    const [writer, ...readers] = testnet.nodes;
    // Content-addressed: the key is the hash of the value.
    const note = immutableRecord(new TextEncoder().encode('hello from node 0'));
    await writer!.put(note);
    // Signed and versioned: only the author's key can write it, and only forward.
    const author = NodeIdentity.generate();
    await writer!.put(mutableRecord(author, new TextEncoder().encode('version 1'), 1));
    await writer!.put(mutableRecord(author, new TextEncoder().encode('version 2'), 2));
    const versionKey = mutableRecord(author, new Uint8Array(0), 0).key;

    const seen: { from: string; value: string }[] = [];
    for (const reader of readers) {
      const got = await reader.get(note.key);
      const latest = await reader.get(versionKey);
      seen.push({ from: reader.id.slice(0, 8), value: `${new TextDecoder().decode(got!.value)} / ${new TextDecoder().decode(latest!.value)}` });
    }
    return seen;
  } finally {
    await testnet.stop();
  }
}

if (import.meta.main) {
  for (const { from, value } of await localNetwork()) console.log(`node ${from} got: ${value}`);
}
