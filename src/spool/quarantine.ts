/**
 * Quarantine: a packet of rx/ that failed verification (a block that does
 * not authenticate, a truncated packet, bytes after its end) can never
 * become valid. Instead of staying in rx/, where every toss (and every
 * -cycle round) would try it again, it moves to rx/quarantine/<PKT> (its
 * hdr/ file goes). Nothing tosses it from there; stat and check list it,
 * rm -quarantine removes it. The reference lists only 52-character names
 * directly in rx/, so it does not see it either.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureDir, fsyncDir, listDir, pooled } from './atomic.js';
import { isId, type Spool } from './spool.js';

export interface QuarantinedPacket {
  id: string;
  path: string;
  size: number;
  mtimeMs: number;
}

/** Move rx/<pktId> of a node to rx/quarantine/<pktId>, durably; its hdr/ file is removed. Returns the new path. */
export async function quarantinePacket(spool: Spool, nodeIdB32: string, pktId: string): Promise<string> {
  const dir = spool.quarantineDir(nodeIdB32);
  await ensureDir(dir, spool.dirMode);
  const src = spool.packetPath(nodeIdB32, 'rx', pktId);
  const dst = spool.quarantinePath(nodeIdB32, pktId);
  await pooled<void>((cb) => fs.rename(src, dst, cb));
  await fsyncDir(dir, spool.noSync);
  await fsyncDir(path.dirname(src), spool.noSync);
  await pooled<void>((cb) => fs.unlink(spool.hdrPath(nodeIdB32, 'rx', pktId), cb)).catch(() => {});
  return dst;
}

/** The quarantined packets of a node, by id. */
export async function listQuarantine(spool: Spool, nodeIdB32: string): Promise<QuarantinedPacket[]> {
  const dir = spool.quarantineDir(nodeIdB32);
  let names: string[];
  try {
    names = await listDir(dir);
  } catch {
    return [];
  }
  const out: QuarantinedPacket[] = [];
  for (const id of names.filter(isId).sort()) {
    const p = path.join(dir, id);
    try {
      const st = await pooled<fs.Stats>((cb) => fs.lstat(p, cb));
      if (st.isFile()) out.push({ id, path: p, size: st.size, mtimeMs: st.mtimeMs });
    } catch {
      // vanished meanwhile
    }
  }
  return out;
}
