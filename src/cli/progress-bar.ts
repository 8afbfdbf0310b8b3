/** A one-line progress bar on a terminal (stderr), and nothing when it is not one. */
export class ProgressBar {
  readonly #stream: NodeJS.WriteStream | undefined;
  readonly #total: number;
  #done = 0;
  constructor(stream: NodeJS.WriteStream | undefined, total: number) {
    this.#stream = stream?.isTTY === true ? stream : undefined;
    this.#total = total;
  }
  tick(): void {
    this.#done++;
    if (this.#stream === undefined || (this.#done % 20 !== 0 && this.#done !== this.#total)) return;
    const width = 30;
    const filled = Math.round((this.#done / this.#total) * width);
    this.#stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#done}/${this.#total}`);
  }
  done(): void {
    this.#stream?.write('\r\x1b[K');
  }
}
