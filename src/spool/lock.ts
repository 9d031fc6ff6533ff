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
import { flockSync } from './flock.js';
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

export interface LockFileOptions {
  /** Create the lock file when missing (mode 0666 less the umask); else a missing file is an error. */
  create: boolean;
  /** Exact mode to give the lock file (a configured umask); a file another user owns keeps its own. */
  mode?: number;
  /** The message when another process holds the lock. */
  locked: string;
  /** Added to the message when the lock file cannot be opened because it is missing. */
  missingHint?: string;
}

/**
 * flock(2) LOCK_EX|LOCK_NB on the file at `p`, without waiting: the one
 * way Pigeon takes a lock (spool directories, fspl sequence files). Throws
 * PigeonError ELOCKED with `opts.locked` when another process holds it.
 */
export function lockFile(p: string, opts: LockFileOptions): SpoolLock {
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_WRONLY | (opts.create ? fs.constants.O_CREAT : 0), 0o666);
  } catch (err) {
    const hint = (err as NodeJS.ErrnoException).code === 'ENOENT' && opts.missingHint ? ` ${opts.missingHint}` : '';
    throw new PigeonError('EIO', `cannot open lock file ${p}${hint}: ${errorLine(err)}`, { cause: err });
  }
  try {
    if (opts.mode !== undefined) {
      try {
        fs.fchmodSync(fd, opts.mode);
      } catch {
        // a lock file made by another user of a shared spool: leave its mode alone
      }
    }
    flockSync(fd, 'exnb');
  } catch (err) {
    fs.closeSync(fd);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') throw new PigeonError('ELOCKED', opts.locked, { cause: err });
    throw new PigeonError('EIO', `cannot lock ${p}: ${errorLine(err)}`, { cause: err });
  }
  let held = true;
  return {
    path: p,
    release(): void {
      if (!held) return;
      held = false;
      try {
        flockSync(fd, 'un');
      } finally {
        fs.closeSync(fd);
      }
    },
  };
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
  return lockFile(p, {
    create: true,
    mode: opts.umask === undefined ? undefined : 0o666 & ~opts.umask,
    locked: `${p} is locked by another process (nncp or pigeon); try again when it finishes`,
  });
}
