/**
 * The spool's trash: big packets a toss is done with, freed after the
 * command instead of during it.
 *
 * Freeing a file's blocks is work in proportion to its size, done in the
 * unlink (or the close of the last descriptor) that frees it: on these
 * machines' ext4, mounted `discard` without a journal, the kernel discards
 * every freed extent there and then, about 90 ms for 256 MiB (0.35 s a
 * GiB, six minutes for a 1 TiB `zfs send`). With a journal it would happen
 * at a later commit, off the caller's path; here the caller waits.
 *
 * So a packet of at least TRASH_MIN_BYTES leaves its queue by a rename
 * into tmp/.pigeon-trash.<hex>/ (the same filesystem: nothing is freed,
 * and the queue's name is gone as atomically as an unlink would take it),
 * and empty() hands the directory to a detached `rm -rf` started at the
 * end of the run, so the discards run while the command exits and after.
 * Where `rm` cannot be started, the directory is removed in-process.
 *
 * A trash directory outlives only a kill (before empty()) or a child that
 * did not finish: empty() takes every trash directory in tmp/ along with
 * its own, and `pigeon rm -tmp` removes them with everything else there.
 * Nothing in a trash directory is ever read again.
 *
 * Kill point: toss-trashed (a packet renamed into the trash, the run not
 * yet ended).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { quietly } from '../errors.js';
import { ensureDirSync, tmpName } from './atomic.js';

/** Start of a trash directory's name in tmp/. */
export const TRASH_PREFIX = '.pigeon-trash.';

/**
 * Packets from this size on go through the trash. Smaller ones are
 * unlinked at once: freeing them costs less than starting `rm` (a few ms).
 */
export const TRASH_MIN_BYTES = 32 << 20;

export class Trash {
  /** This run's directory, made at the first put(). */
  private dir: string | null = null;

  /** `tmpDir`: the spool's tmp/ (on the spool's filesystem). */
  constructor(private readonly tmpDir: string, private readonly dirMode?: number) {}

  /**
   * Move file `p` into the trash (a rename: the file leaves its name
   * atomically, and nothing is freed yet). False when it could not be
   * moved (it is then where it was): the caller unlinks it instead.
   */
  put(p: string): boolean {
    try {
      if (this.dir === null) {
        ensureDirSync(this.tmpDir, this.dirMode);
        const dir = path.join(this.tmpDir, tmpName(TRASH_PREFIX));
        fs.mkdirSync(dir, 0o700);
        this.dir = dir;
      }
      fs.renameSync(p, path.join(this.dir, path.basename(p)));
      return true;
    } catch {
      // Our directory gone (another run's empty() took it: the next put makes one), tmp/ unwritable, p missing: the caller's unlink says which.
      if (this.dir !== null && !fs.existsSync(this.dir)) this.dir = null;
      return false;
    }
  }

  /**
   * End of the run: start removing this run's trash directory and any
   * other left in tmp/ (by a killed run), in a detached `rm -rf`
   * (in-process when it cannot be started). Resolves once that has
   * started or, in-process, finished. With no trash directory in tmp/, it
   * is one readdir.
   */
  async empty(): Promise<void> {
    this.dir = null;
    let names: string[];
    try {
      names = fs.readdirSync(this.tmpDir);
    } catch {
      return;
    }
    const dirs = names.filter((n) => n.startsWith(TRASH_PREFIX)).map((n) => path.join(this.tmpDir, n));
    if (dirs.length === 0) return;
    const started = await new Promise<boolean>((resolve) => {
      try {
        const child = spawn('rm', ['-rf', '--', ...dirs], { detached: true, stdio: 'ignore' });
        child.once('spawn', () => resolve(true));
        child.once('error', () => resolve(false));
        child.unref();
      } catch {
        resolve(false);
      }
    });
    if (!started) for (const d of dirs) quietly(() => fs.rmSync(d, { recursive: true, force: true }));
  }
}
