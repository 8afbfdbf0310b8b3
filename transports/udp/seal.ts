import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import type { SessionKeys } from '../../src/net/transport.ts';
import { COUNTER_BYTES, HEADER_BYTES, TAG_BYTES, writeHeader, type PacketType } from './packet.ts';

const ALGORITHM = 'aes-256-gcm';
/**
 * Counters a receiver remembers behind the highest it has opened: datagrams arrive out of order,
 * so the seal cannot demand the next counter as the stream cipher does, and instead refuses a
 * counter seen before or fallen out of the window (IPsec and WireGuard keep such a window too).
 * 1,024 counters are two full send windows of reordering.
 */
export const REPLAY_WINDOW = 1024;

/**
 * A session's seal on datagrams: AES-256-GCM under the session keys the node's handshake agreed,
 * the nonce a per-direction counter sent in the clear, the header and counter authenticated as
 * associated data. Every transmission, retransmissions included, takes a fresh counter, so no
 * nonce is used twice with a key; a replayed datagram is refused by its counter.
 */
export class DatagramSeal {
  readonly #sendKey: KeyObject;
  readonly #receiveKey: KeyObject;
  #counter = 0;
  readonly #seen = new Float64Array(REPLAY_WINDOW).fill(-1);
  #highest = -1;
  readonly #nonce = Buffer.alloc(12);

  constructor(keys: SessionKeys) {
    this.#sendKey = createSecretKey(keys.sendKey);
    this.#receiveKey = createSecretKey(keys.receiveKey);
  }

  /** A whole sealed datagram of `type` around `body`. */
  seal(type: PacketType, connection: Uint8Array, fromDialer: boolean, body: Uint8Array): Uint8Array {
    const counter = this.#counter++;
    const out = new Uint8Array(HEADER_BYTES + COUNTER_BYTES + body.length + TAG_BYTES);
    writeHeader(out, type, connection, fromDialer, true);
    const view = new DataView(out.buffer);
    view.setBigUint64(HEADER_BYTES, BigInt(counter));
    const cipher = createCipheriv(ALGORITHM, this.#sendKey, this.#nonceFor(counter), { authTagLength: TAG_BYTES });
    cipher.setAAD(out.subarray(0, HEADER_BYTES + COUNTER_BYTES));
    const head = cipher.update(body);
    const tail = cipher.final();
    out.set(head, HEADER_BYTES + COUNTER_BYTES);
    out.set(tail, HEADER_BYTES + COUNTER_BYTES + head.length);
    out.set(cipher.getAuthTag(), out.length - TAG_BYTES);
    return out;
  }

  /**
   * The body of a sealed datagram, or why it was refused: 'ERR_UDP_REPLAY' (a counter seen
   * before or too old) or 'ERR_UDP_AUTH' (tampered, or sealed under another key).
   */
  open(datagram: Uint8Array): Uint8Array | 'ERR_UDP_REPLAY' | 'ERR_UDP_AUTH' {
    if (datagram.length < HEADER_BYTES + COUNTER_BYTES + TAG_BYTES) return 'ERR_UDP_AUTH';
    const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
    const counter = Number(view.getBigUint64(HEADER_BYTES));
    if (counter + REPLAY_WINDOW <= this.#highest || this.#seen[counter % REPLAY_WINDOW] === counter) return 'ERR_UDP_REPLAY';
    const decipher = createDecipheriv(ALGORITHM, this.#receiveKey, this.#nonceFor(counter), { authTagLength: TAG_BYTES });
    decipher.setAAD(datagram.subarray(0, HEADER_BYTES + COUNTER_BYTES));
    decipher.setAuthTag(datagram.subarray(datagram.length - TAG_BYTES));
    let body: Uint8Array;
    try {
      const head = decipher.update(datagram.subarray(HEADER_BYTES + COUNTER_BYTES, datagram.length - TAG_BYTES));
      const tail = decipher.final();
      body = tail.length === 0 ? head : Buffer.concat([head, tail]);
    } catch {
      return 'ERR_UDP_AUTH';
    }
    // Only an authentic datagram moves the window: forged counters cannot push real ones out.
    this.#seen[counter % REPLAY_WINDOW] = counter;
    if (counter > this.#highest) this.#highest = counter;
    return body;
  }

  #nonceFor(counter: number): Buffer {
    this.#nonce.writeBigUInt64BE(BigInt(counter), 4);
    return this.#nonce;
  }
}
