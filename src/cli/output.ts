// Buffered writes to stdout/stderr with backpressure, and a quiet exit when the reader goes away
// (`dredge parse big.log | head`).

const FLUSH_AT = 1 << 16;

export class BufferedWriter {
  private buf: string[] = [];
  private size = 0;
  private pending: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') {
        this.closed = true;
        process.exit(0);
      }
      throw e;
    });
  }

  write(s: string): void {
    if (this.closed) return;
    this.buf.push(s);
    this.size += s.length;
    if (this.size >= FLUSH_AT) this.drainSoon();
  }

  private drainSoon(): void {
    const chunk = this.buf.join('');
    this.buf = [];
    this.size = 0;
    if (!this.stream.write(chunk) && this.pending === null) {
      this.pending = new Promise((resolve) => this.stream.once('drain', () => {
        this.pending = null;
        resolve();
      }));
    }
  }

  /** Resolves when the stream can take more (undefined when it already can). */
  ready(): Promise<void> | undefined {
    return this.pending ?? undefined;
  }

  /** Writes what is buffered and waits until the stream took it. */
  async flush(): Promise<void> {
    if (this.size > 0) this.drainSoon();
    if (this.pending !== null) await this.pending;
    await new Promise<void>((resolve) => this.stream.write('', () => resolve()));
  }
}
