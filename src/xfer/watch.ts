/**
 * `pigeon xfer -watch DIR`: xfer that keeps running, for a directory that
 * a synchroniser (Syncthing, rclone, Dropbox, Nextcloud, Unison...) keeps
 * in step with other machines, or a stick that comes and goes.
 *
 * -rx: each DIR/<our id>/<SENDER>/<PACKET> is imported as soon as it is
 *   complete: when it appears (by rename, as synchronisers place finished
 *   files, or in a new sub-directory) and when it changes (written in place,
 *   piece by piece: tried again after SETTLE_MS of quiet). A file whose
 *   hash is not its name yet, or that is shorter than a header, is left
 *   alone (never deleted, never quarantined): it is looked at once more
 *   after RECHECK_MS, then only when it changes again. Names that are not
 *   packet ids (Syncthing's `.syncthing.*.tmp`, rclone's `*.partial`, any
 *   dot-file, `~` and `.!sync` names) are not even watched.
 * -tx: each packet queued for a neighbour (spool/<NODE>/tx/, watched) is
 *   copied to the medium as xfer -tx copies it (tx lock, temporary file,
 *   fsync, rename, dequeue unless -keep); when the medium (re)appears, or
 *   DIR/<NODE> is created, everything queued goes.
 *
 * DIR may vanish and come back (TreeWatch): meanwhile nothing is tried,
 * and on its return its packets are imported and the queues exported.
 * Work runs one job at a time; on the signal the copy in progress is
 * abandoned (its temporary file removed, the packet still queued or still
 * on the medium) and the watch ends. A kill -9 leaves what xfer leaves,
 * and the next run (xfer or xfer -watch) finishes it exactly once.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { isId } from '../spool/layout.js';
import { JobQueue, TreeWatch, type JobResult } from '../watcher.js';
import { xferRxFile, xferTxNode, type XferOptions, type XferResult } from './xfer.js';

export interface XferWatchOptions extends XferOptions {
  /** Import from DIR. */
  rx: boolean;
  /** Export to DIR. */
  tx: boolean;
  /** Stop watching. */
  signal: AbortSignal;
}

/** Quiet time after a change before a file written in place is tried again. */
const SETTLE_MS = 200;
/** After a try found a file incomplete: look once more whether it changed since. */
const RECHECK_MS = 1000;
/** Retry delays while another process holds a neighbour's tx lock: 1 s doubling to 30 s. */
const BUSY_MAX_MS = 30_000;

/** What identifies a file's state: a change of any part means it was written to, or replaced. */
async function signature(p: string): Promise<string | null> {
  try {
    const st = await fsp.stat(p);
    return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return null;
  }
}

/** Watch DIR (and the tx queues) until `opts.signal`; resolves when everything has stopped. */
export async function xferWatch(ctx: Context, opts: XferWatchOptions): Promise<void> {
  const self = ctx.cfg.self;
  if (!self) throw new Error('xfer needs our own node (self) in the configuration');
  const dir = path.resolve(opts.dir);
  const xo: XferOptions = { ...opts, dir };
  const nodes = new Map<string, Neighbour>();
  for (const n of ctx.cfg.neighbours.values()) if (!opts.node || n.idB32 === opts.node.idB32) nodes.set(n.idB32, n);
  const what = [opts.rx && 'rx', opts.tx && 'tx'].filter(Boolean).join(', ');
  const dirFields = [['Dir', dir]] as const;
  const jobs = new JobQueue((key, err) => ctx.log.error('xfer-watch', dirFields, err, `Watching ${dir}: ${key}`));
  const newRes = (): XferResult => ({ ok: true, packets: [], skipped: [], notes: [] });

  // ------------------------------------------------------------ -tx
  /** Per neighbour: the packet ids to export, or all of them. */
  const wanted = new Map<string, Set<string> | 'all'>();
  const busyTries = new Map<string, number>();
  const wantTx = (id: string, pkt?: string): void => {
    if (!opts.tx || !medium.watching || !nodes.has(id)) return;
    const cur = wanted.get(id);
    if (pkt === undefined || cur === 'all') wanted.set(id, 'all');
    else wanted.set(id, (cur ?? new Set()).add(pkt));
    jobs.schedule(`tx ${id}`, () => txJob(id));
  };
  const txJob = async (id: string): Promise<JobResult> => {
    const want = wanted.get(id);
    wanted.delete(id);
    if (!want || !medium.watching) return;
    const { busy } = await xferTxNode(ctx, xo, nodes.get(id)!, newRes(), want === 'all' ? undefined : want);
    if (!busy) {
      busyTries.delete(id);
      return;
    }
    const cur = wanted.get(id);
    if (want === 'all' || cur === 'all') wanted.set(id, 'all');
    else wanted.set(id, new Set([...want, ...(cur ?? [])]));
    const n = (busyTries.get(id) ?? 0) + 1;
    busyTries.set(id, n);
    return Math.min(BUSY_MAX_MS, 1000 * 2 ** (n - 1));
  };

  // ------------------------------------------------------------ -rx
  /** Files found incomplete, with their state then: a recheck tries again only if it changed. */
  const tried = new Map<string, string>();
  const rxKey = (abs: string) => `rx ${abs}`;
  const rxJob = async (abs: string): Promise<JobResult> => {
    const before = await signature(abs);
    if (before === null || opts.signal.aborted) return void tried.delete(abs);
    const last = tried.get(abs);
    if (last !== undefined && last === before) return; // a recheck, and nothing changed: wait for an event
    const { status } = await xferRxFile(ctx, xo, abs);
    if (status !== 'incomplete') return void tried.delete(abs);
    tried.set(abs, before);
    return RECHECK_MS;
  };
  const wantRx = (abs: string, delay: number): void => {
    tried.delete(abs);
    jobs.schedule(rxKey(abs), () => rxJob(abs), delay);
  };

  // ------------------------------------------------------------ watchers
  const isSender = (p: string) => opts.rx && isId(p) && nodes.has(p);
  const medium: TreeWatch = new TreeWatch({
    root: dir,
    depth: 2,
    initial: true,
    keep: (parts) => {
      if (parts.some((p) => p.startsWith('.'))) return false;
      if (parts[0] === self.idB32) return opts.rx && (parts.length === 1 || (isSender(parts[1]) && (parts.length === 2 || isId(parts[2]))));
      return parts.length === 1 && opts.tx && nodes.has(parts[0]);
    },
    onEvent: (event, parts, abs) => {
      if (parts.length === 3) {
        if (event === 'add') wantRx(abs, 0);
        else if (event === 'change') wantRx(abs, SETTLE_MS);
        else if (event === 'unlink') {
          jobs.cancel(rxKey(abs));
          tried.delete(abs);
        }
      } else if (parts.length === 1 && event === 'addDir' && medium.watching && !opts.mkdir) {
        // DIR/<NODE> made by someone else: what waited for it goes. (With -mkdir nothing waits: the directories were made.)
        wantTx(parts[0]);
      }
    },
    onReady: () => {
      ctx.log.info('xfer-watch', dirFields, `Watching ${dir} (${what})`);
      for (const id of nodes.keys()) wantTx(id);
    },
    onGone: () => ctx.log.info('xfer-watch', dirFields, `Watching ${dir}: it is gone; waiting for it to come back`),
    onError: (err) => ctx.log.error('xfer-watch', dirFields, err, `Watching ${dir}`),
  });
  const spoolRoot = path.resolve(ctx.spool.root);
  const queues = opts.tx
    ? new TreeWatch({
        root: spoolRoot,
        depth: 2,
        keep: (parts) => nodes.has(parts[0]) && (parts.length === 1 || (parts[1] === 'tx' && (parts.length === 2 || isId(parts[2])))),
        onEvent: (event, parts) => {
          if (event === 'add' && parts.length === 3) wantTx(parts[0], parts[2]);
        },
        onReady: () => {},
        onGone: () => ctx.log.error('xfer-watch', [['Dir', spoolRoot]], 'the spool directory is gone', `Watching ${spoolRoot}`),
        onError: (err) => ctx.log.error('xfer-watch', [['Dir', spoolRoot]], err, `Watching ${spoolRoot}`),
      })
    : null;

  if (opts.signal.aborted) return;
  const stopped = new Promise<void>((resolve) => opts.signal.addEventListener('abort', () => resolve(), { once: true }));
  try {
    // The queues first: nothing queued after the medium's first full export is missed.
    await queues?.start();
    await medium.start();
    if (!medium.watching) ctx.log.info('xfer-watch', dirFields, `Watching ${dir}: it does not exist (yet); waiting for it`);
    await stopped;
  } finally {
    await jobs.stop();
    await medium.close();
    await queues?.close();
    ctx.log.info('xfer-watch', dirFields, `Stopped watching ${dir}`);
  }
}
