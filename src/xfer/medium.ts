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
 * debris). False when one could not be removed (logged).
 */
export async function sweepOrphans(ctx: Context, dstPath: string, nodeFields: LogFields, nodeName: string): Promise<boolean> {
  const msg = `Packet transfer, sent to ${nodeName}`;
  let ok = true;
  let names: Dirent[];
  try {
    names = await entries(dstPath);
  } catch (err) {
    ctx.log.error('xfer-tx-read', [...nodeFields, ['Dir', dstPath]], errorLine(err), `${msg}: directory ${dstPath}: reading`);
    return false;
  }
  for (const ent of names) {
    if (!ent.isFile() || !MEDIUM_TMP.test(ent.name)) continue;
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
  return ok;
}

/**
 * What is at `dst` on the medium for a queued packet: nothing ('absent'),
 * a regular file of the packet's size whose MTH is the packet's id (its
 * name) ('verified': a run killed after the copy and before the dequeue),
 * or else why it cannot stand for the packet (to be replaced).
 */
export async function judgeCopy(dst: string, job: Job): Promise<'absent' | 'verified' | string> {
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
