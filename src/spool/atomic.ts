/**
 * Atomic file creation, as the reference does it: write into a temporary
 * file in the spool's tmp/ directory, fsync it, close it, rename it into
 * place and fsync the destination directory. A reader of the destination
 * directory sees either nothing or the complete file.
 *
 * fsync is skipped when NNCPNOSYNC is set to any non-empty value (the
 * reference's switch) or when the caller passes noSync.
 *
 * Temporary files are named like the reference's: "nncp" followed by hex
 * digits. Nothing cleans tmp/ automatically (neither here nor in the
 * reference); a crashed writer leaves its temporary file there and nowhere
 * else.
 */
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { nativeModule } from '../native.js';

/** True when fsync must be skipped: explicit noSync, or NNCPNOSYNC non-empty. */
export function syncDisabled(noSync?: boolean): boolean {
  return noSync === true || (process.env.NNCPNOSYNC ?? '') !== '';
}

/** fsync a directory so that a rename or creation inside it is durable. */
export async function fsyncDir(dir: string, noSync?: boolean): Promise<void> {
  if (syncDisabled(noSync)) return;
  const fh = await fsp.open(dir, C.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * mkdir -p. New directories get mode 0777 filtered by the process umask, as
 * the reference creates them; with `mode` each directory created here is
 * chmod'ed to exactly that mode (for a configured umask). Fails with ENOTDIR
 * when a path component exists and is not a directory.
 */
export async function ensureDir(dir: string, mode?: number): Promise<void> {
  try {
    const st = await fsp.stat(dir);
    if (st.isDirectory()) return;
    const err = new Error(`${dir}: is not a directory`) as NodeJS.ErrnoException;
    err.code = 'ENOTDIR';
    err.syscall = 'mkdir';
    err.path = dir;
    throw err;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const parent = path.dirname(dir);
  if (parent !== dir) await ensureDir(parent, mode);
  try {
    await fsp.mkdir(dir, 0o777);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return ensureDir(dir, mode);
    throw err;
  }
  if (mode !== undefined) await fsp.chmod(dir, mode);
}

let tmpCounter = 0;

/** A temporary-file name in the reference's style: "nncp" + hex digits. */
function tmpName(): string {
  const ns = BigInt(Date.now()) * 1_000_000n + process.hrtime.bigint() % 1_000_000n;
  const salt = BigInt(process.pid) + BigInt(tmpCounter++) + BigInt(Math.floor(Math.random() * 0x10000)) * 0x100000000n;
  return 'nncp' + (ns + salt).toString(16);
}

export interface TmpFileOptions {
  /** Skip fsync (NNCPNOSYNC in the environment has the same effect). */
  noSync?: boolean;
  /** Exact permission bits for the file; default 0666 filtered by the process umask. */
  mode?: number;
  /** Exact permission bits for directories created on the way (tmp dir, destination dir). */
  dirMode?: number;
}

/** Bytes gathered before one write job, and write jobs allowed in flight at once. */
const BATCH_BYTES = 512 << 10;
const MAX_IN_FLIGHT = 2;

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
export const WRITE_PIECE = overridden ? PIECE_OVERRIDE : 32 << 10;
const FALLBACK_WRITE_PIECE = overridden ? PIECE_OVERRIDE : 128 << 10;

/**
 * Write all of `buf` at `position`, in WRITE_PIECE calls on the thread pool
 * in one job with the native addon, else one fs call per 128 KiB. A
 * failure (full disk) is node's own error for the write that failed.
 */
export async function writeAllAt(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  const mod = nativeModule();
  if (mod) {
    done = await new Promise<number>((resolve) => mod.pwriteAll(fh.fd, buf, position, WRITE_PIECE, (_errno, written) => resolve(written)));
    // On an error, the fs call below meets it again and reports it as node does.
  }
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, Math.min(FALLBACK_WRITE_PIECE, buf.length - done), position + done);
    if (bytesWritten <= 0) throw new Error(`write made no progress at offset ${position + done}`);
    done += bytesWritten;
  }
}

/**
 * A file being written in the temporary directory. Chunks are gathered into
 * batches written at explicit offsets, with up to two batches in
 * flight, so that the producer computes the next batch while the kernel
 * copies the previous one. write() takes ownership of the chunk: the caller
 * must not modify it afterwards. It resolves when the writer has room for
 * more, which gives a producer that awaits it backpressure. A failed write
 * surfaces at the next write() or at commit().
 */
export class TmpFile {
  readonly path: string;
  private fh: FileHandle | null;
  private done = false;
  private written = 0;
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private inFlight: Promise<void>[] = [];
  private failure: unknown = null;
  private readonly opts: TmpFileOptions;

  private constructor(p: string, fh: FileHandle, opts: TmpFileOptions) {
    this.path = p;
    this.fh = fh;
    this.opts = opts;
  }

  /** Create a new, empty temporary file in `tmpDir` (created if missing). */
  static async create(tmpDir: string, opts: TmpFileOptions = {}): Promise<TmpFile> {
    await ensureDir(tmpDir, opts.dirMode);
    for (let attempt = 0; ; attempt++) {
      const p = path.join(tmpDir, tmpName());
      try {
        const fh = await fsp.open(p, C.O_RDWR | C.O_CREAT | C.O_EXCL, 0o666);
        if (opts.mode !== undefined) {
          try {
            await fh.chmod(opts.mode);
          } catch (err) {
            await fh.close().catch(() => {});
            await fsp.unlink(p).catch(() => {});
            throw err;
          }
        }
        return new TmpFile(p, fh, opts);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 16) throw err;
      }
    }
  }

  /** Bytes accepted so far. */
  get size(): number {
    return this.written + this.batchBytes;
  }

  private handle(): FileHandle {
    if (this.fh === null || this.done) throw new Error(`temporary file ${this.path} is already committed or aborted`);
    if (this.failure !== null) throw this.failure;
    return this.fh;
  }

  /** Start writing the gathered batch at its offset. */
  private flushBatch(fh: FileHandle): void {
    if (this.batchBytes === 0) return;
    const buffers = this.batch;
    const position = this.written;
    const total = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.written += total;
    const job = (async () => {
      // One buffer per write job: small ones gathered into a batch are joined first.
      await writeAllAt(fh, buffers.length === 1 ? buffers[0] : Buffer.concat(buffers, total), position);
    })().catch((err) => {
      if (this.failure === null) this.failure = err;
    });
    this.inFlight.push(job);
  }

  private async drain(limit: number): Promise<void> {
    while (this.inFlight.length > limit) await this.inFlight.shift();
    if (this.failure !== null) throw this.failure;
  }

  /** Append a chunk (ownership passes to the writer). */
  async write(chunk: Uint8Array): Promise<void> {
    const fh = this.handle();
    if (chunk.length === 0) return;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= BATCH_BYTES) {
      this.flushBatch(fh);
      await this.drain(MAX_IN_FLIGHT - 1);
    }
  }

  /**
   * Append a chunk the caller will reuse as soon as this resolves (a view
   * of a reused buffer): a small one is copied into the batch, a large one
   * is written out, with what was gathered before it, before this resolves.
   */
  async writeBorrowed(chunk: Uint8Array): Promise<void> {
    const fh = this.handle();
    if (chunk.length < BATCH_BYTES) return this.write(Uint8Array.prototype.slice.call(chunk));
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    this.flushBatch(fh);
    await this.drain(0);
  }

  /** Wait until everything accepted so far is in the kernel. */
  async flush(): Promise<void> {
    this.flushBatch(this.handle());
    await this.drain(0);
  }

  /**
   * fsync, close and rename to `dstPath` (its directory is created if
   * missing), then fsync that directory. An existing `dstPath` is replaced.
   * On failure before the rename the temporary file is removed and nothing
   * appears at `dstPath`.
   */
  async commit(dstPath: string): Promise<void> {
    try {
      await this.flush();
    } catch (err) {
      await this.abort();
      throw err;
    }
    const fh = this.handle();
    this.done = true;
    this.fh = null;
    try {
      if (!syncDisabled(this.opts.noSync)) await fh.sync();
      await fh.close();
    } catch (err) {
      await fh.close().catch(() => {});
      await fsp.unlink(this.path).catch(() => {});
      throw err;
    }
    const dstDir = path.dirname(dstPath);
    try {
      await ensureDir(dstDir, this.opts.dirMode);
      await fsp.rename(this.path, dstPath);
    } catch (err) {
      await fsp.unlink(this.path).catch(() => {});
      throw err;
    }
    await fsyncDir(dstDir, this.opts.noSync);
  }

  /** Close and remove the temporary file; safe to call more than once, and after commit (then a no-op). */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    const fh = this.fh;
    this.fh = null;
    await Promise.allSettled(this.inFlight);
    this.inFlight = [];
    if (fh) await fh.close().catch(() => {});
    await fsp.unlink(this.path).catch(() => {});
  }
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
