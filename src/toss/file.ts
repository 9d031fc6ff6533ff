/**
 * file packets: the payload becomes a file under the sender's `incoming`
 * directory, at the packet's relative path.
 *
 * The destination never leaves `incoming`: absolute paths are refused as the
 * reference refuses them, and so are paths that climb out (`../x`), paths
 * naming `incoming` itself (`.`, empty: the reference writes a sibling of
 * `incoming` for those) and directories that are symlinks leading outside
 * (the reference follows them). Missing directories are created.
 *
 * The payload streams into a temporary file inside the destination
 * directory (as the reference does: the spool's TmpFile, "nncp" prefix),
 * is fsynced, and only once the packet has been fully read and verified is
 * it given its name. An existing entry is never replaced: like the
 * reference, the file then gets the first free name of NAME.0, NAME.1, …
 * (TmpFile.commitNoClobber).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { iBytes, shortId } from '../format.js';
import { Progress } from '../progress.js';
import { ensureDir, makeDir, TmpFile } from '../spool/atomic.js';
import {
  checkAbort,
  drain,
  errCode,
  isInside,
  pathText,
  TossFailure,
  tossingPrefix,
  withFields,
  type Outcome,
  type Tossing,
} from './common.js';

export type DestinationFault = 'non-rel' | 'traversal' | 'symlink' | 'not-dir';

export interface Destination {
  /** Real (symlink-free) directory the file goes in, inside real(incoming). */
  dir: string;
  /** File name within it. */
  name: string;
}

export class DestinationError extends Error {
  constructor(
    readonly fault: DestinationFault,
    message: string,
  ) {
    super(message);
    this.name = 'DestinationError';
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The packet's relative path as a clean list of components, or a
 * DestinationError: absolute, not UTF-8, NUL inside, climbing out of the
 * base, or naming the base itself.
 */
export function relativeComponents(raw: Uint8Array, what = 'destination'): string[] {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new DestinationError('traversal', `${what} path is not valid UTF-8`);
  }
  if (text.startsWith('/')) throw new DestinationError('non-rel', `non-relative ${what} path`);
  if (text.includes('\0')) throw new DestinationError('traversal', `${what} path contains a NUL byte`);
  const norm = path.posix.normalize(text).replace(/\/+$/, '');
  if (norm === '' || norm === '.' || norm === '..' || norm.startsWith('../')) {
    throw new DestinationError('traversal', what === 'destination' ? 'incoming path traversal' : 'freqing path traversal');
  }
  return norm.split('/');
}

/**
 * Resolve (and with `create`, make) the directories of `components` under
 * `base`, refusing any existing component that is a symlink leading outside
 * `base` or is not a directory. Without `create`, missing directories are
 * only checked lexically. `base` itself is trusted (ensureDir); below it,
 * each component is made with makeDir, which never looks at what it finds,
 * and then judged here with lstat: the symlink check lives in this loop.
 */
async function resolveUnder(base: string, components: string[], opts: { create: boolean; dirMode?: number }): Promise<Destination> {
  if (opts.create) await ensureDir(base, opts.dirMode);
  let realBase: string;
  try {
    realBase = await fsp.realpath(base);
  } catch (err) {
    if (!opts.create && errCode(err) === 'ENOENT') return { dir: path.join(base, ...components.slice(0, -1)), name: components[components.length - 1] };
    throw err;
  }
  let cur = realBase;
  let virtual = false; // past a directory that does not exist yet (dry run)
  for (const c of components.slice(0, -1)) {
    const p = path.join(cur, c);
    if (virtual) {
      cur = p;
      continue;
    }
    let st;
    try {
      st = await fsp.lstat(p);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      if (!opts.create) {
        virtual = true;
        cur = p;
        continue;
      }
      await makeDir(p, opts.dirMode);
      st = await fsp.lstat(p); // created (or raced into existence): check what is there now
    }
    if (st.isSymbolicLink()) {
      let real: string;
      try {
        real = await fsp.realpath(p);
      } catch {
        throw new DestinationError('symlink', `incoming path traversal: ${c} is a dangling symlink`);
      }
      if (!isInside(real, realBase)) throw new DestinationError('symlink', `incoming path traversal: ${c} is a symlink leading outside`);
      if (!(await fsp.stat(real)).isDirectory()) throw new DestinationError('not-dir', `${p}: not a directory`);
      cur = real;
    } else if (st.isDirectory()) {
      cur = p;
    } else {
      throw new DestinationError('not-dir', `${p}: not a directory`);
    }
  }
  return { dir: cur, name: components[components.length - 1] };
}

export async function tossFile(t: Tossing): Promise<Outcome> {
  const { ctx, opts, origin } = t;
  const dst = pathText(t.plain);
  const fields = withFields(t.fields, ['Type', 'file'], ['Dst', dst]);
  const prefix = `${tossingPrefix(t, 'file')}: ${dst}`;

  let components: string[];
  try {
    components = relativeComponents(t.plain.path);
  } catch (err) {
    if (!(err instanceof DestinationError)) throw err;
    if (err.fault === 'non-rel') throw new TossFailure('rx-non-rel', fields, err.message, prefix);
    throw new TossFailure('rx-traversal', fields, err.message, `${prefix}: traversal`);
  }
  if (origin.incoming === undefined) throw new TossFailure('rx-no-incoming', fields, 'incoming is not allowed', prefix);

  let where: Destination;
  try {
    where = await resolveUnder(origin.incoming, components, { create: !opts.dryRun, dirMode: ctx.spool.dirMode });
  } catch (err) {
    if (err instanceof DestinationError && err.fault !== 'not-dir') throw new TossFailure('rx-traversal', fields, err.message, `${prefix}: traversal`);
    throw new TossFailure('rx-mkdir', fields, err instanceof DestinationError ? err.message : err, `${prefix}: mkdir`);
  }

  if (opts.dryRun) {
    try {
      await drain(t.body, opts.signal);
    } catch (err) {
      throw new TossFailure('rx-copy', fields, err, `${prefix}: copying`);
    }
    ctx.log.info('rx', fields, `Got file ${dst} (${iBytes(t.size)}) from ${origin.name}`);
    return 'done';
  }

  let tmp: TmpFile;
  try {
    tmp = await TmpFile.create(where.dir, { noSync: ctx.spool.noSync, mode: ctx.spool.fileMode });
  } catch (err) {
    throw new TossFailure('rx-mktemp', fields, err, `${prefix}: mktemp`);
  }
  ctx.log.debug('rx-tmp-created', withFields(fields, ['Tmp', tmp.path]), `${prefix}: created: ${tmp.path}`);
  const progress = new Progress({ enabled: ctx.progress, label: `Rx file ${shortId(t.pktName)}`, total: t.size });
  try {
    for await (const chunk of t.body) {
      checkAbort(opts.signal);
      progress.add(chunk.length);
      await tmp.writeBorrowed(chunk);
    }
    await tmp.flush(); // a write error (full disk) is a copying error, not a syncing one
    progress.finish();
  } catch (err) {
    await tmp.abort();
    throw new TossFailure('rx-copy', withFields(fields, ['Tmp', tmp.path]), err, `${prefix}: copying`);
  }
  // Fsync and close under the temporary name, then link it under its final one.
  try {
    await tmp.seal();
  } catch (err) {
    throw new TossFailure('rx-sync', fields, err, `${prefix}: syncing`);
  }
  try {
    await tmp.commitNoClobber(where.dir, where.name);
  } catch (err) {
    throw new TossFailure('rx-rename', fields, err, `${prefix}: renaming`);
  }
  ctx.log.info('rx', fields, `Got file ${dst} (${iBytes(t.size)}) from ${origin.name}`);
  return 'done';
}
