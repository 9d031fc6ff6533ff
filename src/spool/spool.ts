/**
 * The spool: the only owner of the on-disk layout and of durable writes.
 * Paths come from layout.ts (which Spool extends: every path is a method
 * here), durable writes from atomic.ts (TmpFile: temporary file, fsync,
 * rename, directory fsync), locks from lock.ts, free space from space.ts.
 * This class adds what the queues need: committing packets with their
 * hdr/ files, listing, seen/ and area/ markers, removal.
 *
 * Directories are created 0777 and files 0666, less the umask (exactly less
 * the configured umask when one is given). Nothing here reads a payload:
 * listing reads 172 header bytes per packet, from hdr/ when present.
 */
import fs, { constants as C } from 'node:fs';
import { base32Encode } from '../codec/base32.js';
import { errorLine, isMissing } from '../errors.js';
import { decodeEncHeader, ENC_HEADER_SIZE, type EncHeader } from '../packet/header.js';
import { adoptFile, ensureDir, listDir, listDirOrEmpty, pooled, TmpFile, touchMarker, writeAtomic, type AdoptOptions, type TmpFileOptions } from './atomic.js';
import { Trash, TRASH_MIN_BYTES } from './trash.js';
import { isId, partialId, SpoolLayout, type PartialSuffix, type Queue } from './layout.js';
import { lockDir, type LockContext, type SpoolLock } from './lock.js';
import { freeBytes, hasRoom } from './space.js';

export { isId, LOCK_SUFFIX, NOCK_SUFFIX, PART_SUFFIX, partialId, type Queue } from './layout.js';

export interface SpoolOptions {
  root: string;
  /** Configuration's `nohdr`: neither read nor create hdr/ files. */
  noHdr?: boolean;
  /** Skip fsync (NNCPNOSYNC in the environment has the same effect). */
  noSync?: boolean;
  /** Configuration's `umask`: new files get 0666 &~ umask, directories 0777 &~ umask. */
  umask?: number;
}

/** A complete packet waiting in a queue. */
export interface Job {
  /** Packet id: Base32 MTH of the whole file, which is also its name. */
  id: string;
  path: string;
  size: number;
  nice: number;
  /** Base32 node ids from the encrypted header. */
  sender: string;
  recipient: string;
  header: EncHeader;
  /** The 172 header bytes, as in hdr/ files. */
  headerRaw: Uint8Array;
}

/** A file in a queue that looked like a packet but could not be listed. */
export interface Skipped {
  name: string;
  path: string;
  reason: string;
}

/** A .part or .nock file in rx/. */
export interface PartialFile {
  id: string;
  path: string;
  size: number;
}

export interface ListOptions {
  /** Only packets with niceness <= nice (default 255: all). */
  nice?: number;
  /** Called for each packet-named file that had to be skipped. */
  onSkip?: (s: Skipped) => void;
  /** Only packets whose id passes (the others are not even read): a session's rescan skips what it announced. */
  only?: (id: string) => boolean;
}

/**
 * Whether something is at `p` in the spool; any error other than "missing"
 * counts as present, as in the reference. Synchronous: a stat is cheaper
 * than a thread-pool round trip, and it is asked once per packet offered.
 */
export function present(p: string): boolean {
  try {
    // throwIfNoEntry: "missing" (the usual answer) without building an error object; any other error still throws.
    return fs.statSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    return !isMissing(err);
  }
}

/**
 * Read up to `n` bytes from the start of a file. Synchronously (a header
 * is a few hundred bytes: cheaper than a thread-pool round trip per
 * packet; atomic.ts says more).
 */
export async function readHead(p: string, n: number): Promise<Uint8Array> {
  const fd = fs.openSync(p, C.O_RDONLY);
  try {
    const buf = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const bytesRead = fs.readSync(fd, buf, off, n - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    fs.closeSync(fd);
  }
}

export class Spool extends SpoolLayout {
  readonly noHdr: boolean;
  readonly noSync: boolean;
  readonly umask: number | undefined;

  constructor(opts: SpoolOptions) {
    super(opts.root);
    this.noHdr = opts.noHdr ?? false;
    this.noSync = opts.noSync ?? false;
    this.umask = opts.umask;
  }

  /** Exact file mode when a umask is configured, else undefined (process umask applies). */
  get fileMode(): number | undefined {
    return this.umask === undefined ? undefined : 0o666 & ~this.umask;
  }

  get dirMode(): number | undefined {
    return this.umask === undefined ? undefined : 0o777 & ~this.umask;
  }

  // ---- directories, temporary files, locks ----

  async ensureQueue(nodeIdB32: string, xx: Queue): Promise<string> {
    const dir = this.queueDir(nodeIdB32, xx);
    await ensureDir(dir, this.dirMode);
    return dir;
  }

  /** A trash for packets this run removes (trash.ts); empty() it at the run's end. */
  trash(): Trash {
    return new Trash(this.tmpDir(), this.dirMode);
  }

  /** A new temporary file in tmp/, to be committed into a queue (`onStage`, `syncDir` as TmpFile's). */
  tmpFile(opts: Pick<TmpFileOptions, 'onStage' | 'syncDir' | 'pooled'> = {}): Promise<TmpFile> {
    return TmpFile.create(this.tmpDir(), { ...this.writeOptions(), onStage: opts.onStage, syncDir: opts.syncDir, pooled: opts.pooled });
  }

  /** The spool's filesystem (st_dev), read once. */
  private dev: number | undefined;
  /** Our user id, asked once (process.getuid is a system call each time). */
  private uid: number | undefined;

  /**
   * Whether the file open with stats `st` may be taken into a queue by
   * adoptPacket: on the spool's filesystem, ours, and of one name only (no
   * other name could change it after its check).
   */
  canAdopt(st: fs.Stats): boolean {
    this.dev ??= fs.statSync(this.root).dev;
    this.uid ??= process.getuid?.() ?? -1;
    return st.isFile() && st.dev === this.dev && st.nlink === 1 && st.uid === this.uid;
  }

  /**
   * Put the checked file open as `fd` (named `src`, canAdopt) into a queue
   * under `pktId` without copying it: adoptFile through tmp/, with the
   * spool's mode and fsync switch. False when that cannot be done: copy it
   * into a tmpFile instead. Once true, the caller removes `src`.
   */
  adoptPacket(fd: number, src: string, nodeIdB32: string, xx: Queue, pktId: string, opts: Pick<AdoptOptions, 'onStage' | 'syncDir' | 'pooled'> = {}): Promise<boolean> {
    const w = this.writeOptions();
    return adoptFile(fd, src, this.packetPath(nodeIdB32, xx, pktId), { tmpDir: this.tmpDir(), noSync: w.noSync, mode: w.mode, dirMode: w.dirMode, ...opts });
  }

  /**
   * Write a small file of the spool (a delivery record) atomically, through
   * tmp/; with noSync only renamed into place, not fsynced; with noDirSync
   * fsynced but its directory not (TmpFileOptions.noDirSync).
   */
  async writeSmall(dst: string, data: string | Uint8Array, opts: { noSync?: boolean; noDirSync?: boolean } = {}): Promise<void> {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const w = this.writeOptions();
    await writeAtomic(dst, bytes, { tmpDir: this.tmpDir(), ...w, noSync: w.noSync || opts.noSync, noDirSync: opts.noDirSync });
  }

  /** How this spool's files are written: its fsync switch and modes. */
  private writeOptions(): TmpFileOptions {
    return { noSync: this.noSync, mode: this.fileMode, dirMode: this.dirMode };
  }

  /** Whether the spool's filesystem has more than `want` bytes free (the reference's check before taking a packet in). */
  hasRoom(want: number): Promise<boolean> {
    return hasRoom(this.root, want);
  }

  /** Bytes free on the spool's filesystem, or null when it cannot tell. */
  freeBytes(): Promise<number | null> {
    return freeBytes(this.root);
  }

  /** Take a node's rx/tx/toss lock (throws PigeonError ELOCKED when busy). */
  lock(nodeIdB32: string, ctx: LockContext): Promise<SpoolLock> {
    return lockDir(this.root, nodeIdB32, ctx, { umask: this.umask });
  }

  /**
   * Put a finished packet in a queue under its id, then write its hdr/ file
   * (unless noHdr), as the reference does after queueing.
   */
  async commitPacket(tmp: TmpFile, nodeIdB32: string, xx: Queue, pktId: string, headerRaw: Uint8Array): Promise<string> {
    const dst = this.packetPath(nodeIdB32, xx, pktId);
    await ensureDir(this.queueDir(nodeIdB32, xx), this.dirMode);
    await tmp.commit(dst);
    if (!this.noHdr) await this.writeHdr(nodeIdB32, xx, pktId, headerRaw);
    return dst;
  }

  /**
   * Write hdr/<pktId> atomically, without fsync: an hdr/ file is a cache of
   * the packet's first 172 bytes. After a power cut it may be missing or
   * empty (never wrong: renamed into place only when complete), and
   * listing then reads the packet itself and writes it again (readJob).
   * The reference does not fsync it either; it saves two fsyncs a packet
   * (the file and hdr/) on every receipt.
   */
  async writeHdr(nodeIdB32: string, xx: Queue, pktId: string, headerRaw: Uint8Array, opts: Pick<TmpFileOptions, 'pooled'> = {}): Promise<void> {
    if (headerRaw.length !== ENC_HEADER_SIZE) throw new RangeError(`a header is ${ENC_HEADER_SIZE} bytes, got ${headerRaw.length}`);
    await writeAtomic(this.hdrPath(nodeIdB32, xx, pktId), headerRaw, { tmpDir: this.tmpDir(), ...this.writeOptions(), noSync: true, pooled: opts.pooled });
  }

  /**
   * The reference's convenience link `<root>/<name> -> <root>/<NODE>`, made
   * when something is queued for a neighbour. Like the reference, an
   * existing entry is left alone and failures are ignored.
   */
  async linkNeighbour(nodeIdB32: string, name: string): Promise<void> {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) return;
    await pooled<void>((cb) => fs.symlink(this.nodeDir(nodeIdB32), this.nameLinkPath(name), cb)).catch(() => {});
  }

  // ---- listing ----

  /**
   * Complete packets of a queue with niceness <= opts.nice, ordered by
   * niceness (most urgent first), then by id. Files that are not packets
   * (.part, .nock, hdr/, seen/, tmp files, other names) are ignored;
   * packet-named files whose header cannot be read are reported in
   * `skipped` and left in place.
   */
  async scan(nodeIdB32: string, xx: Queue, opts: ListOptions = {}): Promise<{ jobs: Job[]; skipped: Skipped[] }> {
    const maxNice = opts.nice ?? 255;
    const dir = this.queueDir(nodeIdB32, xx);
    const jobs: Job[] = [];
    const skipped: Skipped[] = [];
    const names: string[] = [];
    try {
      for (const name of await listDir(dir)) if (isId(name) && (opts.only?.(name) ?? true)) names.push(name);
    } catch (err) {
      if (isMissing(err)) return { jobs, skipped };
      throw err;
    }
    const BATCH = 32;
    for (let i = 0; i < names.length; i += BATCH) {
      const results = await Promise.all(names.slice(i, i + BATCH).map((n) => this.readJob(nodeIdB32, xx, n)));
      for (const r of results) {
        if (r === null) continue;
        if ('reason' in r) {
          skipped.push(r);
          opts.onSkip?.(r);
        } else if (r.nice <= maxNice) {
          jobs.push(r);
        }
      }
    }
    jobs.sort((a, b) => a.nice - b.nice || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { jobs, skipped };
  }

  /** The jobs of scan(); skipped files go to opts.onSkip. */
  async list(nodeIdB32: string, xx: Queue, opts: ListOptions = {}): Promise<Job[]> {
    return (await this.scan(nodeIdB32, xx, opts)).jobs;
  }

  /** One queue entry: a Job, a Skipped with the reason, or null when it vanished. */
  private async readJob(nodeIdB32: string, xx: Queue, name: string): Promise<Job | Skipped | null> {
    const p = this.packetPath(nodeIdB32, xx, name);
    let size: number;
    try {
      const st = fs.statSync(p);
      if (!st.isFile()) return { name, path: p, reason: 'not a regular file' };
      size = st.size;
    } catch (err) {
      if (isMissing(err)) return null; // removed while we were listing
      return { name, path: p, reason: errorLine(err) };
    }
    let header: EncHeader | null = null;
    let headerRaw: Uint8Array | null = null;
    if (!this.noHdr) {
      try {
        const raw = await readHead(this.hdrPath(nodeIdB32, xx, name), ENC_HEADER_SIZE);
        header = decodeEncHeader(raw, `header file ${this.hdrPath(nodeIdB32, xx, name)}`);
        headerRaw = raw;
      } catch {
        // missing or damaged hdr/ file: read the packet itself and (re)write it below
      }
    }
    if (header === null) {
      try {
        const raw = await readHead(p, ENC_HEADER_SIZE);
        header = decodeEncHeader(raw, `packet ${p}`);
        headerRaw = raw;
      } catch (err) {
        if (isMissing(err)) return null;
        return { name, path: p, reason: errorLine(err) };
      }
      if (!this.noHdr) {
        try {
          await this.writeHdr(nodeIdB32, xx, name, headerRaw);
        } catch {
          // an hdr/ file is only a cache; listing goes on without it
        }
      }
    }
    return {
      id: name,
      path: p,
      size,
      nice: header.nice,
      sender: base32Encode(header.sender),
      recipient: base32Encode(header.recipient),
      header,
      headerRaw: headerRaw!,
    };
  }

  /** rx/ files with the .part (partly received) or .nock (not yet checksummed) suffix. */
  async partials(nodeIdB32: string, suffix: PartialSuffix): Promise<PartialFile[]> {
    const dir = this.queueDir(nodeIdB32, 'rx');
    const out: PartialFile[] = [];
    try {
      for (const name of await listDir(dir)) {
        const id = partialId(name, suffix);
        if (id === null) continue;
        const p = this.partialPath(nodeIdB32, id, suffix);
        try {
          const st = await pooled<fs.Stats>((cb) => fs.stat(p, cb));
          if (st.isFile()) out.push({ id, path: p, size: st.size });
        } catch {
          // vanished meanwhile
        }
      }
    } catch (err) {
      if (isMissing(err)) return out;
      throw err;
    }
    out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out;
  }

  // ---- seen markers and removal ----

  /** Whether rx/seen/<pktId> exists (any error other than "missing" counts as seen, as in the reference). */
  async isSeen(nodeIdB32: string, pktId: string): Promise<boolean> {
    return present(this.seenPath(nodeIdB32, pktId));
  }

  /**
   * Whether rx/quarantine/<pktId> exists: the packet came before and failed
   * verification. Its bytes are named by their checksum, so a new copy is
   * the same bytes: receiving it again would only quarantine it again.
   */
  async isQuarantined(nodeIdB32: string, pktId: string): Promise<boolean> {
    try {
      // Asked once per INFO or medium file: no thread-pool round trip, and no error object built for the usual "absent".
      return fs.lstatSync(this.quarantinePath(nodeIdB32, pktId), { throwIfNoEntry: false }) !== undefined;
    } catch {
      return false;
    }
  }

  /** Create the empty rx/seen/<pktId> marker and make it durable. */
  markSeen(nodeIdB32: string, pktId: string): Promise<void> {
    return this.touch(this.seenPath(nodeIdB32, pktId));
  }

  /** Whether node NODE has seen (or been sent) message MSG of AREA; errors other than "missing" are thrown. */
  async isAreaSeen(nodeIdB32: string, areaIdB32: string, msgHash: string): Promise<boolean> {
    try {
      await pooled<fs.Stats>((cb) => fs.lstat(this.areaSeenPath(nodeIdB32, areaIdB32, msgHash), cb));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  /** Create the empty area/<AREA>/<MSG> marker of a node and make it durable. */
  markAreaSeen(nodeIdB32: string, areaIdB32: string, msgHash: string): Promise<void> {
    return this.touch(this.areaSeenPath(nodeIdB32, areaIdB32, msgHash));
  }

  // ---- markers of automatic ACK packets (tx/ack/) ----

  /** Mark tx/<pktId> of a node as an automatic ACK packet (durable). Written before the packet is committed. */
  markAckPacket(nodeIdB32: string, pktId: string): Promise<void> {
    return this.touch(this.ackMarkPath(nodeIdB32, pktId));
  }

  /** Whether tx/<pktId> is marked as an automatic ACK packet. */
  async isAckPacket(nodeIdB32: string, pktId: string): Promise<boolean> {
    // Once per packet carried: synchronous, and no error object built for the usual "not marked".
    return fs.lstatSync(this.ackMarkPath(nodeIdB32, pktId), { throwIfNoEntry: false }) !== undefined;
  }

  /** Remove an ACK marker (a missing one is fine). */
  async unmarkAckPacket(nodeIdB32: string, pktId: string): Promise<void> {
    await pooled<void>((cb) => fs.unlink(this.ackMarkPath(nodeIdB32, pktId), cb)).catch((err) => {
      if (!isMissing(err)) throw err;
    });
  }

  /**
   * Remove the ACK markers whose packet left tx/ (sent online, carried by
   * nncp-xfer, a run killed between marker and packet or between packet and
   * marker removal). A marker younger than `minAgeMs` is spared: its packet
   * may be about to be committed by a toss running now (the marker is
   * written first, and queueing takes no tx lock). Returns their ids.
   */
  async sweepAckMarks(nodeIdB32: string, minAgeMs = 60_000): Promise<string[]> {
    const names = await listDirOrEmpty(this.ackMarkDir(nodeIdB32));
    const gone: string[] = [];
    for (const name of names) {
      try {
        await pooled<fs.Stats>((cb) => fs.lstat(this.packetPath(nodeIdB32, 'tx', name), cb));
      } catch (err) {
        if (!isMissing(err)) throw err;
        const st = await pooled<fs.Stats>((cb) => fs.lstat(this.ackMarkPath(nodeIdB32, name), cb)).catch(() => null);
        if (st === null || Date.now() - st.mtimeMs < minAgeMs) continue;
        await this.unmarkAckPacket(nodeIdB32, name);
        gone.push(name);
      }
    }
    return gone;
  }

  private touch(p: string): Promise<void> {
    return touchMarker(p, this.writeOptions());
  }

  /**
   * Remove a packet and its hdr/ file (a missing one is fine); with
   * `pooled`, both unlinks on the thread pool (TmpFileOptions.pooled).
   * With `trash`, a packet of TRASH_MIN_BYTES or more is moved there
   * instead (freed after the run: trash.ts), or unlinked when it cannot be.
   * Says whether it went to the trash.
   */
  async remove(job: Pick<Job, 'path'> & { size?: number }, opts: Pick<TmpFileOptions, 'pooled'> & { trash?: Trash } = {}): Promise<'trashed' | 'removed'> {
    const unlink = (p: string): void | Promise<void> => (opts.pooled ? pooled<void>((cb) => fs.unlink(p, cb)) : fs.unlinkSync(p));
    const trashed = opts.trash !== undefined && (job.size ?? 0) >= TRASH_MIN_BYTES && opts.trash.put(job.path);
    if (!trashed) await unlink(job.path);
    try {
      await unlink(this.hdrPathOf(job.path));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    return trashed ? 'trashed' : 'removed';
  }

  /** remove() by id; `pooled` for a session removing packet after packet as DONEs come (an unlink waiting on a busy journal must not hold up its frame loop). */
  async removePacket(nodeIdB32: string, xx: Queue, pktId: string, opts: Pick<TmpFileOptions, 'pooled'> = {}): Promise<void> {
    await this.remove({ path: this.packetPath(nodeIdB32, xx, pktId) }, opts);
  }

}
