/**
 * A bound on the log records a peer can provoke in one session (or the
 * daemon, in one run): each kind of record (its Who, or a family of them)
 * is written up to a burst, then only counted. The first record over the
 * limit is followed by one note saying further ones are suppressed, and
 * `flush()` writes one record per kind with how many were left out
 * (sp-log-limit). A hostile neighbour repeating a bad packet thus costs the
 * log a few dozen lines per session, not megabytes.
 */
import type { Context } from '../context.js';
import type { LogFields } from '../log/log.js';

const WHO = 'sp-log-limit';

export class LogLimiter {
  private readonly counts = new Map<string, number>();
  private readonly limits = new Map<string, number>();

  /**
   * `burst`: records of one kind written before counting starts; `what`:
   * whose records, in the notes ("SP with alice (nice 255)").
   */
  constructor(
    private readonly ctx: Context,
    private readonly fields: () => LogFields,
    private readonly what: string,
    private readonly burst: number,
  ) {}

  /** Give a kind its own burst. */
  limit(kind: string, burst: number): this {
    this.limits.set(kind, burst);
    return this;
  }

  /** Whether a record of kind `kind` may be written now. */
  allow(kind: string): boolean {
    const burst = this.limits.get(kind) ?? this.burst;
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n <= burst) return true;
    if (n === burst + 1) {
      this.ctx.log.info(WHO, [...this.fields(), ['Kind', kind], ['Limit', burst]], `${this.what}: more than ${burst} ${kind} records; further ones are counted, not written`);
    }
    return false;
  }

  /** One record per kind that went over its limit, with the number left out; the counts start again. */
  flush(): void {
    for (const [kind, n] of this.counts) {
      const burst = this.limits.get(kind) ?? this.burst;
      if (n > burst) this.ctx.log.info(WHO, [...this.fields(), ['Kind', kind], ['Suppressed', n - burst]], `${this.what}: ${n - burst} ${kind} records left out`);
    }
    this.counts.clear();
  }
}
