// Bare u32 big-endian length-prefixed frames, for the child-process baselines: no mydht runtime.

export const PREFIX_BYTES = 4;

/** Splits a byte stream into frames; a partial frame waits for the next chunk. */
export class FrameSplitter {
  #rest: Buffer = Buffer.alloc(0);

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const bytes = this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]);
    let offset = 0;
    while (bytes.length - offset >= PREFIX_BYTES) {
      const length = bytes.readUInt32BE(offset);
      if (bytes.length - offset - PREFIX_BYTES < length) break;
      onFrame(bytes.subarray(offset + PREFIX_BYTES, offset + PREFIX_BYTES + length));
      offset += PREFIX_BYTES + length;
    }
    this.#rest = bytes.subarray(offset);
  }
}

/** Frames back to back in one buffer, for one write. */
export function joinFrames(payloads: readonly Uint8Array[]): Buffer {
  let bytes = 0;
  for (const payload of payloads) bytes += PREFIX_BYTES + payload.length;
  const out = Buffer.allocUnsafe(bytes);
  let offset = 0;
  for (const payload of payloads) {
    out.writeUInt32BE(payload.length, offset);
    out.set(payload, offset + PREFIX_BYTES);
    offset += PREFIX_BYTES + payload.length;
  }
  return out;
}
