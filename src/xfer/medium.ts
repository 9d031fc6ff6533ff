/**
 * The xfer medium as a killed run may leave it, seen from the sender's
 * side (DIR/<node>/<our id>/): the temporary-file names used there, the
 * sweep of orphaned temporary copies, and the verification of a packet
 * copy already in place. Used by xfer -tx with the node's tx lock held.
 */
import fs, { promises as fsp, type Dirent } from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../codec/base32.js';
import type { Context } from '../context.js';
import { mthOfFile } from '../crypto/mth.js';
import { errCode, errorLine, PigeonError } from '../errors.js';
import type { LogFields } from '../log/log.js';
import type { SpoolLock } from '../spool/lock.js';
import type { Job } from '../spool/spool.js';

/** Entries of a directory, sorted by name. */
export async function entries(dir: string): Promise<Dirent[]> {
  const out = await fsp.readdir(dir, { withFileTypes: true });
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The medium's temporary-file prefix, as the reference names them. */
export const MEDIUM_PREFIX = 'nncpxfer';

/** A temporary file on the medium: ours ("nncpxfer" + hex) or the reference's (the same). */
const MEDIUM_TMP = /^nncpxfer[0-9a-f]+$/;

/**
 * Remove what killed runs left in DIR/<node>/<our id>/: temporary copies
 * ("nncpxfer…" regular files). Called with our tx lock for that node held:
 * only xfer -tx of our own spool writes there (pigeon's and nncp-xfer's
 * both take that lock first), so no live writer can own such a file and
 * none is spared for being recent (a rerun right after a crash leaves no
 * debris). `ok` is false when one could not be removed (logged); `names`
 * is what else the directory holds (null when it could not be read): with
 * the lock held, nothing else appears there, so a packet's copy or its
 * ".part" that is not named there is absent, and no call need ask.
 */
export async function sweepOrphans(ctx: Context, dstPath: string, nodeFields: LogFields, nodeName: string): Promise<{ ok: boolean; names: Set<string> | null }> {
  const msg = `Packet transfer, sent to ${nodeName}`;
  let ok = true;
  let names: Dirent[];
  try {
    names = await entries(dstPath);
  } catch (err) {
    ctx.log.error('xfer-tx-read', [...nodeFields, ['Dir', dstPath]], errorLine(err), `${msg}: directory ${dstPath}: reading`);
    return { ok: false, names: null };
  }
  const others = new Set<string>();
  for (const ent of names) {
    if (!ent.isFile() || !MEDIUM_TMP.test(ent.name)) {
      others.add(ent.name);
      continue;
    }
    const file = path.join(dstPath, ent.name);
    const fields: LogFields = [...nodeFields, ['File', file]];
    try {
      await fsp.unlink(file);
      ctx.log.info('xfer-tx-orphan', fields, `${msg}: removed ${file}, a temporary file left by an interrupted transfer`);
    } catch (err) {
      if (errCode(err) === 'ENOENT') continue;
      ctx.log.error('xfer-tx-orphan', fields, errorLine(err), `${msg}: removing ${file}, a temporary file left by an interrupted transfer`);
      ok = false;
    }
  }
  return { ok, names: others };
}

/**
 * What is at `dst` on the medium for a queued packet: nothing ('absent'),
 * a regular file of the packet's size whose MTH is the packet's id (its
 * name) ('verified': a run killed after the copy and before the dequeue),
 * or else why it cannot stand for the packet (to be replaced). `listed`:
 * the names sweepOrphans found in the directory (lock held).
 */
export async function judgeCopy(dst: string, job: Job, listed?: ReadonlySet<string> | null): Promise<'absent' | 'verified' | string> {
  // Not in the listing sweepOrphans took with the lock held: nothing to ask the filesystem.
  if (listed && !listed.has(path.basename(dst))) return 'absent';
  let st;
  try {
    st = fs.lstatSync(dst); // once per packet carried: no thread-pool round trip (spool/atomic.ts)
  } catch (err) {
    if (errCode(err) === 'ENOENT') return 'absent';
    return `it cannot be examined (${errorLine(err)})`;
  }
  if (!st.isFile()) return 'it is not a regular file';
  if (st.size !== job.size) return `it has ${st.size} bytes, not ${job.size}`;
  try {
    if (base32Encode(await mthOfFile(dst)) !== job.id) return 'its checksum does not match';
  } catch (err) {
    return `it cannot be read (${errorLine(err)})`;
  }
  return 'verified';
}


/**
 * Take a node's tx lock before reading its queue to carry it away (xfer
 * -tx, xfer -watch, bundle -tx): `lock` is null when it cannot be had, after
 * logging that as the reference logs it; `busy` then tells whether another
 * process holds it (a watcher tries again later).
 */
export async function lockTx(ctx: Context, nodeIdB32: string): Promise<{ lock: SpoolLock; busy: false } | { lock: null; busy: boolean }> {
  try {
    return { lock: await ctx.spool.lock(nodeIdB32, 'tx'), busy: false };
  } catch (err) {
    const lp = ctx.spool.lockPath(nodeIdB32, 'tx');
    ctx.log.error('lockdir-flock', [['Path', lp]], errorLine(err), `Locking directory: locking ${lp}`);
    return { lock: null, busy: err instanceof PigeonError && err.code === 'ELOCKED' };
  }
}

/**
 * Packets in flight at once in one directory of the medium (xfer -rx from
 * one sender, -tx to one neighbour). Each packet's own steps keep their
 * order (written, fsynced, renamed, its directory fsynced, and only then
 * its source removed), so what a kill can leave of each packet in the
 * window is what it could leave with one packet at a time; meanwhile their
 * fsyncs share journal commits (DirSyncGroup shares the directory ones)
 * and the thread pool works while the main thread copies the next packet.
 */
export const WINDOW = 16;

/**
 * Run `work` on each item, at most `width` at once, started in order;
 * none is started once `stop()` says so. Resolves when all started ones
 * have settled (with the first failure, if any).
 */
export async function inWindow<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>, stop?: () => boolean): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length && !stop?.()) await work(items[next++]);
  };
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(width, items.length) }, lane));
  for (const r of lanes) if (r.status === 'rejected') throw r.reason;
}

/** Put `list[from..]` back in the order of `order` (the order their work was started in), after a window finished them in any order. */
export function inOrderFrom(list: string[], from: number, order: readonly string[]): void {
  const rank = new Map(order.map((k, i) => [k, i]));
  const tail = list.splice(from).sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0));
  for (const k of tail) list.push(k); // not push(...tail): spread arguments overflow the stack past some 100k items
}
