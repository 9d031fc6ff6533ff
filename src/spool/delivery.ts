/**
 * Delivery records: what makes tossing exactly once across a kill.
 *
 * While a packet of rx/ is delivered, rx/delivery/<PKT> says how far the
 * delivery got (a small JSON object on one line, written over the one
 * before: writeDelivery):
 *
 *   file  writing   a temporary file `.pigeon-tmp-<PKT>.<hex>` may exist in
 *                   `dir` (not fsynced: it only locates debris)
 *   file  placing   the temporary file `tmp` (device/inode `dev`/`ino`,
 *                   `size` bytes) is complete and about to be linked under
 *                   `name` or `name.N` in `dir` (fsynced before the link)
 *   exec  started   the handle is about to run, or ran without the outcome
 *                   being recorded
 *   any   done      delivered; only the packet's removal is left
 *
 * A record is written before the side effect it announces and removed
 * after the packet (the tosser's job, under the node's toss lock). The
 * next toss of the same packet reads it to finish or skip what was done
 * (toss/file.ts, toss/exec.ts, toss/toss.ts); the next toss of the queue
 * removes the records of packets that are gone, with their debris. So
 * records never outnumber the packets in rx/ plus those of one toss.
 *
 * A record names its packet (`pkt`): one that names another is no record
 * of this packet (a reused file, below, between its rename and its first
 * write). Records from before that field are taken as their file's.
 *
 * Record files are reused within a toss of a queue (SpareRecords): a
 * delivered packet's record is renamed to `.spare-N` instead of removed,
 * and the next packet's is made from a spare. ext4 without a journal scans
 * past every recently freed inode for each one it allocates, so making
 * and freeing a record file per packet cost a toss of 1,000 small files
 * about a quarter of its time. Spares are removed at the end of the toss,
 * and by the next sweep after a kill.
 *
 * The reference neither reads nor removes rx/delivery/ (nncp-rm -rx leaves
 * directories alone).
 */
import fs from 'node:fs';
import path from 'node:path';
import { listDir, listDirOrEmpty, overwriteSmall, pooled } from './atomic.js';
import { INCOMING_TMP_PREFIX } from './layout.js';
import { isId, type Spool } from './spool.js';
import { isMissing } from '../errors.js';
import { killpoint } from '../killpoint.js';

export interface FileWriting {
  kind: 'file';
  state: 'writing';
  /** Directory of the temporary file (the destination's). */
  dir: string;
  /** Name prefix of the temporary file. */
  prefix: string;
}

export interface FilePlacing {
  kind: 'file';
  state: 'placing';
  dir: string;
  prefix: string;
  /** The name asked for (the file gets it or the first free NAME.N). */
  name: string;
  /** Base name of the complete temporary file. */
  tmp: string;
  dev: number;
  ino: number;
  size: number;
}

export interface ExecStarted {
  kind: 'exec';
  state: 'started';
}

export interface Delivered {
  /** The packet type's name (file, exec, freq, trns, area). */
  kind: string;
  state: 'done';
}

export type DeliveryRecord = FileWriting | FilePlacing | ExecStarted | Delivered;

/** The temporary-file prefix for a delivery of packet `pktId` into incoming/. */
export function incomingTmpPrefix(pktId: string): string {
  return `${INCOMING_TMP_PREFIX}${pktId}.`;
}

function valid(r: unknown): r is DeliveryRecord {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  if (typeof o.kind !== 'string') return false;
  switch (o.state) {
    case 'done':
      return true;
    case 'started':
      return o.kind === 'exec';
    case 'writing':
      return o.kind === 'file' && typeof o.dir === 'string' && typeof o.prefix === 'string';
    case 'placing':
      return (
        o.kind === 'file' &&
        typeof o.dir === 'string' &&
        typeof o.prefix === 'string' &&
        typeof o.name === 'string' &&
        typeof o.tmp === 'string' &&
        [o.dev, o.ino, o.size].every((n) => typeof n === 'number')
      );
    default:
      return false;
  }
}

/** The record of packet `pktId` of a node's rx/, or null (none, not one we can read, or another packet's: then it is ignored). */
export async function readDelivery(spool: Spool, nodeIdB32: string, pktId: string): Promise<DeliveryRecord | null> {
  let text: string;
  try {
    text = fs.readFileSync(spool.deliveryPath(nodeIdB32, pktId), 'utf8'); // small: no thread-pool round trip
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
  try {
    // The record is the first line: a shorter record written over a longer one leaves its tail after it.
    const r: unknown = JSON.parse(text.slice(0, text.indexOf('\n') + 1 || text.length));
    if (!valid(r)) return null;
    const { pkt, ...rec } = r as DeliveryRecord & { pkt?: unknown };
    return pkt === undefined || pkt === pktId ? rec : null;
  } catch {
    return null;
  }
}

/**
 * How durable a record is made: 'none' written only (it only locates
 * debris after a kill); 'full' fsynced with its directory;
 * 'ordered' fsynced, its directory not: its directory entry (made by the
 * 'none' record before it) becomes durable with the next fsync on the
 * spool's filesystem at the latest (a journal commits in order), which
 * for a file delivery is that of the temporary file and incoming directory
 * it precedes. That keeps a toss of many small files at three fsyncs a file
 * instead of four; with incoming on another filesystem a power cut at the
 * wrong moment can lose the record, and the file is then delivered again as
 * NAME.0 (as the reference would), never lost.
 */
export type Durability = 'none' | 'ordered' | 'full';

/**
 * Write the record, as durable as asked. 'none' and 'ordered' records (a
 * file's 'writing' and 'placing', both before its side effect, the link)
 * are written over the one before, in place (atomic.ts overwriteSmall): a
 * kill leaves the record before or the new one, never a mix (one line,
 * written whole), and one made unreadable by a power cut before its fsync
 * counts as none, which is right as the link waits for that fsync: the
 * delivery is done again from the start. A 'full' record (an exec's
 * 'started' before it runs, any 'done' after a side effect) replaces the
 * one before atomically (a renamed temporary file): after a power cut it
 * reads as the record before or the new one, never as none, so a side
 * effect that happened is never repeated.
 */
export async function writeDelivery(spool: Spool, nodeIdB32: string, pktId: string, rec: DeliveryRecord, durability: Durability, spares?: SpareRecords): Promise<void> {
  const p = spool.deliveryPath(nodeIdB32, pktId);
  const line = JSON.stringify({ pkt: pktId, ...rec }) + '\n';
  if (durability === 'full') return spool.writeSmall(p, line, {});
  spares?.take(p);
  await overwriteSmall(p, Buffer.from(line), { noSync: spool.noSync || durability === 'none', mode: spool.fileMode, dirMode: spool.dirMode });
}

/** Remove a packet's record (into `spares` when given: its file is reused). */
export async function removeDelivery(spool: Spool, nodeIdB32: string, pktId: string, spares?: SpareRecords): Promise<void> {
  const p = spool.deliveryPath(nodeIdB32, pktId);
  try {
    if (spares) spares.give(p);
    else fs.unlinkSync(p);
  } catch (err) {
    if (!isMissing(err)) throw err;
  }
}

const SPARE_PREFIX = '.spare-';

/**
 * The record files of one toss of a queue, kept for reuse (see the top of
 * this file). Synchronous: a rename or link of a small file in one
 * directory costs less than a thread-pool round trip.
 */
export class SpareRecords {
  private readonly free: string[] = [];
  private made = 0;

  constructor(private readonly dir: string) {}

  /**
   * Give the record file `p` a spare's inode, when there is a spare and
   * `p` does not exist yet (a link never replaces a file: an existing
   * record is then written over in place, as without spares).
   */
  take(p: string): void {
    const spare = this.free.pop();
    if (spare === undefined) return;
    try {
      fs.linkSync(spare, p);
    } catch {
      this.free.push(spare);
      return;
    }
    killpoint('toss-record-reused'); // p holds the record of the packet delivered before
    try {
      fs.unlinkSync(spare); // the inode stays, linked as p
    } catch {
      // the name stays behind, for the next sweep
    }
  }

  /** Rename record file `p` to a spare name, for a later take(). */
  give(p: string): void {
    const spare = path.join(this.dir, `${SPARE_PREFIX}${this.made}`);
    fs.renameSync(p, spare);
    this.made++;
    this.free.push(spare);
  }

  /** Remove the spares left (at the end of the toss; one that will not go is left to the next sweep). */
  drop(): void {
    for (const spare of this.free.splice(0)) {
      try {
        fs.unlinkSync(spare);
      } catch {
        // swept next time
      }
    }
  }
}

/** The names in a node's rx/delivery/ (none when it does not exist). */
function deliveryNames(spool: Spool, nodeIdB32: string): Promise<string[]> {
  return listDirOrEmpty(spool.deliveryDir(nodeIdB32));
}

/** The spares a killed toss left behind (paths). */
export async function leftSpares(spool: Spool, nodeIdB32: string): Promise<string[]> {
  const dir = spool.deliveryDir(nodeIdB32);
  return (await deliveryNames(spool, nodeIdB32)).filter((n) => n.startsWith(SPARE_PREFIX)).map((n) => path.join(dir, n));
}

/** Ids of the packets of a node that have a record. */
export async function listDeliveries(spool: Spool, nodeIdB32: string): Promise<string[]> {
  return (await deliveryNames(spool, nodeIdB32)).filter(isId).sort();
}

/** Whether `p` is the file of the record (same device and inode). */
export async function isRecordedFile(p: string, rec: FilePlacing): Promise<boolean> {
  try {
    const st = await pooled<fs.Stats>((cb) => fs.lstat(p, cb));
    return st.isFile() && st.dev === rec.dev && st.ino === rec.ino;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/**
 * The temporary files a file delivery left in incoming/: every file named
 * with its prefix in its directory. For a "placing" record those are
 * debris only once the complete file is no longer needed (the packet is
 * gone, or the caller has settled the delivery).
 */
export async function incomingDebris(rec: FileWriting | FilePlacing): Promise<string[]> {
  let names: string[];
  try {
    names = await listDir(rec.dir);
  } catch (err) {
    if (isMissing(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw err;
  }
  return names.filter((n) => n.startsWith(rec.prefix)).map((n) => path.join(rec.dir, n));
}

export interface StaleRecord {
  pktId: string;
  record: DeliveryRecord | null;
  /** The record's packet is no longer in rx/: record and debris can go. */
  packetGone: boolean;
}

/** Every record of a node, with whether its packet is still queued. */
export async function deliveryRecords(spool: Spool, nodeIdB32: string): Promise<StaleRecord[]> {
  const out: StaleRecord[] = [];
  for (const pktId of await listDeliveries(spool, nodeIdB32)) {
    let packetGone = false;
    try {
      await pooled<fs.Stats>((cb) => fs.lstat(spool.packetPath(nodeIdB32, 'rx', pktId), cb));
    } catch (err) {
      if (!isMissing(err)) throw err;
      packetGone = true;
    }
    out.push({ pktId, record: await readDelivery(spool, nodeIdB32, pktId), packetGone });
  }
  return out;
}

/**
 * Under the node's toss lock: remove the records whose packet has left rx/
 * (delivered, removed, quarantined), with what their deliveries left in
 * incoming/. Returns the paths removed.
 */
export async function sweepDeliveries(spool: Spool, nodeIdB32: string): Promise<string[]> {
  const removed = await leftSpares(spool, nodeIdB32);
  for (const p of removed) await pooled<void>((cb) => fs.rm(p, { force: true }, cb));
  for (const s of await deliveryRecords(spool, nodeIdB32)) {
    if (!s.packetGone) continue;
    if (s.record?.kind === 'file' && s.record.state !== 'done') {
      for (const p of await incomingDebris(s.record)) {
        await pooled<void>((cb) => fs.unlink(p, cb)).catch(() => {});
        removed.push(p);
      }
    }
    await removeDelivery(spool, nodeIdB32, s.pktId);
    removed.push(spool.deliveryPath(nodeIdB32, s.pktId));
  }
  return removed;
}
