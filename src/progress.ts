/**
 * Progress bars on stderr for long transfers, drawn like the reference's:
 *   2026-11-23T18:06:33Z Tx dst.txt 486 B/486 B 100% (1003 KiB/sec)
 * redrawn in place at most a few times a second, finished with a newline.
 * Disabled (every call a no-op) unless the context says to draw.
 */
import { fstatSync } from 'node:fs';
import { iBytes, printable } from './format.js';
import { isFillSource, type FillSource } from './stream/fileread.js';

export interface ProgressOptions {
  enabled: boolean;
  /** What is moving, e.g. "Tx dst.txt". */
  label: string;
  /** Expected total bytes, when known. */
  total?: number;
  /** Bytes already there (resumed transfers). */
  initial?: number;
  out?: { write(s: string): unknown };
}

const REDRAW_MS = 250;

/**
 * Whether stderr is a terminal (progress is drawn there by default). Only a
 * character device can be one, and fstat says that in one call; asking
 * process.stderr.isTTY first would build the stderr stream, which loads
 * node:net or node:stream: some 3 ms of every start whose stderr is a pipe
 * or a file, as in cron and scripts.
 */
export function stderrIsTerminal(): boolean {
  try {
    if (!fstatSync(2).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return Boolean(process.stderr.isTTY);
}

export class Progress {
  private done = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  private finished = false;
  private drawn = false;
  constructor(private readonly opts: ProgressOptions) {
    this.done = opts.initial ?? 0;
  }

  /** process.stderr only when drawing: building that stream loads node:stream, which a run without progress need not pay. */
  private get out(): { write(s: string): unknown } {
    return this.opts.out ?? process.stderr;
  }

  /** Count `n` more bytes. */
  add(n: number): void {
    if (!this.opts.enabled) return;
    this.done += n;
    const now = Date.now();
    if (now - this.lastDraw >= REDRAW_MS) {
      this.lastDraw = now;
      this.draw();
    }
  }

  /** Draw the final state and end the line. */
  finish(): void {
    if (!this.opts.enabled || this.finished) return;
    this.finished = true;
    this.draw();
  }

  /** Wrap a byte stream so that what flows through is counted. */
  async *track(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const c of src) {
      this.add(c.length);
      yield c;
    }
    this.finish();
  }

  /** Count what a FillSource puts in place; done at its end (a short fill). */
  trackFill(src: FillSource): FillSource {
    return {
      fill: async (buf, off, len) => {
        const n = await src.fill(buf, off, len);
        this.add(n);
        if (n < len) this.finish();
        return n;
      },
    };
  }

  /** track or trackFill, whichever the payload needs. */
  trackPayload(src: AsyncIterable<Uint8Array> | FillSource): AsyncIterable<Uint8Array> | FillSource {
    return isFillSource(src) ? this.trackFill(src) : this.track(src);
  }

  private draw(): void {
    const secs = Math.max((Date.now() - this.started) / 1000, 0.001);
    const rate = iBytes(Math.round((this.done - (this.opts.initial ?? 0)) / secs));
    const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const total = this.opts.total;
    const amount = total !== undefined && total > 0 ? `${iBytes(this.done)}/${iBytes(total)} ${Math.floor((this.done * 100) / total)}%` : iBytes(this.done);
    // Move up over our previous line and clear it, so the bar redraws in place.
    const up = this.drawn ? '\x1b[1A\x1b[2K' : '';
    this.drawn = true;
    this.out.write(`${up}${when} ${printable(this.opts.label)} ${amount} (${rate}/sec)\n`);
  }
}
