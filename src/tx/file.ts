/**
 * Sending files (manual: nncp-file): a regular file, stdin ("-", size
 * unknown, streamed without a temporary copy of the plaintext) or a
 * directory (a PAX archive made on the fly), as one packet or, with
 * `chunked`, as chunk packets DST.nncp.chunkN followed by the meta file
 * DST.nncp.meta; to a neighbour or to a multicast area. Each queued packet
 * gets a "tx" log record as the reference writes it.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { AreaConfig, Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { chunkName, encodeMeta, META_SUFFIX } from '../chunked/meta.js';
import { MTH } from '../crypto/mth.js';
import { PigeonError } from '../errors.js';
import { iBytes } from '../format.js';
import { formatLogRecord, LogFields } from '../log/log.js';
import { encryptedSize, padSizeFor } from '../packet/encrypted.js';
import { MAX_PATH_SIZE, PLAIN_HEADER_SIZE, PktType } from '../packet/header.js';
import { Progress } from '../progress.js';
import { BlockReader, once } from '../stream/blockreader.js';
import { fileFiller, readReused, type FillSource } from '../stream/fileread.js';
import { readStdin } from '../stream/stdin.js';
import { pigeonVersion } from '../version.js';
import { txArea } from './area.js';
import { routeHops } from './route.js';
import { txPacket, TxResult } from './send.js';
import { dirTar } from './tar.js';

export interface TxFileOptions {
  to: Neighbour;
  /** Path of a file or directory, or "-" for stdin. */
  src: string;
  /** Destination path in the recipient's incoming directory; "" = basename of src (+ ".tar" for a directory). */
  dst: string;
  nice: number;
  /** Pad each packet to at least this many bytes. */
  minSize?: number;
  /** Refuse packets bigger than this many bytes. */
  maxSize?: number;
  /** Chunk size in bytes; 0/undefined sends the whole file as one packet. */
  chunked?: number;
  /** Relays overriding the neighbour's configured via (first hop first); [] = direct. */
  via?: Uint8Array[];
  /** What "-" reads (default: standard input, streamed in constant memory). */
  input?: AsyncIterable<Uint8Array>;
  /** Send to this multicast area instead (then `to` is our own node, see selfNeighbour). */
  area?: AreaConfig;
}

const utf8 = new TextEncoder();

/**
 * The target of `file`: NODE:[DST] or area:AREA:[DST], split into the
 * recipient's name as tx/area.ts's recipient() takes it (NODE or
 * area:AREA) and DST ("" for the default).
 */
export function parseFileTarget(target: string): { name: string; dst: string } {
  const colon = target.indexOf(':');
  if (colon < 0) throw new PigeonError('EUSAGE', `${target}: expected NODE:[DST] (a colon after the node name)`);
  const name = target.slice(0, colon);
  const dst = target.slice(colon + 1);
  if (name !== 'area') return { name, dst };
  const c2 = dst.indexOf(':');
  if (c2 < 0) throw new PigeonError('EUSAGE', `${target}: expected area:AREA:[DST]`);
  return { name: `area:${dst.slice(0, c2)}`, dst: dst.slice(c2 + 1) };
}

/**
 * Clean a destination path as the reference does (filepath.Clean) and check
 * it stays inside the recipient's incoming directory: relative, no "..".
 * `what` names the argument in errors.
 */
export function cleanRelPath(p: string, what: string, within = 'the incoming directory'): string {
  if (p === '') throw new PigeonError('EUSAGE', `${what} is empty: give a file name`);
  if (p.includes('\0')) throw new PigeonError('EUSAGE', `${what} ${JSON.stringify(p)} contains a NUL byte`);
  const clean = path.posix.normalize(p).replace(/(.)\/+$/, '$1');
  if (path.posix.isAbsolute(clean)) throw new PigeonError('EUSAGE', `${what} ${p}: absolute paths are refused; give a path relative to ${within}`);
  if (clean === '.' || clean === '..' || clean.startsWith('../')) {
    throw new PigeonError('EUSAGE', `${what} ${p}: leads outside ${within}; use a relative path without ".."`);
  }
  if (utf8.encode(clean).length > MAX_PATH_SIZE) {
    throw new PigeonError('EUSAGE', `${what} ${p}: ${utf8.encode(clean).length} bytes long; a packet's path holds at most ${MAX_PATH_SIZE}`);
  }
  return clean;
}

interface Source {
  stream: AsyncIterable<Uint8Array>;
  /** A regular file sent as one packet is read from this instead, straight into the encryptor's buffers. */
  filler?: FillSource;
  /** Bytes, or 0 when unknown (stdin). */
  size: number;
  archived: boolean;
  /** Release the file descriptor (whether or not the stream was read to the end). */
  close(): Promise<void>;
}

type SourceKind = 'stdin' | 'file' | 'dir';

/** What SRC is, checked before anything is opened or queued. */
async function sourceKind(src: string): Promise<SourceKind> {
  if (src === '-') return 'stdin';
  let st;
  try {
    st = await fsp.stat(src);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PigeonError('ENOTFOUND', `${src}: no such file or directory`, { cause: err });
    if (code === 'EACCES') throw new PigeonError('EIO', `${src}: permission denied`, { cause: err });
    throw err;
  }
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  throw new PigeonError('EUSAGE', `${src}: unsupported file type: only regular files, directories and "-" (stdin) can be sent`);
}

async function openSource(src: string, kind: SourceKind, input?: AsyncIterable<Uint8Array>): Promise<Source> {
  if (kind === 'stdin') return { stream: input ?? readStdin(), size: 0, archived: false, close: async () => {} };
  if (kind === 'dir') {
    const tar = await dirTar(src, `Autogenerated by ${pigeonVersion()}`);
    return { stream: tar.stream, size: tar.size, archived: true, close: async () => void (await tar.stream.return(undefined)) };
  }
  const fh = await fsp.open(src, 'r').catch((err) => {
    throw new PigeonError('EIO', `${src}: cannot open: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  });
  const st = await fh.stat();
  return { stream: readReused(fh, { start: 0 }), filler: fileFiller(fh), size: st.size, archived: false, close: () => fh.close() };
}

/**
 * Record a failed send in the log file as the reference does ("tx" with
 * Err). The error itself is thrown on and printed once by the command, so
 * the record is not echoed on stderr as well.
 */
export function logTxFailure(ctx: Context, fields: LogFields, err: unknown, human: string): void {
  ctx.log.append(formatLogRecord('tx', fields, human, { err }));
}

/** Packet size the reference expects for `dataSize` bytes after the plain header. */
function expectedPacketSize(dataSize: number, minSize: number, wrappers: number): number {
  return encryptedSize(dataSize, padSizeFor(dataSize + PLAIN_HEADER_SIZE, minSize, wrappers));
}

/** Refuse up front what cannot fit: -maxsize, and the free space of the spool's filesystem. */
async function checkSize(ctx: Context, what: string, expected: number, maxSize: number | undefined): Promise<void> {
  if (maxSize !== undefined && maxSize > 0 && expected > maxSize) {
    throw new PigeonError('EUSAGE', `${what}: the packet would be ${expected} bytes, more than the ${maxSize} bytes -maxsize allows`);
  }
  const free = await ctx.spool.freeBytes(); // null (no spool yet, no statfs): let the write itself find out
  if (free !== null && free <= expected) {
    throw new PigeonError('EIO', `${what}: spool ${ctx.spool.root} has ${iBytes(free)} free, not enough for a ${iBytes(expected)} packet`);
  }
}

function fileFields(to: Neighbour, nice: number, src: string, dst: string, size: number, pkt: string) {
  return [
    ['Type', 'file'],
    ['Node', to.idB32],
    ['Nice', nice],
    ['Src', src],
    ['Dst', dst],
    ['Size', size],
    ['Pkt', pkt],
  ] as const;
}

/** Queue one file packet and log it; `logSize` is what the record's Size says (the reference's choice). */
async function sendLogged(
  ctx: Context,
  opts: TxFileOptions,
  dst: string,
  payload: AsyncIterable<Uint8Array> | FillSource,
  total: number | undefined,
  logSize?: number,
  expectedSize?: number,
): Promise<TxResult> {
  const progress = new Progress({ enabled: ctx.progress, label: `Tx ${dst}`, total });
  try {
    const plain = { type: PktType.File, nice: opts.nice, path: utf8.encode(dst) };
    const common = { plain, nice: opts.nice, payload: progress.trackPayload(payload), minSize: opts.minSize, maxSize: opts.maxSize };
    const res = opts.area
      ? await txArea(ctx, { ...common, area: opts.area, expectedSize })
      : await txPacket(ctx, { ...common, to: opts.to, via: opts.via });
    const size = logSize ?? res.payloadSize;
    ctx.log.info('tx', fileFields(opts.to, opts.nice, opts.src, dst, size, res.pktId), `File ${opts.src} (${iBytes(size)}) is sent to ${opts.to.name}:${dst}`);
    return res;
  } catch (err) {
    progress.finish();
    logTxFailure(ctx, fileFields(opts.to, opts.nice, opts.src, dst, 0, ''), err, `File ${opts.src} (${iBytes(0)}) is sent to ${opts.to.name}:${dst}`);
    throw err;
  }
}

/** Bytes `reader` yields next, at most `limit`, fed to `mth` on the way. */
async function* take(reader: BlockReader, limit: number, mth: MTH, count: { n: number }): AsyncGenerator<Uint8Array> {
  let left = limit;
  while (left > 0) {
    const b = await reader.read(Math.min(left, 1 << 20));
    if (b.length === 0) return;
    left -= b.length;
    count.n += b.length;
    mth.update(b);
    yield b;
  }
}

/** Send a file, stdin or directory to a neighbour. Nothing stays queued if it fails. */
export async function txFile(ctx: Context, opts: TxFileOptions): Promise<void> {
  let dst = opts.dst;
  if (dst === '') {
    if (opts.src === '-') throw new PigeonError('EUSAGE', 'reading stdin ("-"): give the destination file name as NODE:DST');
    dst = path.basename(path.resolve(opts.src));
  }
  const layers = wrappers(ctx, opts);
  const kind = await sourceKind(opts.src);
  if (kind === 'dir' && opts.dst === '') dst += '.tar';
  dst = cleanRelPath(dst, 'destination');
  const minSize = opts.minSize ?? 0;
  const chunkSize = opts.chunked ?? 0;
  const source = await openSource(opts.src, kind, opts.input);
  try {
    if (chunkSize <= 0 || (source.size > 0 && source.size <= chunkSize)) {
      const expected = source.size > 0 ? expectedPacketSize(source.size, minSize, layers) : 0;
      if (expected > 0) await checkSize(ctx, opts.src, expected, opts.maxSize);
      await sendLogged(ctx, opts, dst, source.filler ?? source.stream, source.size || undefined, undefined, expected);
      return;
    }
    cleanRelPath(dst + META_SUFFIX, 'destination');
    const biggest = source.size > 0 ? Math.min(source.size, chunkSize) : chunkSize;
    await checkSize(ctx, opts.src, expectedPacketSize(biggest, minSize, layers), opts.maxSize);
    await sendChunked(ctx, opts, dst, source, chunkSize);
  } finally {
    await source.close().catch(() => {});
  }
}

function wrappers(ctx: Context, opts: TxFileOptions): number {
  return routeHops(ctx.cfg, opts.to, opts.via).length + (opts.area ? 1 : 0);
}

async function sendChunked(ctx: Context, opts: TxFileOptions, dst: string, source: Source, chunkSize: number): Promise<void> {
  const reader = new BlockReader(source.stream);
  const queued: TxResult[] = [];
  try {
    const checksums: Uint8Array[] = [];
    let fileSize = 0;
    for (let n = 0; ; n++) {
      const mth = new MTH();
      const count = { n: 0 };
      const name = chunkName(dst, n);
      cleanRelPath(name, 'destination');
      const res = await sendLogged(ctx, opts, name, take(reader, chunkSize, mth, count), chunkSize);
      queued.push(res);
      checksums.push(mth.digest());
      fileSize += count.n;
      if (count.n < chunkSize || (await reader.atEnd())) break;
    }
    const meta = encodeMeta({ fileSize, chunkSize, checksums });
    queued.push(await sendLogged(ctx, opts, dst + META_SUFFIX, once(meta), meta.length, meta.length, expectedPacketSize(meta.length, opts.minSize ?? 0, wrappers(ctx, opts))));
  } catch (err) {
    // Chunks without their meta file are useless to the recipient: take them back.
    for (const r of queued) await ctx.spool.removePacket(r.hop.idB32, 'tx', r.pktId).catch(() => {});
    throw err;
  }
}
