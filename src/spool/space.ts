/**
 * Free space on the spool's filesystem, checked as the reference checks it
 * before taking in a packet: strictly more bytes available than wanted.
 * The one free-space check: Spool.hasRoom / Spool.freeBytes, the online
 * session and tx's size check use it.
 */
import fs from 'node:fs';

/**
 * Bytes available to this user on the filesystem holding `dir`, or null
 * when it cannot tell (statfs unsupported or the directory missing).
 */
export async function freeBytes(dir: string): Promise<number | null> {
  try {
    const s = fs.statfsSync(dir); // a few microseconds; asked once per packet taken in (atomic.ts on thread-pool round trips)
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/**
 * True when the filesystem holding `dir` has more than `want` bytes
 * available to this user. When it cannot tell it answers true and lets the
 * write itself fail.
 */
export async function hasRoom(dir: string, want: number): Promise<boolean> {
  const free = await freeBytes(dir);
  return free === null || free > want;
}
