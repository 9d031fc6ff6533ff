/**
 * Reassembling chunked files (manual: nncp-reass). For FILE.nncp.meta, every
 * FILE.nncp.chunkN must exist with the size the meta implies and the MTH it
 * lists. The whole file is written to a temporary file beside the meta file
 * (the spool's TmpFile) while each chunk is hashed, and given its name
 * (FILE, or FILE.0, FILE.1, … when FILE exists, never replacing anything:
 * TmpFile.commitNoClobber) only when every checksum matched; the chunks
 * and the meta file are removed only after that, unless `keep`. With
 * `stdout` the chunks are verified first, then copied out. reassTarget
 * picks the meta files as nncp-reass does (a file, a directory, -node,
 * -all).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { node, type Context } from '../context.js';
import { PigeonError } from '../errors.js';
import { MTH, mthOfFile } from '../crypto/mth.js';
import { iBytes } from '../format.js';
import { bytesEqual } from '../codec/bytes.js';
import { describeForeignMagic, MAGIC_CHUNKED_META, OLD_MAGICS } from '../packet/magic.js';
import { Progress } from '../progress.js';
import { TmpFile } from '../spool/atomic.js';
import { copyChunks, readReused } from '../stream/fileread.js';
import { chunkName, ChunkedMeta, decodeMeta, expectedChunkSize, META_SUFFIX } from './meta.js';
import { writeOut } from '../stream/writeout.js';

export interface ReassOptions {
  /** Leave the chunks and the meta file in place. */
  keep?: boolean;
  /** Only check that every chunk is there and intact. */
  dryRun?: boolean;
  /** Write the file here instead of beside the meta file. */
  stdout?: NodeJS.WritableStream;
  /** Print the meta file's contents (to `print`) instead of reassembling. */
  dump?: boolean;
  print?: (text: string) => void;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** The text nncp-reass -dump prints. */
export function dumpMeta(mainName: string, m: ChunkedMeta): string {
  let s = `Original filename: ${mainName}\n`;
  s += `File size: ${iBytes(m.fileSize)} (${m.fileSize} bytes)\n`;
  s += `Chunk size: ${iBytes(m.chunkSize)} (${m.chunkSize} bytes)\n`;
  s += `Number of chunks: ${m.checksums.length}\n`;
  s += 'Checksums:\n';
  m.checksums.forEach((c, i) => (s += `\t${i}: ${hex(c)}\n`));
  return s;
}

/** Reassemble the file described by `metaPath`. Returns false when something was wrong (all logged). */
export async function reassemble(ctx: Context, metaPath: string, o: ReassOptions = {}): Promise<boolean> {
  const les = [['Path', metaPath]] as const;
  const logMsg = `Reassembling chunked file "${metaPath}"`;
  let meta: ChunkedMeta;
  try {
    const raw = await fsp.readFile(metaPath);
    const magic = raw.subarray(0, 8);
    if (raw.length >= 8 && !bytesEqual(magic, MAGIC_CHUNKED_META.bytes) && OLD_MAGICS.some((m) => bytesEqual(m.bytes, magic))) {
      ctx.log.error('reass', les, describeForeignMagic(magic), logMsg);
      return false;
    }
    meta = decodeMeta(raw, metaPath);
  } catch (err) {
    ctx.log.error('reass-bad-meta', les, err, `${logMsg}: bad meta`);
    return false;
  }
  const metaName = path.basename(metaPath);
  if (!metaName.endsWith(META_SUFFIX) || metaName === META_SUFFIX) {
    ctx.log.error('reass', les, `invalid filename suffix: a meta file's name ends with ${META_SUFFIX}`, logMsg);
    return false;
  }
  const mainName = metaName.slice(0, -META_SUFFIX.length);
  if (o.dump) {
    (o.print ?? ((s) => process.stdout.write(s)))(dumpMeta(mainName, meta));
    return true;
  }
  const mainDir = path.dirname(metaPath);
  const chunks = meta.checksums.map((_, i) => path.join(mainDir, chunkName(mainName, i)));

  let allThere = true;
  for (let i = 0; i < chunks.length; i++) {
    const lesChunk = [...les, ['Chunk', i]] as const;
    let size: number;
    try {
      const st = await fsp.stat(chunks[i]);
      size = st.isFile() ? st.size : -1;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      ctx.log.info('reass-chunk-miss', lesChunk, `${logMsg}: chunk ${i} missing`);
      allThere = false;
      continue;
    }
    const want = expectedChunkSize(meta, i);
    if (size !== want) {
      ctx.log.error('reass-chunk', lesChunk, `invalid size: ${size < 0 ? 'not a regular file' : `${size} bytes, the meta file says ${want}`}`, `${logMsg}: chunk ${i}`);
      allThere = false;
    }
  }
  if (!allThere) return false;

  const badChecksum = (i: number) => ctx.log.error('reass-chunk', [...les, ['Chunk', i]], 'checksum is bad', `${logMsg}: chunk ${i}`);

  if (o.dryRun || o.stdout) {
    let good = true;
    for (let i = 0; i < chunks.length; i++) {
      const sum = await mthOfFile(chunks[i]);
      if (!bytesEqual(sum, meta.checksums[i])) {
        badChecksum(i);
        good = false;
      }
    }
    if (!good) return false;
    if (o.dryRun) {
      ctx.log.info('reass', [['path', metaPath]], logMsg);
      return true;
    }
    for (const c of chunks) {
      const progress = new Progress({ enabled: ctx.progress, label: `reass ${path.basename(c)}`, total: (await fsp.stat(c)).size });
      for await (const b of progress.track(readReused(c))) await writeOut(o.stdout!, b);
    }
    const removed = await removeParts(ctx, metaPath, chunks, o.keep, logMsg);
    logDone(ctx, metaPath, logMsg);
    return removed;
  }

  // Write and hash in one pass; commit only when every chunk matched.
  const tmp = await TmpFile.create(mainDir, { noSync: ctx.spool.noSync });
  ctx.log.debug('reass-tmp-created', [['path', metaPath], ['Tmp', tmp.path]], `${logMsg}: temporary ${tmp.path} created`);
  let good = true;
  try {
    for (let i = 0; i < chunks.length; i++) {
      const mth = new MTH();
      const progress = new Progress({ enabled: ctx.progress, label: `reass ${path.basename(chunks[i])}`, total: expectedChunkSize(meta, i) });
      for await (const b of progress.track(copyChunks(readReused(chunks[i])))) {
        mth.update(b);
        await tmp.write(b);
      }
      if (!bytesEqual(mth.digest(), meta.checksums[i])) {
        badChecksum(i);
        good = false;
      }
    }
    if (tmp.size !== meta.fileSize) {
      ctx.log.error('reass', les, `chunks changed while being read: ${tmp.size} bytes, the meta file says ${meta.fileSize}`, logMsg);
      good = false;
    }
    if (!good) {
      await tmp.abort();
      return false;
    }
    await tmp.commitNoClobber(mainDir, mainName);
  } catch (err) {
    await tmp.abort();
    throw err;
  }
  ctx.log.debug('reass-written', [['path', metaPath], ['Tmp', tmp.path]], `${logMsg}: written`);
  const removed = await removeParts(ctx, metaPath, chunks, o.keep, logMsg);
  logDone(ctx, metaPath, logMsg);
  return removed;
}

async function removeParts(ctx: Context, metaPath: string, chunks: string[], keep: boolean | undefined, logMsg: string): Promise<boolean> {
  if (keep) return true;
  let ok = true;
  for (let i = 0; i < chunks.length; i++) {
    try {
      await fsp.unlink(chunks[i]);
    } catch (err) {
      ctx.log.error('reass-chunk', [['Path', metaPath], ['Chunk', i]], err, `${logMsg}: chunk ${i}`);
      ok = false;
    }
  }
  try {
    await fsp.unlink(metaPath);
  } catch (err) {
    ctx.log.error('reass-removing', [['Path', metaPath]], err, `${logMsg}: removing`);
    ok = false;
  }
  return ok;
}

function logDone(ctx: Context, metaPath: string, logMsg: string): void {
  ctx.log.info('reass', [['Path', metaPath]], `${logMsg}: done`);
}

/** The *.nncp.meta files directly inside `dir`, sorted; an unreadable dir is logged and yields null. */
async function findMetas(ctx: Context, dir: string): Promise<string[] | null> {
  try {
    const names = await fsp.readdir(dir);
    return names.filter((n) => n.endsWith(META_SUFFIX)).sort().map((n) => path.join(dir, n));
  } catch (err) {
    ctx.log.error('reass', [['Path', dir]], err, `Finding .meta in ${dir}`);
    return null;
  }
}

/** What nncp-reass works on: exactly one of a FILE.nncp.meta (or a directory of them), a node's incoming directory, or every node's. */
export interface ReassTarget {
  file?: string;
  /** A neighbour's name or id (-node). */
  node?: string;
  all?: boolean;
}

/**
 * nncp-reass: reassemble FILE.nncp.meta, or every meta file directly in a
 * directory, in -node's incoming directory, or in every node's (-all).
 * True when everything went well (failures are logged). -stdout takes a
 * single meta file.
 */
export async function reassTarget(ctx: Context, target: ReassTarget, o: ReassOptions = {}): Promise<boolean> {
  const given = [target.file !== undefined, Boolean(target.node), Boolean(target.all)].filter(Boolean).length;
  if (given !== 1) throw new PigeonError('EUSAGE', 'give exactly one of FILE.nncp.meta (or a directory), -node NODE and -all');
  let dirs: string[];
  if (target.file !== undefined) {
    const isDir = await fsp.stat(target.file).then((st) => st.isDirectory(), () => false);
    if (!isDir) return reassemble(ctx, target.file, o);
    dirs = [target.file];
  } else if (target.node) {
    const n = node(ctx, target.node);
    if (!n.incoming) throw new PigeonError('EUSAGE', `-node ${target.node}: ${n.name} has no incoming directory configured`);
    dirs = [n.incoming];
  } else {
    const seen = new Set<string>();
    for (const n of ctx.cfg.neighbours.values()) if (n.incoming) seen.add(n.incoming);
    dirs = [...seen];
  }
  let ok = true;
  const metas: string[] = [];
  for (const d of dirs) {
    const found = await findMetas(ctx, d);
    if (found === null) ok = false;
    else metas.push(...found);
  }
  if (metas.length > 1 && o.stdout) throw new PigeonError('EUSAGE', '-stdout takes a single FILE.nncp.meta');
  for (const m of metas) if (!(await reassemble(ctx, m, o))) ok = false;
  return ok;
}
