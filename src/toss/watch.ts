/**
 * `pigeon toss -watch`: toss as packets land in rx/ — placed there by xfer,
 * call, daemon, bundle or another process, always by a rename, so a packet
 * that appears is complete. The spool's <NODE>/rx/ directories (and our own
 * tx/, where area and ack packets to ourselves wait) are watched through
 * chokidar; a packet that appears makes its node's queue tossed (after
 * BATCH_MS, so a burst is one round), one node at a time, with the usual
 * options and under the usual toss lock. A queue another toss holds is
 * tried again after 1 s, doubling to 30 s. A full round runs at the start,
 * and every `cycle` seconds when given (a safety net: a packet that failed,
 * an exec handle that was missing, is otherwise retried only when its
 * queue next gets a packet or at the next start).
 *
 * On the signal the packet in progress is cleaned up as toss cleans it up
 * (it stays queued), and the watch ends.
 */
import path from 'node:path';
import type { Context } from '../context.js';
import { ConfigError } from '../errors.js';
import { isId } from '../spool/layout.js';
import { JobQueue, TreeWatch, type JobResult } from '../watcher.js';
import type { TossOptions } from './common.js';
import { tossNode } from './toss.js';

/** Packets landing within this many milliseconds are tossed in one round. */
const BATCH_MS = 50;
const BUSY_MAX_MS = 30_000;

export interface TossWatchOptions extends TossOptions {
  signal: AbortSignal;
  /** Also a full round every so many seconds (0 or absent: none). */
  cycle?: number;
}

/** Watch the rx queues and toss what lands there, until `opts.signal`. */
export async function tossWatch(ctx: Context, opts: TossWatchOptions): Promise<void> {
  const self = ctx.cfg.self;
  if (!self) throw new ConfigError(`${ctx.cfg.path}: no self section with private keys: cannot toss`);
  const ids = new Set(opts.node ? [opts.node.idB32] : ctx.cfg.neighbours.keys());
  const root = path.resolve(ctx.spool.root);
  const fields = [['Dir', root]] as const;
  const jobs = new JobQueue((key, err) => ctx.log.error('toss-watch', fields, err, `Watching ${root}: ${key}`));
  const busyTries = new Map<string, number>();
  const job = async (id: string): Promise<JobResult> => {
    const r = await tossNode(ctx, id, opts);
    if (!r.busy || opts.signal.aborted) return void busyTries.delete(id);
    const n = (busyTries.get(id) ?? 0) + 1;
    busyTries.set(id, n);
    return Math.min(BUSY_MAX_MS, 1000 * 2 ** (n - 1));
  };
  const want = (id: string, delay = 0) => jobs.schedule(id, () => job(id), delay);
  const all = () => {
    for (const id of ids) want(id);
  };
  const queues = new TreeWatch({
    root,
    depth: 2,
    keep: (parts) =>
      ids.has(parts[0]) && (parts.length === 1 || ((parts[1] === 'rx' || (parts[1] === 'tx' && parts[0] === self.idB32)) && (parts.length === 2 || isId(parts[2])))),
    onEvent: (event, parts) => {
      if (event === 'add' && parts.length === 3) want(parts[0], BATCH_MS);
    },
    onReady: () => {
      ctx.log.info('toss-watch', fields, `Watching ${root} for packets to toss`);
      all();
    },
    onGone: () => ctx.log.error('toss-watch', fields, 'the spool directory is gone', `Watching ${root}: waiting for it to come back`),
    onError: (err) => ctx.log.error('toss-watch', fields, err, `Watching ${root}`),
  });
  if (opts.signal.aborted) return;
  const stopped = new Promise<void>((resolve) => opts.signal.addEventListener('abort', () => resolve(), { once: true }));
  const timer = opts.cycle ? setInterval(all, opts.cycle * 1000) : undefined;
  try {
    await queues.start();
    await stopped;
  } finally {
    clearInterval(timer);
    await jobs.stop();
    await queues.close();
    ctx.log.info('toss-watch', fields, `Stopped watching ${root}`);
  }
}
