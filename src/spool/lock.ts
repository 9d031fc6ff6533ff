/**
 * Spool locks, shared with the reference: flock(2) LOCK_EX|LOCK_NB on
 * `<spool>/<NODEID>/<ctx>.lock` (the path is layout.ts's), the file created
 * with mode 0666 (less the umask). The reference takes "rx" and "tx" for online sessions and
 * transfers (nncp-call/daemon, nncp-xfer -tx, nncp-bundle) and "toss" for
 * nncp-toss; like it, taking a lock first makes sure `<spool>/<NODEID>/rx`
 * exists. A lock is released by release() or when the process exits (the
 * kernel drops flock locks with the descriptor).
 */
import fs from 'node:fs';
import fsExt from 'fs-ext';
import { errorLine, PigeonError } from '../errors.js';
import { ensureDir } from './atomic.js';
import { SpoolLayout } from './layout.js';

export type LockContext = 'rx' | 'tx' | 'toss';

export interface SpoolLock {
  /** The lock file. */
  readonly path: string;
  /** Unlock and close; further calls do nothing. */
  release(): void;
}

export interface LockOptions {
  /** Configured umask: lock file and created directories get exactly 0666/0777 less it. */
  umask?: number;
}

/**
 * Take the `ctx` lock of a node's spool directory without waiting. Throws
 * PigeonError ELOCKED when another process (nncp-* or pigeon) holds it.
 */
export async function lockDir(spool: string, nodeIdB32: string, ctx: LockContext, opts: LockOptions = {}): Promise<SpoolLock> {
  const dirMode = opts.umask === undefined ? undefined : 0o777 & ~opts.umask;
  const layout = new SpoolLayout(spool);
  await ensureDir(layout.queueDir(nodeIdB32, 'rx'), dirMode);
  const p = layout.lockPath(nodeIdB32, ctx);
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o666);
  } catch (err) {
    throw new PigeonError('EIO', `cannot open lock file ${p}: ${errorLine(err)}`, { cause: err });
  }
  try {
    if (opts.umask !== undefined) {
      try {
        fs.fchmodSync(fd, 0o666 & ~opts.umask);
      } catch {
        // a lock file made by another user of a shared spool: leave its mode alone
      }
    }
    fsExt.flockSync(fd, 'exnb');
  } catch (err) {
    fs.closeSync(fd);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
      throw new PigeonError('ELOCKED', `${p} is locked by another process (nncp or pigeon); try again when it finishes`, { cause: err });
    }
    throw new PigeonError('EIO', `cannot lock ${p}: ${errorLine(err)}`, { cause: err });
  }
  let held = true;
  return {
    path: p,
    release(): void {
      if (!held) return;
      held = false;
      try {
        fsExt.flockSync(fd, 'un');
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}
