/**
 * Online transfers in pieces, on the spool's side: the sync session
 * (src/sp/session.ts) receives and sends packet data only through here
 * (locking, listing and removing packets are Spool's).
 *
 * Receiving a packet of a neighbour's rx queue, chunk by chunk:
 *
 *   rx/<PKT>.part   chunks are written in place at their offsets; its size
 *                   is where a later session resumes (resumeOffset)
 *        │  complete: fsync, close
 *        ├─ hashed as it arrived and the MTH matched ──► rx/<PKT> (commit)
 *        └─ resumed, hash broken, or -nock ──► rx/<PKT>.nock (toNock)
 *   rx/<PKT>.nock   waits for its checksum (check: now, in the background,
 *                   or `pigeon check -nock` later) ──► rx/<PKT>
 *   rx/hdr/<PKT>    written once the packet is in rx/ (unless nohdr)
 *
 * Nothing that was not checksummed reaches rx/<PKT>. A .part whose in-stream
 * checksum mismatched is left in place, as is a .nock that failed its check
 * (the sender keeps its copy: no DONE is owed for either); the session
 * discards them (discard) and fetches the packet again. A check can be
 * interrupted (AbortSignal): the .nock stays, to be checked next time.
 *
 * Sending: TxPacket reads a tx/ packet chunk by chunk from a requested
 * offset.
 *
 * The per-chunk paths (PartialReceive.write, TxPacket.read) are synchronous
 * positioned calls: from and into the page cache they cost less than a
 * round trip through the thread pool, and they allocate nothing.
 */
import fs, { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { base32Encode } from '../codec/base32.js';
import { MTH, type MthProgress } from '../crypto/mth.js';
import { quietly } from '../errors.js';
import { killpoint } from '../killpoint.js';
import { decodeEncHeader, ENC_HEADER_SIZE } from '../packet/header.js';
import { fsyncDir, fsyncOpen, pooled, renameDurably } from './atomic.js';
import { hasRoom } from './space.js';
import { NOCK_SUFFIX, PART_SUFFIX, present, readHead, type Spool } from './spool.js';

/** What the rx queue already holds of a packet: complete, tossed (seen/), or waiting for its checksum. */
export type Holding = 'packet' | 'seen' | 'quarantined' | 'nock';

/** The outcome of a successful check: the packet is now rx/<PKT>. */
export interface Checked {
  size: number;
  /** Writing its hdr/ file failed (the packet itself is in place: an hdr/ file is only a cache). */
  hdrError?: unknown;
}

/** A .nock (or .part) whose bytes do not hash to its packet id: it can only be fetched again. */
export class ChecksumMismatchError extends Error {
  constructor() {
    super('checksum mismatch');
    this.name = 'ChecksumMismatchError';
  }
}

/** Write rx/hdr/<PKT> from the first bytes of rx/<PKT> (nothing with nohdr). */
async function writeRxHdr(spool: Spool, nodeIdB32: string, pktId: string): Promise<void> {
  if (spool.noHdr) return;
  const p = spool.packetPath(nodeIdB32, 'rx', pktId);
  const raw = await readHead(p, ENC_HEADER_SIZE);
  decodeEncHeader(raw, `packet ${p}`);
  await spool.writeHdr(nodeIdB32, 'rx', pktId, raw);
}

/** Bytes [from, to) of the file in 1 MiB chunks; throws the signal's reason once it is aborted. */
async function* readChunks(fh: FileHandle, from: number, to: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let pos = from; pos < to; ) {
    signal?.throwIfAborted();
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, to - pos), pos);
    if (bytesRead === 0) throw new Error(`file ended at byte ${pos} while checksumming it`);
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

/** The partial-transfer side of a spool: per neighbour and packet id. */
export class Partials {
  constructor(readonly spool: Spool) {}

  /** What rx/ already holds of the packet, or null when it holds none of it but perhaps a .part. */
  async holding(nodeIdB32: string, pktId: string): Promise<Holding | null> {
    if (present(this.spool.packetPath(nodeIdB32, 'rx', pktId))) return 'packet';
    if (await this.spool.isSeen(nodeIdB32, pktId)) return 'seen';
    if (await this.spool.isQuarantined(nodeIdB32, pktId)) return 'quarantined';
    if (present(this.spool.nockPath(nodeIdB32, pktId))) return 'nock';
    return null;
  }

  /** Where receiving the packet resumes: the size of its .part (0 without one). */
  async resumeOffset(nodeIdB32: string, pktId: string): Promise<number> {
    try {
      return fs.statSync(this.spool.partPath(nodeIdB32, pktId)).size;
    } catch {
      return 0;
    }
  }

  /** The spool's filesystem has more than `want` bytes free (the reference's check before a FREQ). */
  roomFor(want: number): Promise<boolean> {
    return hasRoom(this.spool.root, want);
  }

  /**
   * Open (creating) the packet's .part to receive it from `offset` on.
   * With `hash`, the data is checksummed as it arrives, so a packet received
   * whole and in order needs no second reading.
   */
  open(nodeIdB32: string, pktId: string, size: number, offset: number, opts: { hash: boolean }): PartialReceive {
    const part = this.spool.partPath(nodeIdB32, pktId);
    return this.receiving(part, fs.openSync(part, C.O_RDWR | C.O_CREAT, 0o666), nodeIdB32, pktId, size, offset, opts);
  }

  /**
   * open, with the creation of the .part on the thread pool: a session's
   * frame loop does not wait there when the filesystem's journal is busy
   * (the session's sending goes on meanwhile).
   */
  async openPooled(nodeIdB32: string, pktId: string, size: number, offset: number, opts: { hash: boolean }): Promise<PartialReceive> {
    const part = this.spool.partPath(nodeIdB32, pktId);
    const fd = await pooled<number>((cb) => fs.open(part, C.O_RDWR | C.O_CREAT, 0o666, cb));
    return this.receiving(part, fd, nodeIdB32, pktId, size, offset, opts);
  }

  private receiving(part: string, fd: number, nodeIdB32: string, pktId: string, size: number, offset: number, opts: { hash: boolean }): PartialReceive {
    let end: number;
    try {
      // By path: Node 20's permission model (the daemon's network child) refuses fchmod.
      if (this.spool.fileMode !== undefined) fs.chmodSync(part, this.spool.fileMode);
      end = fs.fstatSync(fd).size;
    } catch (err) {
      quietly(() => fs.closeSync(fd));
      throw err;
    }
    return new PartialReceive(this.spool, nodeIdB32, pktId, fd, opts.hash ? new MTH({ size, offset }) : null, offset, end);
  }

  /** Ids of .nock files (left by an earlier session, or by -nock) whose header's niceness is <= maxNice. */
  async nocks(nodeIdB32: string, maxNice: number): Promise<string[]> {
    let files;
    try {
      files = await this.spool.partials(nodeIdB32, NOCK_SUFFIX);
    } catch {
      return [];
    }
    const ids: string[] = [];
    for (const f of files) {
      try {
        if (decodeEncHeader(await readHead(f.path, ENC_HEADER_SIZE)).nice <= maxNice) ids.push(f.id);
      } catch {
        // not a readable packet: left for `check -nock` to report
      }
    }
    return ids;
  }

  /**
   * Checksum rx/<PKT>.nock and, when it matches its id, make it rx/<PKT>
   * and write its hdr/ file. `rest` is a hasher already fed with the data
   * from the resume offset on (from PartialReceive.toNock); null: hash the
   * whole file. Throws ChecksumMismatchError ("checksum mismatch"; the .nock
   * stays), the I/O error, or `signal`'s reason when it is aborted (checked
   * every MiB; the .nock stays, to be checked again).
   */
  async check(nodeIdB32: string, pktId: string, rest: MTH | null, opts: { signal?: AbortSignal; onProgress?: MthProgress } = {}): Promise<Checked> {
    const { signal, onProgress } = opts;
    const nock = this.spool.nockPath(nodeIdB32, pktId);
    const fh = await fsp.open(nock, 'r');
    let size: number;
    let digest: Uint8Array;
    try {
      size = (await fh.stat()).size;
      if (rest === null) {
        const mth = new MTH();
        let done = 0;
        for await (const chunk of readChunks(fh, 0, size, signal)) {
          mth.update(chunk);
          done += chunk.length;
          onProgress?.('hash', done, size);
        }
        digest = mth.digest();
      } else {
        await rest.preaddFrom(readChunks(fh, 0, rest.prefixSize, signal));
        digest = rest.digest();
      }
    } finally {
      await fh.close();
    }
    signal?.throwIfAborted();
    if (base32Encode(digest) !== pktId) throw new ChecksumMismatchError();
    await renameDurably(nock, this.spool.packetPath(nodeIdB32, 'rx', pktId), this.spool.noSync);
    try {
      await writeRxHdr(this.spool, nodeIdB32, pktId);
    } catch (err) {
      return { size, hdrError: err };
    }
    return { size };
  }

  /** Remove whatever was partly received of the packet (.part and .nock); missing files are fine. */
  async discard(nodeIdB32: string, pktId: string): Promise<void> {
    for (const p of [this.spool.partPath(nodeIdB32, pktId), this.spool.nockPath(nodeIdB32, pktId)]) {
      await fsp.unlink(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    }
  }

  /**
   * Finish complete receives together (the session hands over those that
   * completed while the previous group was finishing): fsync every .part
   * (in parallel, so that one journal commit can carry several), close it,
   * rename it (rx/<PKT> when it checked out as it arrived, else
   * rx/<PKT>.nock), then fsync rx/ once for all the renames. Nothing is
   * renamed before its bytes are durable, and an outcome says 'packet' or
   * 'nock' only once its name is durable too; a failed step is reported
   * per packet (a failed fsync of rx/ fails every rename of the group).
   * A receive whose in-stream checksum mismatched does not belong here.
   * Kill points (PIGEON_KILLPOINT): sp-rx-synced (every .part of the group
   * fsynced, none renamed), sp-rx-renamed (renamed, rx/ not fsynced),
   * sp-rx-dirsynced (durable, no DONE queued yet).
   */
  async finish(rxs: readonly PartialReceive[]): Promise<Finished[]> {
    const out: Finished[] = rxs.map((rx) => ({ rx, placed: 'packet' }));
    await Promise.all(
      rxs.map(async (rx, i) => {
        try {
          await rx.sync();
        } catch (err) {
          out[i] = { rx, failed: 'sync', err };
        } finally {
          rx.close();
        }
      }),
    );
    killpoint('sp-rx-synced');
    const renamed: number[] = [];
    const dirs = new Set<string>();
    for (let i = 0; i < rxs.length; i++) {
      if (out[i].failed !== undefined) continue;
      try {
        const placed = rxs[i].place();
        out[i] = placed === 'nock' ? { rx: rxs[i], placed, rest: rxs[i].rest } : { rx: rxs[i], placed };
        renamed.push(i);
        dirs.add(this.spool.queueDir(rxs[i].nodeIdB32, 'rx'));
      } catch (err) {
        out[i] = { rx: rxs[i], failed: 'rename', err };
      }
    }
    killpoint('sp-rx-renamed');
    try {
      await Promise.all([...dirs].map((d) => fsyncDir(d, this.spool.noSync)));
    } catch (err) {
      for (const i of renamed) out[i] = { rx: rxs[i], failed: 'rename', err };
    }
    killpoint('sp-rx-dirsynced');
    return out;
  }

  /** Open tx/<PKT> for sending (throws when it is gone). */
  openTx(nodeIdB32: string, pktId: string): TxPacket {
    const fd = fs.openSync(this.spool.packetPath(nodeIdB32, 'tx', pktId), 'r');
    try {
      return new TxPacket(fd, fs.fstatSync(fd).size);
    } catch (err) {
      quietly(() => fs.closeSync(fd));
      throw err;
    }
  }
}

/** What Partials.finish made of a complete receive. */
export type Finished =
  | { rx: PartialReceive; placed: 'packet'; failed?: undefined }
  /** `rest`: what Partials.check needs to finish the checksum (as toNock returns). */
  | { rx: PartialReceive; placed: 'nock'; rest: MTH | null; failed?: undefined }
  /** The .part stays (resumable) when its fsync failed; a failed rename leaves it, or the unsynced name, in place. */
  | { rx: PartialReceive; placed?: undefined; failed: 'sync' | 'rename'; err: unknown };

/** One packet being received into its .part (from Partials.open). */
export class PartialReceive {
  private fd: number | null;
  /** The packet's first bytes, as written from offset 0 in order (its hdr/ file, without reading it back). */
  private readonly head = new Uint8Array(ENC_HEADER_SIZE);
  private headLen = 0;
  /** Where the next in-order byte goes: the running checksum covers everything before it. */
  private hashedTo: number;
  /** How far the .part reaches: its size when opened, grown by every write (end). */
  private reach: number;

  constructor(
    private readonly spool: Spool,
    readonly nodeIdB32: string,
    readonly pktId: string,
    fd: number,
    private hasher: MTH | null,
    offset: number,
    end: number,
  ) {
    this.fd = fd;
    this.hashedTo = offset;
    this.reach = end;
  }

  /** The current end of the .part (where the next in-order chunk goes). */
  get end(): number {
    return this.reach;
  }

  /**
   * Write a chunk in place at its offset. The running checksum goes on only
   * for a chunk at the current end; any other write drops it (the file is
   * then checksummed whole after toNock). Returns true when this write
   * dropped it. Throws on an I/O error (the caller closes).
   */
  write(offset: number, data: Uint8Array): boolean {
    const fd = this.fd;
    if (fd === null) throw new Error(`${this.pktId}${PART_SUFFIX}: written after close`);
    for (let done = 0; done < data.length; ) done += fs.writeSync(fd, data, done, data.length - done, offset + done);
    this.reach = Math.max(this.reach, offset + data.length);
    if (offset === this.headLen && offset < ENC_HEADER_SIZE) {
      const n = Math.min(ENC_HEADER_SIZE - offset, data.length);
      this.head.set(data.subarray(0, n), offset);
      this.headLen += n;
    }
    if (this.hasher === null) return false;
    if (this.hashedTo !== offset) {
      this.hasher = null;
      return true;
    }
    this.hasher.update(data);
    this.hashedTo += data.length;
    return false;
  }

  /** fsync the .part (unless syncing is off): through its descriptor while open, else by its path. */
  async sync(): Promise<void> {
    const part = this.spool.partPath(this.nodeIdB32, this.pktId);
    if (this.fd === null) await fsyncDir(part, this.spool.noSync);
    else await fsyncOpen(this.fd, part, this.spool.noSync);
  }

  /** Close the .part; it stays, to be resumed (idempotent). */
  close(): void {
    const fd = this.fd;
    if (fd !== null) quietly(() => fs.closeSync(fd));
    this.fd = null;
  }

  /**
   * After the last chunk: 'good' or 'bad' when the whole file was hashed as
   * it arrived, 'unchecked' otherwise (resumed, out of order, or no hashing).
   */
  verdict(): 'good' | 'bad' | 'unchecked' {
    if (this.hasher === null || this.hasher.prefixSize !== 0) return 'unchecked';
    return base32Encode(this.hasher.digest()) === this.pktId ? 'good' : 'bad';
  }

  /** Close, and make a 'good' .part rx/<PKT> (its hdr/ file comes with writeHdr). */
  async commit(): Promise<void> {
    this.close();
    if (this.verdict() !== 'good') throw new Error(`${this.pktId}${PART_SUFFIX}: not checksummed, cannot become a packet`);
    await renameDurably(this.spool.partPath(this.nodeIdB32, this.pktId), this.spool.packetPath(this.nodeIdB32, 'rx', this.pktId), this.spool.noSync);
  }

  /**
   * Close, and rename the .part (already fsynced) to rx/<PKT> when it
   * checked out as it arrived, else to rx/<PKT>.nock; the caller fsyncs
   * rx/ (Partials.finish does both for a group).
   */
  place(): 'packet' | 'nock' {
    this.close();
    const verdict = this.verdict();
    const good = verdict === 'good';
    if (verdict === 'bad') throw new Error(`${this.pktId}${PART_SUFFIX}: checksum mismatch, cannot become a packet`);
    fs.renameSync(this.spool.partPath(this.nodeIdB32, this.pktId), good ? this.spool.packetPath(this.nodeIdB32, 'rx', this.pktId) : this.spool.nockPath(this.nodeIdB32, this.pktId));
    return good ? 'packet' : 'nock';
  }

  /** The running hasher of a resumed receive (what Partials.check goes on from), or null: hash the whole file. */
  get rest(): MTH | null {
    return this.hasher;
  }

  /**
   * Write rx/hdr/<PKT> for a committed packet (nothing with nohdr): from
   * the bytes received, on the thread pool, when it was received from its
   * start; else from the file.
   */
  async writeHdr(): Promise<void> {
    if (this.headLen !== ENC_HEADER_SIZE) return writeRxHdr(this.spool, this.nodeIdB32, this.pktId);
    if (this.spool.noHdr) return;
    decodeEncHeader(this.head, `packet ${this.spool.packetPath(this.nodeIdB32, 'rx', this.pktId)}`);
    await this.spool.writeHdr(this.nodeIdB32, 'rx', this.pktId, this.head, { pooled: true });
  }

  /**
   * Close, and make the .part rx/<PKT>.nock. Returns what Partials.check
   * needs to finish its checksum: the running hasher of a resumed receive,
   * or null (hash the whole file).
   */
  async toNock(): Promise<MTH | null> {
    this.close();
    await renameDurably(this.spool.partPath(this.nodeIdB32, this.pktId), this.spool.nockPath(this.nodeIdB32, this.pktId), this.spool.noSync);
    return this.hasher;
  }
}

/** A tx/ packet open for sending (from Partials.openTx). */
export class TxPacket {
  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** Read up to `len` bytes at `pos` into buf[at..]: the count read (0 at the end). */
  read(buf: Uint8Array, at: number, len: number, pos: number): number {
    return fs.readSync(this.fd, buf, at, len, pos);
  }

  close(): void {
    quietly(() => fs.closeSync(this.fd));
  }
}
