/**
 * The packets of one queue, tossed a few at a time. A small file's
 * delivery spends most of its time waiting for its fsyncs (record, file,
 * directory, on the thread pool); several waiting at once share the
 * filesystem's journal commits instead of paying one each in turn.
 *
 * Only deliveries of small files overlap (toss.ts calls `alone()` at
 * once for a packet of more than one block). A packet of any other type (exec, freq,
 * trns, area, ack: what has effects beyond one new file) calls `alone()`
 * once it knows its type and before it does anything: that waits until
 * every packet started before it has finished, and no packet starts until
 * it has finished itself. So those run one at a time, in queue order, as
 * without the window. Each packet keeps its own delivery record: exactly
 * once holds per packet whatever the others were doing at a kill.
 */
export class TossWindow {
  private readonly running = new Set<Promise<void>>();
  /** The packet running alone, if any: nothing starts before it ends. */
  private exclusive: Promise<void> | null = null;
  private failure: { err: unknown } | null = null;

  constructor(readonly size: number) {}

  /**
   * Start `task` once the window has room (resolves when it has started).
   * The task is given `alone`, to call before its first effect when it is
   * not a file delivery. A task that throws stops the window: the error
   * comes out of the next start() or of finish().
   */
  async start(task: (alone: () => Promise<void>) => Promise<unknown>): Promise<void> {
    for (;;) {
      this.check();
      if (this.exclusive !== null) await this.exclusive;
      else if (this.running.size >= this.size) await Promise.race(this.running);
      else break;
    }
    const before = [...this.running];
    let end!: () => void;
    const finished = new Promise<void>((resolve) => {
      end = resolve;
    });
    const alone = async () => {
      this.exclusive = finished;
      await Promise.all(before);
    };
    this.running.add(finished);
    void (async () => {
      try {
        await task(alone);
      } catch (err) {
        this.failure ??= { err };
      } finally {
        this.running.delete(finished);
        if (this.exclusive === finished) this.exclusive = null;
        end();
      }
    })();
  }

  /** Wait for every packet started; throws the first task's error, if one threw. */
  async finish(): Promise<void> {
    await Promise.all(this.running);
    this.check();
  }

  private check(): void {
    if (this.failure !== null) throw this.failure.err;
  }
}
