/**
 * Durable writes, as the reference makes them: the one temporary-file
 * primitive (TmpFile) every writer uses — the spool's queues and hdr/
 * files, tossed files in incoming/, copies on an xfer medium, reassembled
 * chunked files — and the directory helpers beside it.
 *
 * A temporary file is created exclusively in a given directory under a
 * name prefix followed by hex digits ("nncp" in the spool's tmp/ by
 * default, as the reference names them; "nncpxfer" on a medium), written
 * with backpressure, fsynced, closed, renamed (or, never replacing
 * anything, linked) into place, and its destination directory fsynced. A
 * reader of the destination sees either nothing or the complete file.
 * Optional stage callbacks name each step as it completes.
 *
 * fsync is skipped when NNCPNOSYNC is set to any non-empty value (the
 * reference's switch) or when the caller passes noSync.
 *
 * Nothing cleans tmp/ automatically (neither here nor in the reference); a
 * crashed writer leaves its temporary file there and nowhere else.
 *
 * Metadata calls (stat, mkdir, open, close, rename, link, unlink) are made
 * synchronously: each takes microseconds in the kernel, while the same
 * call on libuv's thread pool costs two thread wake-ups, which on a loaded
 * machine came to milliseconds per packet for a toss or xfer of many small
 * ones (issue 11). Data writes and fsyncs stay on the thread pool: they can
 * take long, and a daemon's other sessions go on meanwhile. The order of
 * every step, and so what a crash can leave, is the same either way.
 *
 * (Longer than 600 lines: TmpFile's stages, its two commit modes and the
 * synchronous and pooled write paths must be read together to see the
 * order a crash can interrupt. The helpers below it (ensureDir, fsyncDir,
 * fsyncAll, writeAllAt) could move to a file of their own.)
 */
import fs, { constants as C, promises as fsp } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { errCode, isMissing, quietly } from '../errors.js';
import { nativeModule } from '../native.js';

/** True when fsync must be skipped: explicit noSync, or NNCPNOSYNC non-empty. */
export function syncDisabled(noSync?: boolean): boolean {
  return noSync === true || (process.env.NNCPNOSYNC ?? '') !== '';
}

/** fsync a directory so that a rename or creation inside it is durable. */
export async function fsyncDir(dir: string, noSync?: boolean): Promise<void> {
  if (syncDisabled(noSync)) return;
  await fsyncPath(dir);
}

/** fsync what `p` names (a file or a directory), on the thread pool; open and close are synchronous. */
async function fsyncPath(p: string): Promise<void> {
  const fd = fs.openSync(p, C.O_RDONLY);
  try {
    await fsyncFd(fd, p);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Node's permission model (the daemon's sandboxed network child,
 * privsep/sandbox.ts) refuses calls on bare descriptors it cannot map to
 * a path (fs.fsync, fs.fchmod); there the path is used instead.
 */
const SANDBOXED = (process as { permission?: unknown }).permission !== undefined;

/** fsync the open descriptor `fd` of `p` on the thread pool (through a handle on `p` when sandboxed). */
async function fsyncFd(fd: number, p: string): Promise<void> {
  if (SANDBOXED) {
    const fh = await fsp.open(p, C.O_RDONLY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    return;
  }
  await new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** fsync a file we hold open as `fd` (`p` names it; used instead when sandboxed), unless syncing is off. */
export async function fsyncOpen(fd: number, p: string, noSync?: boolean): Promise<void> {
  if (syncDisabled(noSync)) return;
  await fsyncFd(fd, p);
}

/** chmod a file we just created and hold open (by path when sandboxed, see SANDBOXED). */
function chmodOpen(fd: number, p: string, mode: number): void {
  if (SANDBOXED) fs.chmodSync(p, mode);
  else fs.fchmodSync(fd, mode);
}

/**
 * fsync many files and directories at once (one journal commit can carry
 * them all): for a writer of many small files, each renamed into place
 * unsynced, that makes them durable together at the end.
 */
export async function fsyncAll(paths: readonly string[], noSync?: boolean): Promise<void> {
  if (syncDisabled(noSync)) return;
  await Promise.all(paths.map((p) => fsyncDir(p, noSync)));
}

/**
 * Directory fsyncs shared by concurrent writers (xfer's window of packets
 * in flight): sync(dir) resolves once an fsync of `dir` that *began after
 * the call* has completed, which is exactly what one writer's own fsync
 * after its rename would give it. While one fsync of `dir` runs, callers
 * wait for the next one, which starts when it ends and serves them all: a
 * window of renames into one directory costs two fsyncs instead of one
 * each, and none is made durable later than with an fsync of its own. An
 * fsync that fails fails every caller it serves.
 */
export class DirSyncGroup {
  private readonly dirs = new Map<string, { running: Promise<void> | null; next: Promise<void> | null }>();

  constructor(private readonly noSync?: boolean) {}

  sync(dir: string): Promise<void> {
    if (syncDisabled(this.noSync)) return Promise.resolve();
    let s = this.dirs.get(dir);
    if (s === undefined) {
      s = { running: null, next: null };
      this.dirs.set(dir, s);
    }
    const state = s;
    if (state.running === null) return this.start(dir, state);
    // The running fsync may have begun before our rename: wait for the next one.
    state.next ??= state.running
      .catch(() => {})
      .then(() => {
        state.next = null;
        // One started meanwhile (after the running one ended, so after our rename) serves as well.
        return state.running ?? this.start(dir, state);
      });
    return state.next;
  }

  private start(dir: string, state: { running: Promise<void> | null }): Promise<void> {
    const p: Promise<void> = fsyncPath(dir).finally(() => {
      if (state.running === p) state.running = null;
    });
    state.running = p;
    return p;
  }
}

/** A node:fs callback call as a promise (fewer allocations than fs/promises and its FileHandle). */
export function pooled<T>(call: (cb: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value as T))));
}

/**
 * The names in directory `dir`, in directory order (as the reference lists
 * a queue; fs.readdir would sort them), read on the thread pool. Not
 * through fs/promises: loading it costs every start that lists a queue
 * some 2 ms.
 */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const ent of await pooled<fs.Dir>((cb) => fs.opendir(dir, cb))) names.push(ent.name);
  return names;
}

/** listDir(), or no names when `dir` does not exist; any other error is thrown. */
export async function listDirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await listDir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/**
 * After `err` from a call that creates an entry in `dir`: when it says a
 * path component is missing or not a directory, make `dir` as ensureDir
 * does (or fail as it does) and make the call again; else rethrow.
 */
async function dirMissing<T>(err: unknown, dir: string, mode: number | undefined, again: () => Promise<T>): Promise<T> {
  const code = errCode(err);
  if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
  ensureDirSync(dir, mode);
  return again();
}

function fsError(code: string, dir: string, message: string): NodeJS.ErrnoException {
  const err = new Error(message) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = 'mkdir';
  err.path = dir;
  return err;
}

/** True for a directory (symlinks followed), false when nothing is there; ENOTDIR for anything else. */
function isDir(dir: string): boolean {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (st === undefined) return false;
  if (st.isDirectory()) return true;
  throw fsError('ENOTDIR', dir, `${dir}: is not a directory`);
}

/**
 * mkdir of exactly one directory, whose parent exists: mode 0777 filtered
 * by the process umask, as the reference creates them, or exactly `mode`
 * (for a configured umask). Returns false, without looking at it, when
 * something already has that name: the caller judges what (ensureDir wants
 * a directory; toss/file also refuses symlinks leading out of incoming/).
 */
export async function makeDir(dir: string, mode?: number): Promise<boolean> {
  return makeDirSync(dir, mode);
}

function makeDirSync(dir: string, mode?: number): boolean {
  try {
    fs.mkdirSync(dir, 0o777);
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw err;
  }
  if (mode !== undefined) fs.chmodSync(dir, mode);
  return true;
}

/**
 * mkdir -p with makeDir's modes: each directory created here gets them.
 * Fails with ENOTDIR when a path component exists and is not a directory.
 */
export async function ensureDir(dir: string, mode?: number): Promise<void> {
  ensureDirSync(dir, mode);
}

export function ensureDirSync(dir: string, mode?: number): void {
  if (isDir(dir)) return;
  const parent = path.dirname(dir);
  if (parent !== dir) ensureDirSync(parent, mode);
  if (makeDirSync(dir, mode)) return;
  // Something appeared meanwhile: fine if it is a directory.
  if (!isDir(dir)) throw fsError('EEXIST', dir, `${dir}: exists and is not a directory (a dangling symbolic link?)`);
}

/**
 * Create the empty file `p` unless it exists (its directory too), with
 * exactly `mode` when given, and make its directory entry durable: the
 * spool's seen/ and area/ markers.
 */
export async function touchMarker(p: string, opts: { mode?: number; dirMode?: number; noSync?: boolean }): Promise<void> {
  const dir = path.dirname(p);
  await ensureDir(dir, opts.dirMode);
  const fd = fs.openSync(p, C.O_WRONLY | C.O_CREAT, 0o666);
  try {
    if (opts.mode !== undefined) chmodOpen(fd, p, opts.mode);
  } finally {
    fs.closeSync(fd);
  }
  await fsyncDir(dir, opts.noSync);
}

/** Rename a finished file within the spool (e.g. .nock to its packet name) and fsync the destination directory. */
export async function renameDurably(src: string, dst: string, noSync?: boolean): Promise<void> {
  fs.renameSync(src, dst);
  await fsyncDir(path.dirname(dst), noSync);
}

/**
 * Write a small record over the start of the file `p` in place (created if
 * missing, its directory too): one open, one write of all of `data` at
 * offset 0, the file's fsync unless `noSync`. Nothing is truncated: what the file held beyond
 * `data.length` stays, so a reader must know where a record ends (one line).
 * For records that a kill may stop only between whole writes: a write of
 * a few bytes to a regular file is not cut short by a signal, and until
 * it is made the file holds the record before (or nothing, when it is
 * new). No temporary file and no rename: three system calls where a
 * durable replacement takes six.
 */
export async function overwriteSmall(p: string, data: Uint8Array, opts: { noSync?: boolean; mode?: number; dirMode?: number }): Promise<void> {
  let fd: number;
  try {
    fd = fs.openSync(p, C.O_WRONLY | C.O_CREAT, 0o666);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') throw err;
    ensureDirSync(path.dirname(p), opts.dirMode);
    fd = fs.openSync(p, C.O_WRONLY | C.O_CREAT, 0o666);
  }
  try {
    if (opts.mode !== undefined) chmodOpen(fd, p, opts.mode);
    for (let done = 0; done < data.length; ) {
      const n = fs.writeSync(fd, data, done, data.length - done, done);
      if (n <= 0) throw new Error(`write made no progress at offset ${done}`);
      done += n;
    }
    if (!syncDisabled(opts.noSync)) await fsyncFd(fd, p);
  } finally {
    fs.closeSync(fd);
  }
}

/** The reference's temporary-file prefix. */
const TMP_PREFIX = 'nncp';

let tmpCounter = 0;

/** A temporary-file name in the reference's style: `prefix` + hex digits. */
export function tmpName(prefix: string): string {
  const ns = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
  const salt = BigInt(process.pid) + BigInt(tmpCounter++) + BigInt(Math.floor(Math.random() * 0x10000)) * 0x100000000n;
  return prefix + (ns + salt).toString(16);
}

/**
 * The steps of making a temporary file durable, each reported when done:
 * all its bytes handed to the kernel; fsynced (or fsync skipped); closed;
 * given its final name (renamed, or linked when nothing may be replaced);
 * that name's directory fsynced (or skipped).
 */
export type WriteStage = 'written' | 'synced' | 'closed' | 'renamed' | 'dirsynced';

export interface TmpFileOptions {
  /** Skip fsync (NNCPNOSYNC in the environment has the same effect). */
  noSync?: boolean;
  /** Exact permission bits for the file; default 0666 filtered by the process umask. */
  mode?: number;
  /** Exact permission bits for directories created on the way (tmp dir, destination dir). */
  dirMode?: number;
  /**
   * Fsync the file but not the directory it is placed in: the caller makes
   * that entry durable with a later fsync on the same filesystem (one
   * journal commit carries both), e.g. a delivery record followed by the
   * delivery itself.
   */
  noDirSync?: boolean;
  /**
   * Fsync the destination directory through this instead of an fsync of
   * its own (DirSyncGroup.sync: shared by a window of concurrent writers).
   */
  syncDir?: (dir: string) => Promise<void>;
  /**
   * Make the metadata calls (open, the write of a small file, close,
   * rename) on the thread pool too: for a writer with a window of files in
   * flight (xfer), whose main thread goes on with the next file while the
   * kernel works on this one on the second core. Same steps, same order.
   */
  pooled?: boolean;
  /** Start of the temporary file's name, hex digits follow (default TMP_PREFIX, "nncp"). */
  prefix?: string;
  /**
   * Told each WriteStage as it completes (kill points for crash tests,
   * failure attribution for logs). A callback that throws fails the write
   * there: before "renamed" the temporary file is then removed.
   */
  onStage?: (stage: WriteStage) => void;
}

/** Bytes gathered before one write job, and write jobs allowed in flight at once. */
const BATCH_BYTES = 512 << 10;
/**
 * A whole file of at most this many bytes, still all in its batch when it
 * is sealed, is written synchronously (one write(2) of a few KiB beats a
 * thread-pool round trip; small packets and delivered small files).
 */
const SYNC_WRITE_BYTES = 64 << 10;
const MAX_IN_FLIGHT = 2;
/**
 * A file that will be fsynced is also fdatasynced in the background each
 * time this many more bytes have been written (TmpFile.syncBehind). On
 * these machines a flush costs in proportion to what it carries (measured
 * on 256 MiB: one fsync at the end 0.13-0.18 s even with the pages already
 * handed to the disk, against 0.00 s after flushes every 64 MiB), so the
 * cost moves off the end of the write, where the caller waits for it, to
 * while the producer still computes.
 */
const SYNC_BEHIND_BYTES = 32 << 20;

/**
 * Bytes per write(2). The page cache sizes its folios by the write's
 * length, and on virtual machines that hand free memory back to their host
 * (free page reporting) a folio from returned memory faults on the host
 * page by page. Folios of up to 32 KiB (order 3) come from per-CPU lists
 * of recently freed pages, which are never returned; larger ones come from
 * the buddy allocator, which is. Measured here on 1 GiB: 2 MiB writes cost
 * 0.7-2.5 s of kernel time, 128 KiB ones 0.2-1.3 s, and `xfer -rx` after
 * other big transfers took a median 1.4 s with 32 KiB writes against 2.3 s
 * with 128 KiB (the reference copies in 32 KiB writes too). With the native
 * addon the pieces cost one system call each on the thread pool; without
 * it each is a promise round trip, so the fallback uses 128 KiB.
 * PIGEON_WRITE_PIECE overrides both (for measurements).
 */
const PIECE_OVERRIDE = Number(process.env.PIGEON_WRITE_PIECE);
const overridden = Number.isInteger(PIECE_OVERRIDE) && PIECE_OVERRIDE > 0 && PIECE_OVERRIDE <= 1 << 30;
const WRITE_PIECE = overridden ? PIECE_OVERRIDE : 32 << 10;
const FALLBACK_WRITE_PIECE = overridden ? PIECE_OVERRIDE : 128 << 10;

/**
 * Write all of `buf` at `position`, in WRITE_PIECE calls on the thread pool
 * in one job with the native addon (when it is more than one piece), else
 * one fs call per 128 KiB. A
 * failure (full disk) is node's own error for the write that failed.
 *
 * With `writeback` (a file that will be fsynced), the native job then asks
 * the kernel to start writing the range to disk, without waiting for it
 * (Linux sync_file_range): the disk works while the producer computes the
 * rest, and the final fsync finds most pages clean instead of writing them
 * all then. Without the addon, or elsewhere, the hint is skipped.
 */
export async function writeAllAt(fd: number, buf: Uint8Array, position: number, writeback = false): Promise<void> {
  let done = 0;
  // One piece is one fs call either way: no need to load (and verify) the addon for it.
  const mod = buf.length > WRITE_PIECE ? nativeModule() : null;
  if (mod) {
    done = await new Promise<number>((resolve) => mod.pwriteAll(fd, buf, position, WRITE_PIECE, writeback, (_errno, written) => resolve(written)));
    // On an error, the fs call below meets it again and reports it as node does.
  }
  while (done < buf.length) {
    const bytesWritten = await new Promise<number>((resolve, reject) =>
      fs.write(fd, buf, done, Math.min(FALLBACK_WRITE_PIECE, buf.length - done), position + done, (err, n) => (err ? reject(err) : resolve(n))),
    );
    if (bytesWritten <= 0) throw new Error(`write made no progress at offset ${position + done}`);
    done += bytesWritten;
  }
}

/**
 * A file being written under a temporary name. Chunks are gathered into
 * batches written at explicit offsets, with up to two batches in flight,
 * so that the producer computes the next batch while the kernel copies the
 * previous one. write() takes ownership of the chunk: the caller must not
 * modify it afterwards. It resolves when the writer has room for more,
 * which gives a producer that awaits it backpressure. A failed write
 * surfaces at the next write() or at flush(), seal() or commit().
 *
 * Life: create → write… → seal (written, fsynced, closed) → commit
 * (renamed into place) or commitNoClobber (linked under a free name), then
 * the directory fsynced. Any failure before the final name exists removes
 * the temporary file; abort() does so on request.
 */
export class TmpFile {
  readonly path: string;
  private fd: number | null;
  /** open: accepts writes; sealed: complete under its temporary name; done: placed or removed. */
  private state: 'open' | 'sealed' | 'done' = 'open';
  private written = 0;
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private inFlight: Promise<void>[] = [];
  private failure: unknown = null;
  private readonly opts: TmpFileOptions;
  /** The file will be fsynced when sealed: start the disk on each batch as it is written (writeAllAt). */
  private readonly writeback: boolean;
  /** With writeback: the background fdatasync running (syncBehind), and where the last one started. */
  private behind: Promise<void> | null = null;
  private behindAt = 0;

  private constructor(p: string, fd: number, opts: TmpFileOptions) {
    this.path = p;
    this.fd = fd;
    this.opts = opts;
    this.writeback = !syncDisabled(opts.noSync);
  }

  /**
   * Create a new, empty file named opts.prefix (default "nncp") + hex
   * digits in `dir` (created if missing), exclusively.
   */
  static async create(dir: string, opts: TmpFileOptions = {}): Promise<TmpFile> {
    // Pooled (a window of files into the same directories): the directory is made only when the open says it is
    // missing (dirMissing), sparing a stat, and its four Date objects, per file.
    if (!opts.pooled) ensureDirSync(dir, opts.dirMode);
    const prefix = opts.prefix ?? TMP_PREFIX;
    for (let attempt = 0; ; attempt++) {
      const p = path.join(dir, tmpName(prefix));
      try {
        const flags = C.O_RDWR | C.O_CREAT | C.O_EXCL;
        const open = () => pooled<number>((cb) => fs.open(p, flags, 0o666, cb));
        const fd = opts.pooled ? await open().catch((err) => dirMissing(err, dir, opts.dirMode, open)) : fs.openSync(p, flags, 0o666);
        if (opts.mode !== undefined) {
          try {
            chmodOpen(fd, p, opts.mode);
          } catch (err) {
            quietly(() => fs.closeSync(fd));
            quietly(() => fs.unlinkSync(p));
            throw err;
          }
        }
        return new TmpFile(p, fd, opts);
      } catch (err) {
        if (errCode(err) !== 'EEXIST' || attempt >= 16) throw err;
      }
    }
  }

  /** Bytes accepted so far. */
  get size(): number {
    return this.written + this.batchBytes;
  }

  private handle(): number {
    if (this.fd === null || this.state !== 'open') throw new Error(`temporary file ${this.path} is already committed or aborted`);
    if (this.failure !== null) throw this.failure;
    return this.fd;
  }

  /** Start writing the gathered batch at its offset. */
  private flushBatch(fd: number): void {
    if (this.batchBytes === 0) return;
    const buffers = this.batch;
    const position = this.written;
    const total = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.written += total;
    const job = (async () => {
      // One buffer per write job: small ones gathered into a batch are joined first.
      await writeAllAt(fd, buffers.length === 1 ? buffers[0] : Buffer.concat(buffers, total), position, this.writeback);
      this.syncBehind(fd, position + total);
    })().catch((err) => {
      if (this.failure === null) this.failure = err;
    });
    this.inFlight.push(job);
  }

  /**
   * `end` bytes are in the kernel: with writeback, and SYNC_BEHIND_BYTES
   * more than at the last one, start an fdatasync on the thread pool, not
   * awaited here (seal and abort wait for it). Its failure fails the file:
   * the kernel reports a write error to one fsync only.
   */
  private syncBehind(fd: number, end: number): void {
    // Not once abort() has let go of the descriptor (it may be closed and reused).
    if (!this.writeback || this.fd === null || this.behind !== null || end - this.behindAt < SYNC_BEHIND_BYTES) return;
    this.behindAt = end;
    this.behind = pooled<void>((cb) => fs.fdatasync(fd, cb)).then(
      () => void (this.behind = null),
      (err) => {
        this.behind = null;
        if (this.failure === null) this.failure = err;
      },
    );
  }

  private async drain(limit: number): Promise<void> {
    while (this.inFlight.length > limit) await this.inFlight.shift();
    if (this.failure !== null) throw this.failure;
  }

  /** Append a chunk (ownership passes to the writer). */
  async write(chunk: Uint8Array): Promise<void> {
    const fd = this.handle();
    if (chunk.length === 0) return;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= BATCH_BYTES) {
      this.flushBatch(fd);
      await this.drain(MAX_IN_FLIGHT - 1);
    }
  }

  /**
   * Append a chunk the caller will reuse as soon as this resolves (a view
   * of a reused buffer): a small one is copied into the batch, a large one
   * is written out, with what was gathered before it, before this resolves.
   */
  async writeBorrowed(chunk: Uint8Array): Promise<void> {
    const fd = this.handle();
    if (chunk.length < BATCH_BYTES) return this.write(Uint8Array.prototype.slice.call(chunk));
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    this.flushBatch(fd);
    await this.drain(0);
  }

  /**
   * Write `chunk` at `position` straight away, bypassing the batches, for
   * a writer that schedules its own buffers (xfer's copy keeps one write in
   * flight while it reads the next chunk). Resolves once the chunk is in
   * the kernel, when the caller may reuse it; its failure is the caller's
   * to see. Not to be mixed with write() on the same file.
   */
  writeAt(chunk: Uint8Array, position: number): Promise<void> {
    const fd = this.handle();
    if (this.batchBytes !== 0 || this.inFlight.length !== 0) throw new Error(`temporary file ${this.path}: writeAt after write`);
    const end = position + chunk.length;
    if (end > this.written) this.written = end;
    return writeAllAt(fd, chunk, position, this.writeback).then(() => this.syncBehind(fd, end));
  }

  /** Wait until everything accepted so far is in the kernel. */
  async flush(): Promise<void> {
    const fd = this.handle();
    if (!this.writeSmallNow(fd)) this.flushBatch(fd);
    await this.drain(0);
  }

  /**
   * A small file whose bytes are all still in the batch: write them here
   * and now (SYNC_WRITE_BYTES). False when that is not the case.
   */
  private writeSmallNow(fd: number): boolean {
    if (this.inFlight.length !== 0 || this.written !== 0 || this.batchBytes > SYNC_WRITE_BYTES) return false;
    if (this.batchBytes === 0) return true;
    const buf = this.batch.length === 1 ? this.batch[0] : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.written = this.batchBytes;
    this.batchBytes = 0;
    try {
      for (let done = 0; done < buf.length; ) {
        const n = fs.writeSync(fd, buf, done, buf.length - done, done);
        if (n <= 0) throw new Error(`write made no progress at offset ${done}`);
        done += n;
      }
    } catch (err) {
      if (this.failure === null) this.failure = err;
      throw err;
    }
    return true;
  }

  private stage(s: WriteStage): void {
    this.opts.onStage?.(s);
  }

  /**
   * Finish the file under its temporary name: everything written, fsynced
   * (unless disabled), closed. On failure the temporary file is removed.
   * commit() and commitNoClobber() seal first when the caller has not.
   */
  async seal(): Promise<void> {
    if (this.state === 'sealed') return;
    let fd: number | null = null;
    try {
      fd = this.handle();
      this.state = 'sealed';
      if (this.opts.pooled || !this.writeSmallNow(fd)) this.flushBatch(fd);
      await this.drain(0);
      await this.behind;
      if (this.failure !== null) throw this.failure;
      this.stage('written');
      if (!syncDisabled(this.opts.noSync)) {
        await fsyncFd(fd, this.path);
      }
      this.stage('synced');
      this.fd = null;
      const open = fd;
      if (this.opts.pooled) await pooled<void>((cb) => fs.close(open, cb));
      else fs.closeSync(open);
      this.stage('closed');
    } catch (err) {
      if (fd !== null && this.fd === null) {
        const f = fd;
        quietly(() => fs.closeSync(f)); // close failed or was done
      }
      await this.abort();
      throw err;
    }
  }

  /** After the file got its final name: fsync that directory. */
  private async placed(dir: string): Promise<void> {
    this.state = 'done';
    this.stage('renamed');
    if (!(this.opts.noSync || this.opts.noDirSync)) {
      if (this.opts.syncDir) {
        if (!syncDisabled()) await this.opts.syncDir(dir);
      } else await fsyncDir(dir);
    }
    this.stage('dirsynced');
  }

  /**
   * Seal, rename to `dstPath` (its directory is created if missing), then
   * fsync that directory. An existing `dstPath` is replaced. On failure
   * before the rename the temporary file is removed and nothing appears at
   * `dstPath`.
   */
  async commit(dstPath: string): Promise<void> {
    await this.seal();
    const dstDir = path.dirname(dstPath);
    try {
      if (this.opts.pooled) {
        const rename = () => pooled<void>((cb) => fs.rename(this.path, dstPath, cb));
        await rename().catch((err) => dirMissing(err, dstDir, this.opts.dirMode, rename));
      } else {
        ensureDirSync(dstDir, this.opts.dirMode);
        fs.renameSync(this.path, dstPath);
      }
    } catch (err) {
      await this.abort();
      throw err;
    }
    await this.placed(dstDir);
  }

  /**
   * Seal, then give the file the first free name among NAME, NAME.0,
   * NAME.1, … in `dir` (the directory it was created in: the same
   * filesystem) without ever replacing an entry, and fsync `dir`. Hard
   * linking makes the check and the creation one atomic step; on a
   * filesystem without hard links it is a check, then a rename. Returns
   * the name used. On failure the temporary file is removed.
   */
  async commitNoClobber(dir: string, name: string): Promise<string> {
    await this.seal();
    let used: string;
    try {
      used = await linkNoClobber(this.path, dir, name);
    } catch (err) {
      await this.abort();
      throw err;
    }
    await this.placed(dir);
    return used;
  }

  /** Close and remove the temporary file; safe to call more than once, and after commit (then a no-op). */
  async abort(): Promise<void> {
    if (this.state === 'done') return;
    this.state = 'done';
    const fd = this.fd;
    this.fd = null;
    await Promise.allSettled([...this.inFlight, this.behind]);
    this.inFlight = [];
    if (fd !== null) quietly(() => fs.closeSync(fd));
    quietly(() => fs.unlinkSync(this.path));
  }
}

/** The longest file name (in bytes) the filesystems we write to accept. */
export const NAME_MAX = 255;

/** The longest prefix of `s` that takes at most `maxBytes` bytes of UTF-8, whole characters only. */
function utf8Prefix(s: string, maxBytes: number): string {
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (used + n > maxBytes) break;
    out += ch;
    used += n;
  }
  return out;
}

/**
 * `name` + `suffix` (".0", ".1", …), shortened to fit NAME_MAX bytes when
 * it would not: the suffix and the name's extension stay, the part before
 * the extension is cut, never inside a multi-byte character. A name whose
 * extension leaves no room is cut as a whole.
 */
export function suffixedName(name: string, suffix: string): string {
  const full = name + suffix;
  if (Buffer.byteLength(full) <= NAME_MAX) return full;
  const room = NAME_MAX - Buffer.byteLength(suffix);
  const dot = name.lastIndexOf('.');
  if (dot > 0) {
    const ext = name.slice(dot);
    const stem = utf8Prefix(name.slice(0, dot), room - Buffer.byteLength(ext));
    if (stem !== '') return stem + ext + suffix;
  }
  return utf8Prefix(name, room) + suffix;
}

/** The names commitNoClobber tries in turn: NAME, NAME.0, NAME.1, … (each fitted to NAME_MAX). */
export function noClobberName(name: string, i: number): string {
  return i < 0 ? name : suffixedName(name, `.${i}`);
}

/** An error about placing a file, naming the destination (not the temporary file it came from). */
function aboutDestination(err: unknown, dst: string): unknown {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    e.path = dst;
    delete e.dest;
    e.message = `${e.code}: ${e.message.split(':').slice(1).join(':').split(',')[0].trim()}, ${e.syscall ?? 'link'} '${dst}'`;
  }
  return e;
}

/** commitNoClobber's placement: `tmpPath` ends up under the first free name, which is returned. */
async function linkNoClobber(tmpPath: string, dir: string, name: string): Promise<string> {
  for (let i = -1; ; i++) {
    const candidate = noClobberName(name, i);
    const dst = path.join(dir, candidate);
    try {
      fs.linkSync(tmpPath, dst);
    } catch (err) {
      const code = errCode(err);
      if (code === 'EEXIST') continue;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') {
        // No hard links on this filesystem: check, then rename (not atomic against a racing writer).
        try {
          fs.lstatSync(dst);
          continue;
        } catch (e) {
          if (errCode(e) !== 'ENOENT') throw aboutDestination(e, dst);
        }
        try {
          fs.renameSync(tmpPath, dst);
        } catch (e) {
          throw aboutDestination(e, dst);
        }
        return candidate;
      }
      throw aboutDestination(err, dst);
    }
    fs.unlinkSync(tmpPath);
    return candidate;
  }
}

const C_ERRNO = osConstants.errno;

/** The steps of adoptFile, each reported when done. */
export type AdoptStage = 'linked' | 'synced' | 'renamed' | 'dirsynced';

export interface AdoptOptions extends Pick<TmpFileOptions, 'noSync' | 'mode' | 'dirMode' | 'syncDir' | 'pooled'> {
  /** Directory for the temporary link: the spool's tmp/, or the destination's own directory. */
  tmpDir: string;
  /** The temporary link's name prefix (default "nncp", as TmpFile's). */
  prefix?: string;
  /**
   * `src` is ours and no one else changes it (a queued packet under its
   * lock): when nothing is named `dstPath` yet, link it straight there,
   * without the temporary name and its check (only 'renamed' and
   * 'dirsynced' are reported).
   */
  straight?: boolean;
  /** Link the file held through the native addon when there is one (default true; 'linked' is then not reported). */
  held?: boolean;
  onStage?: (stage: AdoptStage) => void;
}

/** Why a hard link may be refused where a copy would do: another filesystem, none supported, not allowed, too many, gone. */
const LINK_REFUSED = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOENT']);

/**
 * Give the file held open as `fd`, named `src`, the name `dstPath` without
 * copying its bytes. With `straight`, `src` is linked as `dstPath` when that
 * name is free (linkStraight). Else, with the native addon (and `held`),
 * the very file held is linked as `dstPath` at once (linkHeld). Failing
 * those, or when something is named `dstPath` already: hard-link `src` to
 * a temporary name in `tmpDir`, check that the link is the very file `fd`
 * holds (`src` may name another one since it was opened), give it `mode`
 * if set, fsync it, rename it to `dstPath` (replacing an entry there),
 * fsync that directory. `src` keeps its name: the caller removes it once
 * this resolves, and that unlink then frees nothing. Returns false,
 * leaving nothing behind, when the link cannot be made (LINK_REFUSED) or
 * is another file: copy it instead. Throws on any other failure, also
 * leaving nothing behind.
 */
export async function adoptFile(fd: number, src: string, dstPath: string, opts: AdoptOptions): Promise<boolean> {
  if (opts.straight) {
    const straight = await linkStraight(fd, src, dstPath, opts);
    if (straight !== 'taken') return straight === 'linked';
  } else if (opts.held !== false && (await linkHeld(fd, src, dstPath, opts))) return true;
  const tmp = path.join(opts.tmpDir, tmpName(opts.prefix ?? TMP_PREFIX));
  try {
    try {
      fs.linkSync(src, tmp);
    } catch (err) {
      // No tmpDir yet (or `src` gone: then again).
      if (errCode(err) !== 'ENOENT') throw err;
      ensureDirSync(opts.tmpDir, opts.dirMode);
      fs.linkSync(src, tmp);
    }
  } catch (err) {
    if (LINK_REFUSED.has(errCode(err) ?? '')) return false;
    throw err;
  }
  let renamed = false;
  try {
    const held = fs.fstatSync(fd);
    const linked = fs.lstatSync(tmp);
    if (linked.ino !== held.ino || linked.dev !== held.dev) return false;
    if (opts.mode !== undefined) chmodOpen(fd, tmp, opts.mode);
    opts.onStage?.('linked');
    if (!syncDisabled(opts.noSync)) await fsyncFd(fd, tmp);
    opts.onStage?.('synced');
    const dstDir = path.dirname(dstPath);
    if (opts.pooled) {
      const rename = () => pooled<void>((cb) => fs.rename(tmp, dstPath, cb));
      await rename().catch((err) => dirMissing(err, dstDir, opts.dirMode, rename));
    } else {
      ensureDirSync(dstDir, opts.dirMode);
      fs.renameSync(tmp, dstPath);
    }
    renamed = true;
    opts.onStage?.('renamed');
    return await adopted(dstPath, opts);
  } finally {
    if (!renamed) quietly(() => fs.unlinkSync(tmp));
  }
}

/**
 * adoptFile with `straight`: 'linked' once `src` is linked as `dstPath`
 * (fsynced, then its directory); 'taken' when something has that name
 * already; 'refused' for the LINK_REFUSED errors (copy it).
 */
async function linkStraight(fd: number, src: string, dstPath: string, opts: AdoptOptions): Promise<'linked' | 'taken' | 'refused'> {
  try {
    fs.linkSync(src, dstPath);
  } catch (err) {
    const code = errCode(err) ?? '';
    if (code === 'EEXIST') return 'taken';
    if (LINK_REFUSED.has(code)) return 'refused';
    throw err;
  }
  // Its bytes were durable when queued; with NNCPNOSYNC then, they are now, before the new name is.
  if (!syncDisabled(opts.noSync)) await fsyncFd(fd, src);
  opts.onStage?.('renamed');
  await adopted(dstPath, opts);
  return 'linked';
}

/**
 * adoptFile with the native addon: link the very file `fd` holds as
 * `dstPath` (no temporary name, nothing to check). False when that is not
 * to be had (no addon, something named `dstPath` already, another
 * filesystem…): the temporary name's way then decides.
 */
async function linkHeld(fd: number, src: string, dstPath: string, opts: AdoptOptions): Promise<boolean> {
  const mod = nativeModule();
  if (mod === null) return false;
  if (opts.mode !== undefined) chmodOpen(fd, src, opts.mode);
  if (!syncDisabled(opts.noSync)) await fsyncFd(fd, src);
  opts.onStage?.('synced');
  let err = mod.linkFd(fd, dstPath);
  if (err === C_ERRNO.ENOENT) {
    ensureDirSync(path.dirname(dstPath), opts.dirMode);
    err = mod.linkFd(fd, dstPath);
  }
  if (err !== 0) return false;
  opts.onStage?.('renamed');
  return adopted(dstPath, opts);
}

/** adoptFile's last step: fsync the directory of the new name. */
async function adopted(dstPath: string, opts: AdoptOptions): Promise<true> {
  const dstDir = path.dirname(dstPath);
  if (!syncDisabled(opts.noSync)) await (opts.syncDir ? opts.syncDir(dstDir) : fsyncDir(dstDir));
  opts.onStage?.('dirsynced');
  return true;
}

export interface WriteAtomicOptions extends TmpFileOptions {
  /** Directory for the temporary file: the spool's tmp/ (same filesystem as dstPath). */
  tmpDir: string;
}

/**
 * Write `source` to `dstPath` atomically. Returns the number of bytes
 * written. If the source throws, or any write fails, the temporary file is
 * removed, nothing appears at `dstPath`, and the error is rethrown.
 */
export async function writeAtomic(
  dstPath: string,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array,
  opts: WriteAtomicOptions,
): Promise<number> {
  const tmp = await TmpFile.create(opts.tmpDir, opts);
  try {
    if (source instanceof Uint8Array) {
      await tmp.write(source);
    } else {
      for await (const chunk of source) await tmp.write(chunk);
    }
    await tmp.commit(dstPath);
    return tmp.size;
  } catch (err) {
    await tmp.abort();
    throw err;
  }
}
