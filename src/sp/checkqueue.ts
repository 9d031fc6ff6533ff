/**
 * Background checksumming of received packets, one at a time, like the
 * reference's checker. A CheckQueue is made by whoever runs sessions
 * (callNode, listenDaemon, serveStdio, runCaller) and handed to each
 * session; the session adds a check when a packet lands as .nock (resumed,
 * or left by an earlier -nock session) and is told when it is good, so it
 * can send DONE, or that it failed (so it can fetch the packet again).
 * `idle()` waits for the queue to drain; `stop()` interrupts the running
 * check and drops the queued ones (their .nock files stay and are checked
 * in a later session), so a daemon stops within moments whatever it checks.
 *
 * The checking itself is the spool's (src/spool/partial.ts); this module
 * orders the checks and writes their log records (sp-checker,
 * sp-checker-done, sp-file-hdr-read).
 */
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import type { MTH } from '../crypto/mth.js';
import { iBytes } from '../format.js';
import type { LogFields } from '../log/log.js';
import { ChecksumMismatchError, type Partials } from '../spool/partial.js';

export interface CheckTask {
  ctx: Context;
  partials: Partials;
  node: Neighbour;
  pktId: string;
  /** A hasher fed with the data from the resume offset on; null: hash the whole file. */
  rest: MTH | null;
  /** The packet is now rx/<PKT>. */
  onGood: () => void;
  /** Its bytes do not hash to its id (the .nock is still there); the check ends once this settles. */
  onBad?: () => void | Promise<void>;
  /** The check is over, good or bad. */
  onEnd: () => void;
}

export class CheckQueue {
  private readonly tasks: CheckTask[] = [];
  private runner: Promise<void> | null = null;
  private readonly abort = new AbortController();

  /** Queue a check; it runs after those queued before it (after stop(), it is dropped at once). */
  add(task: CheckTask): void {
    if (this.abort.signal.aborted) return task.onEnd();
    this.tasks.push(task);
    if (this.runner !== null) return;
    this.runner = (async () => {
      for (let t = this.tasks.shift(); t; t = this.tasks.shift()) {
        try {
          if (!this.abort.signal.aborted) await runCheck(t, this.abort.signal);
        } finally {
          t.onEnd();
        }
      }
    })().finally(() => {
      this.runner = null;
    });
  }

  /** Resolves once every queued check has finished. */
  async idle(): Promise<void> {
    while (this.runner !== null) await this.runner;
  }

  /** Interrupt the running check, drop the queued ones and take no more; resolves once the running one has stopped. */
  stop(): Promise<void> {
    this.abort.abort(new Error('interrupted: the .nock is checked again next time'));
    return this.idle();
  }
}

async function runCheck(t: CheckTask, signal: AbortSignal): Promise<void> {
  const { ctx, node, pktId } = t;
  const fields: LogFields = [['XX', 'rx'], ['Node', node.idB32], ['Pkt', pktId]];
  ctx.log.debug('sp-checker', fields, `Checksumming ${node.name}/rx/${pktId}`);
  let size: number;
  try {
    const r = await t.partials.check(node.idB32, pktId, t.rest, { signal });
    size = r.size;
    if (r.hdrError !== undefined) logHdrError(ctx, node, pktId, r.hdrError);
  } catch (err) {
    if (signal.aborted) {
      ctx.log.debug('sp-checker', fields, `Checksumming ${node.name}/rx/${pktId}: interrupted, checked again next time`);
      return;
    }
    ctx.log.error('sp-checker', [...fields, ['Size', 0]], err, `Checksumming ${node.name}/rx/${pktId} (${iBytes(0)})`);
    if (err instanceof ChecksumMismatchError) await t.onBad?.();
    return;
  }
  ctx.log.info('sp-checker-done', [...fields, ['Size', size]], `Packet ${pktId} is retreived (${iBytes(size)})`);
  t.onGood();
}

/** The reference's record for a received packet whose hdr/ file could not be written. */
export function logHdrError(ctx: Context, node: Neighbour, pktId: string, err: unknown): void {
  ctx.log.error('sp-file-hdr-read', [['Node', node.idB32], ['Pkt', pktId]], err, `Got packet ${pktId}: HdrReading`);
}
