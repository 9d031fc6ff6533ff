/**
 * Free space on the spool's filesystem, checked as the reference checks it
 * before taking in a packet: strictly more bytes available than wanted.
 * The one free-space check: Spool.hasRoom and the online session use it.
 */
import { promises as fsp } from 'node:fs';

/**
 * True when the filesystem holding `dir` has more than `want` bytes
 * available to this user. When it cannot tell (statfs unsupported or the
 * directory missing) it answers true and lets the write itself fail.
 */
export async function hasRoom(dir: string, want: number): Promise<boolean> {
  try {
    const s = await fsp.statfs(dir);
    return s.bavail * s.bsize > want;
  } catch {
    return true;
  }
}
