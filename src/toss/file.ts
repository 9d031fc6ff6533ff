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
 * directory (the spool's TmpFile), named `.pigeon-tmp-<PKT>.<hex>`: a
 * dot-file, hidden from ls and shell globs, that the spool's delivery
 * record locates (spool/delivery.ts). It is fsynced, and only once the
 * packet has been fully read and verified is it given its name. An
 * existing entry is never replaced: like the reference, the file then gets
 * the first free name of NAME.0, NAME.1, … (TmpFile.commitNoClobber), a
 * name too long for that suffix being shortened to fit.
 *
 * Exactly once: before the temporary file exists, the record says
 * "writing" there; once it is complete and fsynced, "placing" it (with its
 * inode), durably, then it is linked. A toss killed anywhere in between
 * leaves the next toss of the packet to settle it (resumeFile): debris of
 * an unfinished write is removed and the file written again; a file that
 * was placed is recognised by its inode, its content compared with the
 * packet's, and not delivered twice.
 */
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { bytesEqual } from '../codec/bytes.js';
import type { LogFields } from '../log/log.js';
import { iBytes, shortId } from '../format.js';
import { errCode } from '../errors.js';
import { Progress } from '../progress.js';
import { ensureDir, makeDir, noClobberName, TmpFile } from '../spool/atomic.js';
import { incomingDebris, incomingTmpPrefix, isRecordedFile, type FilePlacing, type FileWriting } from '../spool/delivery.js';
import { INCOMING_TMP_PREFIX } from '../spool/layout.js';
import {
  checkAbort,
  drain,
  isInside,
  noteDelivery,
  pathText,
  TossFailure,
  tossingPrefix,
  withFields,
  type Outcome,
  type Tossing,
} from './common.js';
import { killpoint } from '../killpoint.js';
import { notifyHandled } from './notify.js';

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
 * `base` or is not a directory. `known` keeps the real path of each `base`
 * made and resolved before, for the rest of a toss run. Without `create`, missing directories are
 * only checked lexically. `base` itself is trusted (ensureDir); below it,
 * each component is made with makeDir, which never looks at what it finds,
 * and then judged here with lstat: the symlink check lives in this loop.
 */
async function resolveUnder(base: string, components: string[], opts: { create: boolean; dirMode?: number; known?: Map<string, string> }): Promise<Destination> {
  let realBase = opts.create ? opts.known?.get(base) : undefined;
  if (realBase === undefined) {
    if (opts.create) await ensureDir(base, opts.dirMode);
    try {
      realBase = fs.realpathSync.native(base);
    } catch (err) {
      if (!opts.create && errCode(err) === 'ENOENT') return { dir: path.join(base, ...components.slice(0, -1)), name: components[components.length - 1] };
      throw err;
    }
    if (opts.create) opts.known?.set(base, realBase);
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
      st = fs.lstatSync(p);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw err;
      if (!opts.create) {
        virtual = true;
        cur = p;
        continue;
      }
      await makeDir(p, opts.dirMode);
      st = fs.lstatSync(p); // created (or raced into existence): check what is there now
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
    where = await resolveUnder(origin.incoming, components, { create: !opts.dryRun, dirMode: ctx.spool.dirMode, known: t.run?.realIncoming });
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

  const rec = t.delivery?.record;
  if (rec?.kind === 'file' && rec.state !== 'done') {
    const settled = await resumeFile(t, rec, fields, prefix);
    if (settled) return settled;
  }

  const tmpPrefix = t.delivery ? incomingTmpPrefix(t.delivery.pktId) : INCOMING_TMP_PREFIX;
  try {
    await noteDelivery(t, { kind: 'file', state: 'writing', dir: where.dir, prefix: tmpPrefix }, 'none');
  } catch (err) {
    throw new TossFailure('rx-record', fields, err, `${prefix}: recording the delivery`);
  }
  let tmp: TmpFile;
  try {
    tmp = await TmpFile.create(where.dir, { noSync: ctx.spool.noSync, mode: ctx.spool.fileMode, prefix: tmpPrefix, onStage: (s) => killpoint(`toss-file-${s}`) });
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
      killpoint('toss-file-chunk');
    }
    await tmp.flush(); // a write error (full disk) is a copying error, not a syncing one
    progress.finish();
  } catch (err) {
    await tmp.abort();
    throw new TossFailure('rx-copy', withFields(fields, ['Tmp', tmp.path]), err, `${prefix}: copying`);
  }
  // Fsync and close under the temporary name, record it, then link it under its final one.
  try {
    await tmp.seal();
  } catch (err) {
    throw new TossFailure('rx-sync', fields, err, `${prefix}: syncing`);
  }
  if (t.delivery) {
    try {
      const st = fs.lstatSync(tmp.path);
      await noteDelivery(t, { kind: 'file', state: 'placing', dir: where.dir, prefix: tmpPrefix, name: where.name, tmp: path.basename(tmp.path), dev: st.dev, ino: st.ino, size: st.size }, 'ordered');
    } catch (err) {
      await tmp.abort();
      throw new TossFailure('rx-record', fields, err, `${prefix}: recording the delivery`);
    }
    killpoint('toss-file-recorded');
  }
  try {
    await tmp.commitNoClobber(where.dir, where.name);
  } catch (err) {
    throw new TossFailure('rx-rename', fields, err, `${prefix}: renaming`);
  }
  ctx.log.info('rx', fields, `Got file ${dst} (${iBytes(t.size)}) from ${origin.name}`);
  await notifyHandled(t, { kind: 'file', subject: `File from ${origin.name}: ${dst} (${iBytes(t.size)})`, fields, prefix });
  return 'done';
}

/**
 * Settle what a killed toss of this packet left: null when the file must
 * (still) be written, 'done' when it was placed. Either way no temporary
 * file of the packet is left behind.
 */
async function resumeFile(t: Tossing, rec: FileWriting | FilePlacing, fields: LogFields, prefix: string): Promise<Outcome | null> {
  const { ctx, opts } = t;
  try {
    let placedAs: string | null = null;
    let tmpLeft = false;
    if (rec.state === 'placing') {
      placedAs = await findPlaced(rec);
      tmpLeft = await isRecordedFile(path.join(rec.dir, rec.tmp), rec);
    }
    for (const p of await incomingDebris(rec)) await fsp.unlink(p).catch(() => {});
    // Not placed: write it (again). Placed, or its temporary file gone (linked, then moved away by somebody): delivered.
    if (rec.state === 'writing' || (placedAs === null && tmpLeft)) return null;
    let how: string;
    if (placedAs === null) {
      await drain(t.body, opts.signal);
      how = 'it has been moved away since';
    } else {
      const same = await sameContent(t.body, path.join(rec.dir, placedAs), opts.signal);
      how = same ? `found as ${placedAs}, same content` : `found as ${placedAs}, changed since`;
    }
    ctx.log.info('rx-delivered', withFields(fields, ['Tmp', rec.tmp]), `${prefix}: delivered before (by a toss that stopped before removing the packet): ${how}`);
    return 'done';
  } catch (err) {
    throw new TossFailure('rx-copy', fields, err, `${prefix}: settling an earlier delivery`);
  }
}

/** The name (NAME or NAME.N, tried in commitNoClobber's order) under which the recorded file was placed, or null. */
async function findPlaced(rec: FilePlacing): Promise<string | null> {
  for (let i = -1; ; i++) {
    const name = noClobberName(rec.name, i);
    const p = path.join(rec.dir, name);
    try {
      await fsp.lstat(p);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return null;
      throw err;
    }
    if (await isRecordedFile(p, rec)) return name;
  }
}

/** Whether the file at `p` holds exactly the bytes of `body` (read to its end either way, verifying it). */
async function sameContent(body: AsyncIterable<Uint8Array>, p: string, signal?: AbortSignal): Promise<boolean> {
  const fh = await fsp.open(p, 'r');
  try {
    let same = true;
    let pos = 0;
    let buf = Buffer.alloc(0);
    for await (const chunk of body) {
      checkAbort(signal);
      if (same) {
        if (buf.length < chunk.length) buf = Buffer.alloc(chunk.length);
        const { bytesRead } = await fh.read(buf, 0, chunk.length, pos);
        same = bytesRead === chunk.length && bytesEqual(buf.subarray(0, bytesRead), chunk);
      }
      pos += chunk.length;
    }
    return same && (await fh.stat()).size === pos;
  } finally {
    await fh.close();
  }
}
