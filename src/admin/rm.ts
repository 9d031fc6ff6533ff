/**
 * `pigeon rm` (nncp-rm): remove files from the spool. It removes exactly
 * what the reference removes for each combination of flags:
 *
 *   -tmp            every file under tmp/ (recursively); needs no node;
 *                   then (pigeon) the temporary files of interrupted
 *                   deliveries into incoming/ that no toss will finish,
 *                   found through the delivery records (spool/delivery.ts)
 *                   of the nodes whose toss lock is free
 *   -lock           every *.lock file anywhere under the spool (symlinks are
 *                   not followed); needs no node
 *   then, for -node N or -all, per node directory:
 *   -pkt (ids on stdin, "DIR/ID" accepted)
 *                   rx/ID and tx/ID with their hdr/ files, and rx/seen/ID,
 *                   whatever their age; other flags still apply below
 *   -rx / -tx       every file directly in rx/ (tx/), .part and .nock
 *                   included, with its hdr/ file
 *   -rx/-tx -hdr    only the files under rx/hdr/ (tx/hdr/)
 *   -part, -nock    only rx/*.part, rx/*.nock
 *   -seen           the files under rx/seen/
 *   -area           the files under area/
 *   -quarantine     (pigeon) the packets under rx/quarantine/ (toss moves
 *                   packets that failed verification there); with -pkt the
 *                   listed ones
 *   -older Nu       (u: s, m, h, d) leaves files modified less than N units
 *                   ago (files dated in the future always count as fresh);
 *                   it does not restrict -pkt nor -lock
 *   -dryrun         reports what would go, removes nothing
 *
 * Every removal (or would-be removal) is a logged "rm" record,
 * "File PATH: removed". A file that cannot be removed stops the command
 * with an error, as in the reference.
 */
import { promises as fsp, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { errorLine, isMissing, PigeonError } from '../errors.js';
import { deliveryRecords, incomingDebris, leftSpares } from '../spool/delivery.js';
import { LOCK_SUFFIX, NOCK_SUFFIX, PART_SUFFIX } from '../spool/spool.js';

export interface RmOptions {
  /** Remove temporary files (then stop). */
  tmp?: boolean;
  /** Remove lock files (then stop). */
  lock?: boolean;
  /** Work on every node; otherwise `node` must be given. */
  all?: boolean;
  node?: Neighbour;
  rx?: boolean;
  tx?: boolean;
  part?: boolean;
  seen?: boolean;
  nock?: boolean;
  hdr?: boolean;
  area?: boolean;
  /** Quarantined packets (rx/quarantine/). */
  quarantine?: boolean;
  /** Packet ids (from -pkt). */
  pkts?: ReadonlySet<string>;
  /** Leave files younger than this many seconds. */
  olderSec?: number;
  dryRun?: boolean;
  /** Current time in ms (tests); default Date.now(). */
  now?: number;
}

export interface RmResult {
  /** Paths removed (or, with dryRun, that would have been). */
  removed: string[];
}

/** Parse -older: digits followed by s, m, h or d; seconds. */
export function parseOlder(text: string): number {
  const m = /^(\d+)([smhd])$/.exec(text);
  if (!m) throw new PigeonError('EUSAGE', `-older ${JSON.stringify(text)}: can not parse; use a number with a unit s, m, h or d, such as 10s, 5m, 12h, 2d`);
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n)) throw new PigeonError('EUSAGE', `-older ${JSON.stringify(text)}: the number is out of range`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

/** The packet ids of a -pkt list: whitespace-separated words, the part after the last "/" of each. */
export function parsePktList(text: string): Set<string> {
  const out = new Set<string>();
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    out.add(word.slice(word.lastIndexOf('/') + 1));
  }
  return out;
}

/**
 * The files under `root`, depth first in lexical order, symlinks not
 * followed (as Go's filepath.Walk). A missing root yields nothing when
 * `missingOk`, else throws.
 */
async function* walkFiles(root: string, missingOk: boolean): AsyncGenerator<{ path: string; st: Stats }> {
  let st: Stats;
  try {
    st = await fsp.lstat(root);
  } catch (err) {
    if (missingOk && isMissing(err)) return;
    throw err;
  }
  if (!st.isDirectory()) {
    yield { path: root, st };
    return;
  }
  let names: string[];
  try {
    names = (await fsp.readdir(root)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  } catch (err) {
    if (missingOk && isMissing(err)) return;
    throw err;
  }
  for (const name of names) {
    const p = path.join(root, name);
    try {
      yield* walkFiles(p, false);
    } catch (err) {
      if (missingOk && isMissing(err)) continue;
      throw err;
    }
  }
}

class Remover {
  readonly removed: string[] = [];
  private readonly now: number;
  private readonly boundaryMs: number;

  constructor(
    private readonly ctx: Context,
    private readonly opts: RmOptions,
  ) {
    this.now = opts.now ?? Date.now();
    this.boundaryMs = (opts.olderSec ?? 0) * 1000;
  }

  /**
   * Modified less than -older ago (or in the future): leave it. The mtime
   * is taken to the millisecond, as `now` is (Date.now()): a file written
   * in the millisecond rm started has a fraction of one more and would
   * otherwise count as from the future, and be left even without -older.
   */
  fresh(p: string, mtimeMs: number): boolean {
    if (this.now - Math.floor(mtimeMs) >= this.boundaryMs) return false;
    this.ctx.log.debug('rm-skip', [['File', p]], `File ${p}: too fresh, skipping`);
    return true;
  }

  /** Log the removal of `p`, then (unless dry run) remove it, and its hdr/ file when `withHdr`. */
  async remove(p: string, withHdr: boolean): Promise<void> {
    this.ctx.log.info('rm', [['File', p]], `File ${p}: removed`);
    this.removed.push(p);
    if (this.opts.dryRun) return;
    if (withHdr) await fsp.unlink(this.ctx.spool.hdrPathOf(p)).catch(() => {});
    await fsp.unlink(p);
  }

  /** Files directly in rx/ or tx/ of a node. */
  async queue(nodeIdB32: string, xx: 'rx' | 'tx'): Promise<void> {
    const o = this.opts;
    const dir = this.ctx.spool.queueDir(nodeIdB32, xx);
    let ents: Dirent[];
    try {
      ents = [];
      for await (const ent of await fsp.opendir(dir)) ents.push(ent);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    const pkts = o.pkts ?? new Set<string>();
    for (const ent of ents) {
      if (ent.isDirectory()) continue;
      const p = this.ctx.spool.packetPath(nodeIdB32, xx, ent.name);
      if (pkts.size > 0) {
        if (pkts.has(ent.name)) await this.remove(p, true);
        continue;
      }
      let st: Stats;
      try {
        st = await fsp.lstat(p);
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      if (this.fresh(p, st.mtimeMs)) continue;
      if ((o.nock && ent.name.endsWith(NOCK_SUFFIX)) || (o.part && ent.name.endsWith(PART_SUFFIX))) {
        await this.remove(p, false);
        continue;
      }
      if (!o.seen && !o.nock && !o.hdr && !o.part && ((o.rx && xx === 'rx') || (o.tx && xx === 'tx'))) {
        await this.remove(p, true);
      }
    }
  }

  /** Every file under a node's seen/ or hdr/ directory; with -pkt only the listed names, whatever their age. */
  async sub(root: string): Promise<void> {
    const pkts = this.opts.pkts ?? new Set<string>();
    for await (const { path: p, st } of walkFiles(root, true)) {
      if (pkts.size > 0) {
        if (pkts.has(path.basename(p))) await this.remove(p, false);
        continue;
      }
      if (this.fresh(p, st.mtimeMs)) continue;
      await this.remove(p, false);
    }
  }

  /**
   * The incoming/ debris of a node's interrupted deliveries that no toss
   * will finish (packet gone, or stopped while writing), with their
   * records, and the spare record files of a killed toss; under the
   * node's toss lock, skipped while a toss holds it. A complete file about
   * to be placed is left for the next toss to settle.
   */
  async incomingDebris(nodeIdB32: string): Promise<void> {
    const spool = this.ctx.spool;
    const stale = (await deliveryRecords(spool, nodeIdB32)).filter((s) => s.packetGone || (s.record?.kind === 'file' && s.record.state === 'writing'));
    if (stale.length === 0 && (await leftSpares(spool, nodeIdB32)).length === 0) return;
    let lock;
    try {
      lock = await spool.lock(nodeIdB32, 'toss');
    } catch (err) {
      this.ctx.log.debug('rm-skip', [['Node', nodeIdB32]], `Node ${nodeIdB32}: ${errorLine(err)}: its interrupted deliveries are left`);
      return;
    }
    try {
      for (const s of stale) {
        const rec = s.record;
        if (rec?.kind === 'file' && rec.state !== 'done') for (const p of await incomingDebris(rec)) await this.remove(p, false);
        await this.remove(spool.deliveryPath(nodeIdB32, s.pktId), false);
      }
      for (const p of await leftSpares(spool, nodeIdB32)) await this.remove(p, false); // record files a killed toss kept for reuse
    } finally {
      lock.release();
    }
  }

  /** Every file under a directory, subject to -older only. */
  async all(root: string, missingOk: boolean): Promise<void> {
    for await (const { path: p, st } of walkFiles(root, missingOk)) {
      if (this.fresh(p, st.mtimeMs)) continue;
      await this.remove(p, false);
    }
  }
}

/** Remove what the options select. Throws (after logging what was removed so far) on the first failure. */
export async function rm(ctx: Context, opts: RmOptions): Promise<RmResult> {
  const r = new Remover(ctx, opts);
  const spool = ctx.spool.root;
  if (opts.tmp) {
    const tmp = ctx.spool.tmpDir();
    try {
      await r.all(tmp, false);
    } catch (err) {
      throw new PigeonError('EIO', `error during walking ${tmp}: ${errorLine(err)}`, { cause: err });
    }
    try {
      for (const node of ctx.cfg.neighbours.values()) await r.incomingDebris(node.idB32);
    } catch (err) {
      throw new PigeonError('EIO', `can not remove: ${errorLine(err)}`, { cause: err });
    }
    return { removed: r.removed };
  }
  if (opts.lock) {
    try {
      for await (const { path: p } of walkFiles(spool, false)) {
        if (path.basename(p).endsWith(LOCK_SUFFIX)) await r.remove(p, false);
      }
    } catch (err) {
      throw new PigeonError('EIO', `error during walking ${spool}: ${errorLine(err)}`, { cause: err });
    }
    return { removed: r.removed };
  }
  if (!opts.all && !opts.node) {
    throw new PigeonError('EUSAGE', 'name the node with -node NODE, or pass -all for every node (or use -tmp or -lock)');
  }
  const pkts = opts.pkts ?? new Set<string>();
  try {
    for (const node of ctx.cfg.neighbours.values()) {
      if (opts.node && node.idB32 !== opts.node.idB32) continue;
      const id = node.idB32;
      if (pkts.size > 0 || opts.rx || opts.nock || opts.part) await r.queue(id, 'rx');
      if (pkts.size > 0 || opts.tx) await r.queue(id, 'tx');
      if (pkts.size > 0 || opts.seen) await r.sub(ctx.spool.seenDir(id));
      if (opts.rx && opts.hdr) await r.sub(ctx.spool.hdrDir(id, 'rx'));
      if (opts.tx && opts.hdr) await r.sub(ctx.spool.hdrDir(id, 'tx'));
      if (opts.area) await r.all(ctx.spool.areaDir(id), true);
      if (pkts.size > 0 || opts.quarantine) await r.sub(ctx.spool.quarantineDir(id));
    }
  } catch (err) {
    if (err instanceof PigeonError) throw err;
    throw new PigeonError('EIO', `can not remove: ${errorLine(err)}`, { cause: err });
  }
  return { removed: r.removed };
}
