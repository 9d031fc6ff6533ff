/**
 * Progress bars of a session's transfers on stderr: one per packet and
 * direction, drawn from its resume offset and finished when it completes
 * (or when the session ends). Nothing is drawn unless the context says so.
 */
import { shortId } from '../format.js';
import { Progress } from '../progress.js';

export class TransferBars {
  private readonly bars = new Map<string, { bar: Progress; shown: number }>();

  constructor(private readonly enabled: boolean) {}

  /** `size` of `full` bytes of packet `id` have gone `dir`; `initial` is where this transfer started. */
  update(dir: 'Tx' | 'Rx', id: string, size: number, full: number, initial: number): void {
    if (!this.enabled) return;
    let b = this.bars.get(dir + id);
    if (!b) {
      b = { bar: new Progress({ enabled: true, label: `${dir} ${shortId(id)}`, total: full, initial }), shown: initial };
      this.bars.set(dir + id, b);
    }
    b.bar.add(size - b.shown);
    b.shown = size;
    if (size >= full) {
      b.bar.finish();
      this.bars.delete(dir + id);
    }
  }

  /** Finish every bar still drawn. */
  finishAll(): void {
    for (const b of this.bars.values()) b.bar.finish();
    this.bars.clear();
  }
}
