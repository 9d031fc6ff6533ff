/**
 * flock(2), the one way Pigeon takes a lock on a file (the spool's lock
 * files, the log's `.lock`), through fs-ext. Its native addon is loaded at
 * the first lock rather than at import: opening it costs a start-up some
 * 2 ms that a command taking no lock (`stat`, `pkt`, `log`) need not pay.
 */
import { createRequire } from 'node:module';

type FsExt = typeof import('fs-ext');

let fsExt: FsExt | undefined;

/** flock(fd, op): 'ex' waits, 'exnb' fails with EAGAIN/EWOULDBLOCK when held, 'un' releases. */
export function flockSync(fd: number, op: 'ex' | 'exnb' | 'un'): void {
  fsExt ??= createRequire(import.meta.url)('fs-ext') as FsExt;
  fsExt.flockSync(fd, op);
}
