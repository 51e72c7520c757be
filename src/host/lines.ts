// Splits a child's byte stream into lines with a bound on their length: a child that prints a
// line without end (a bug, a garbled stream) costs at most maxLineBytes plus one chunk of memory,
// and the lines after it are read as usual.
const NEWLINE = 0x0a;

export class LineSplitter {
  /** Bytes of the line being read, not yet ended by a newline. */
  private parts: Buffer[] = [];
  private held = 0;
  /** Dropping the rest of an over-long line until its newline. */
  private discarding = false;
  /** The most bytes held at once, for tests and benchmarks of the bound. */
  peakHeldBytes = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: (line: string) => void,
    private readonly onLongLine: () => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline < 0) break;
      this.endLine(chunk.subarray(start, newline));
      start = newline + 1;
    }
    if (start < chunk.length) this.hold(chunk.subarray(start));
  }

  /** At end of stream: a last line without its newline still counts. */
  end(): void {
    if (this.held > 0 && !this.discarding) this.emit(Buffer.concat(this.parts, this.held));
    this.parts = [];
    this.held = 0;
    this.discarding = false;
  }

  private endLine(tail: Buffer): void {
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    if (this.held + tail.length > this.maxLineBytes) {
      this.dropLine();
      this.discarding = false;
      return;
    }
    const line = this.held === 0 ? tail : Buffer.concat([...this.parts, tail], this.held + tail.length);
    this.parts = [];
    this.held = 0;
    this.emit(line);
  }

  private hold(part: Buffer): void {
    if (this.discarding) return;
    if (this.held + part.length > this.maxLineBytes) {
      this.dropLine();
      return;
    }
    // A copy: the chunk's buffer belongs to the stream and may be a slice of a larger one.
    this.parts.push(Buffer.from(part));
    this.held += part.length;
    this.peakHeldBytes = Math.max(this.peakHeldBytes, this.held);
  }

  private dropLine(): void {
    this.parts = [];
    this.held = 0;
    this.discarding = true;
    this.onLongLine();
  }

  private emit(bytes: Buffer): void {
    // Lines split after a newline byte never split a UTF-8 sequence.
    this.onLine(bytes.toString('utf8'));
  }
}
