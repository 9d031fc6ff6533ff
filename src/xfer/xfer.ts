/**
 * `pigeon xfer` (nncp-xfer): carry packets on a removable medium (or any
 * directory: a USB stick, a Syncthing folder, an NFS share).
 *
 * The medium is laid out as the reference lays it out:
 *
 *   DIR/<RECIPIENT id>/<SENDER id>/<PACKET id>
 *
 * -tx: for each neighbour N (or only -node), with N's tx lock held, copy
 *   N's queued packets (niceness <= -nice) to DIR/N/<our id>/. DIR/N must
 *   exist unless -mkdir (which creates it, but never DIR itself);
 *   DIR/N/<our id> is always created when missing. A copy is written to
 *   "nncpxfer<hex>" in the destination directory, fsynced, renamed to the
 *   packet id and the directory fsynced (the spool's TmpFile), so a reader
 *   never sees half a packet under a packet name. The queued packet (and
 *   its hdr/ file) is removed afterwards unless -keep; a big one by way of
 *   the spool's trash, freed after the node's run (spool/trash.ts).
 *   After a run killed on the way (unlike the reference, which leaves both
 *   behind): temporary files it left in DIR/N/<our id>/ are removed (lock
 *   held: nobody else can be writing them), and a packet already on the
 *   medium is verified (a regular file, its size, its MTH equal to its
 *   name) and then counted as carried and dequeued; one that fails is
 *   replaced by a fresh copy (renamed over it).
 *   Kill points for crash tests (PIGEON_KILLPOINT, src/killpoint.ts):
 *   xfer-tx-copying (partial temporary file), xfer-tx-written, -synced,
 *   -closed, -renamed, -dirsynced (TmpFile's stages) and xfer-tx-dequeue
 *   (copied and logged, still queued), xfer-tx-ack-dequeued (an automatic
 *   ACK dequeued, its tx/ack/ marker not yet removed).
 *   An automatic ACK packet (marked in tx/ack/ by toss -gen-ack, carry or
 *   xfer -rx) is dequeued once on the medium even with -keep: nobody ACKs
 *   an ACK, so kept it would be carried forever. Markers whose packet left
 *   tx/ (sent online, carried by nncp-xfer) are swept first.
 *
 * -rx: for each DIR/<our id>/<SENDER>/ of a known neighbour (or only
 *   -node), each file is judged before anything enters the spool:
 *     - a name that is not a packet id (.part, temporary files, strays),
 *       a file that is not regular, a header that cannot be read or has a
 *       foreign magic number: skipped with a message, left on the medium;
 *     - a packet whose header names another recipient than us: refused (an
 *       error), left on the medium — the reference would import it. (The
 *       header's sender may differ from the directory's node: a relay
 *       forwards packets signed by their origin, so that is normal.);
 *     - already in rx/seen/ or rx/quarantine/: skipped (and removed from the
 *       medium unless -keep); a seen one, when the sender has an `ack`
 *       section (or carry asks), is ACKed again first unless it is an ACK
 *       itself: a lost ACK only delays;
 *     - niceness above -nice: left for later;
 *   the rest is streamed through MTH into a temporary file in the spool's
 *   tmp/ and committed into rx/ only when the hash equals the name; otherwise the
 *   temporary file is deleted and the mismatch logged. An imported packet
 *   gets its hdr/ file and is removed from the medium unless -keep.
 *
 * Log records use the reference's Who values and fields (xfer-rx,
 * xfer-rx-seen, xfer-tx, ...), so nncp-log shows them the same. The result
 * says whether anything failed (the command's exit code).
 *
 * (Longer than 600 lines: -rx and -tx share the medium's rules, the copy
 * loop and the log wording, and xfer -watch and carry reach both through
 * one file each (xferRxFile, xferTxNode). The next split: rx and tx into
 * files of their own, this one keeping the shared rules.)
 */
import fs, { constants as C, promises as fsp } from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { MTH, mthOfFd } from '../crypto/mth.js';
import { errCode, errorLine, PigeonError, quietly } from '../errors.js';
import { killpoint } from '../killpoint.js';
import { iBytes } from '../format.js';
import type { LogFields } from '../log/log.js';
import { ENC_HEADER_SIZE } from '../packet/header.js';
import { Progress } from '../progress.js';
import { adoptFile, DirSyncGroup, makeDir, pooled, TmpFile, type WriteStage } from '../spool/atomic.js';
import type { Trash } from '../spool/trash.js';
import { entries, inOrderFrom, inWindow, judgeCopy, lockTx, MEDIUM_PREFIX, sweepOrphans, WINDOW } from './medium.js';
import { isId, PART_SUFFIX, type Job } from '../spool/spool.js';
import { judgeHeader } from '../admin/stat.js';
import { shortId } from '../format.js';
import { PktType } from '../packet/header.js';
import { autoAck, plainTypeOf } from '../tx/ack.js';

export interface XferOptions {
  /** The medium's root directory. */
  dir: string;
  /** Only this neighbour. */
  node?: Neighbour;
  /** Largest niceness carried (default 255: everything). */
  nice?: number;
  /** -tx: create DIR/<neighbour> when missing. */
  mkdir?: boolean;
  /** Do not delete what was carried (automatic ACK packets, marked in tx/ack/, are dequeued all the same). */
  keep?: boolean;
  /**
   * Without -keep, a packet whose source and destination share a
   * filesystem (a synced folder beside the spool) changes directory by
   * hard link instead of a copy (Spool.adoptPacket, linkToMedium). Default:
   * yes, unless PIGEON_XFER_LINK=0 is in the environment.
   */
  link?: boolean;
  /**
   * -rx: whether a packet from `sender` that was seen before (rx/seen/) is
   * ACKed again before it is dropped (unless it is an ACK itself). Default:
   * when the configuration has an `ack` section for the sender.
   */
  ackSeen?: (sender: Neighbour) => boolean;
  /** -rx: told of each packet imported into rx/ (after its hdr/ file, before it leaves the medium). */
  onImported?: (sender: Neighbour, pktId: string) => Promise<void>;
  /** Told of each automatic ACK queued (of a packet seen before). */
  onAckSent?: (nodeIdB32: string, pktId: string) => void;
  /** Stop: a copy in progress is abandoned (its temporary file removed), nothing further is started. */
  signal?: AbortSignal;
}

/**
 * What became of one file on the medium (-rx): imported into rx/, already
 * seen (dropped), left there (skipped, refused, too nice, failed), or, for
 * a watcher, not complete yet (it does not verify: left untouched, to be
 * tried again when it changes).
 */
export type RxStatus = 'imported' | 'seen' | 'left' | 'incomplete';

/** A file that ended early or changed while it was read: perhaps still being written. */
class Unsettled extends Error {}

/** The copy was stopped by the caller's signal. */
class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

export interface XferResult {
  /** Nothing failed. */
  ok: boolean;
  /** Packet ids imported into rx/ (-rx) or copied to the medium (-tx). */
  packets: string[];
  /** Files on the medium that were not imported (-rx), with the reason. */
  skipped: { file: string; reason: string }[];
  /** What the user most likely did not mean, and what to do (a neighbour's packets left queued for want of -mkdir). */
  notes: string[];
}

/**
 * Bytes per read/write step when copying. Measured here on 1 GiB: 1 MiB
 * steps cost two to three times the kernel copy time of 256-512 KiB steps.
 */
const CHUNK = 512 << 10;

function nodeName(ctx: Context, idB32: string): string {
  return ctx.cfg.neighbours.get(idB32)?.name ?? idB32;
}

/**
 * Read exactly `buf.length` bytes at `pos` unless the file ends first;
 * returns how many. On the thread pool, or here and now with `sync` (a
 * small read: cheaper than the round trip, atomic.ts says more).
 */
async function readAt(fd: number, buf: Uint8Array, pos: number, sync = false): Promise<number> {
  let off = 0;
  while (off < buf.length) {
    const bytesRead = sync
      ? fs.readSync(fd, buf, off, buf.length - off, pos + off)
      : await pooled<number>((cb) => fs.read(fd, buf, off, buf.length - off, pos + off, cb));
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off;
}

/** Whether a packet may be linked instead of copied (XferOptions.link); PIGEON_XFER_LINK=0 makes xfer copy every packet, as the reference does. */
function mayLink(opts: XferOptions): boolean {
  return !opts.keep && (opts.link ?? process.env.PIGEON_XFER_LINK !== '0');
}

/**
 * The MTH of the `size` bytes of the file open as `fd`, read where it lies
 * (one synchronous read for a small packet), checking that its header is
 * still `head` once hashed; throws Unsettled when the file ended early or
 * changed.
 */
async function hashInPlace(fd: number, size: number, head: Buffer, bar: Progress): Promise<Uint8Array> {
  if (size <= SMALL_COPY) {
    const buf = Buffer.allocUnsafe(size);
    if ((await readAt(fd, buf, 0, true)) < size) throw new Unsettled('file ended early while being read');
    if (!head.equals(buf.subarray(0, ENC_HEADER_SIZE))) throw new Unsettled('file changed while being read');
    bar.add(size);
    return new MTH().update(buf).digest();
  }
  let done = 0;
  const onProgress = (_phase: string, now: number): void => {
    bar.add(now - done);
    done = now;
  };
  const digest = await mthOfFd(fd, size, { onProgress }).catch((err) => {
    throw err instanceof PigeonError ? new Unsettled(errorLine(err)) : err;
  });
  const again = Buffer.allocUnsafe(ENC_HEADER_SIZE);
  if ((await readAt(fd, again, 0, true)) < ENC_HEADER_SIZE || !again.equals(head)) throw new Unsettled('file changed while being read');
  return digest;
}

/** Packets up to this size are copied in one synchronous read and one write (pipeCopy). */
const SMALL_COPY = 64 << 10;


/**
 * Copy the first `size` bytes of `src` to `dst`, chunk by chunk, with the
 * next read in flight while the current chunk is handed to `onChunk` (which
 * must not keep it) and the previous one is written. Three buffers are
 * reused throughout: memory stays constant, and only one write to `dst` is
 * in flight at a time (TmpFile.writeAt: no batching, no copies). Throws if
 * `src` ends before `size` bytes.
 */
async function pipeCopy(src: number, dst: TmpFile, size: number, what: string, onChunk: (chunk: Uint8Array) => void, signal?: AbortSignal): Promise<void> {
  if (size <= SMALL_COPY) {
    // One chunk: read it here, hand it to the file's batch (written when it is sealed, atomic.ts).
    const buf = Buffer.allocUnsafe(size);
    const n = await readAt(src, buf, 0, true);
    if (n < size) throw new Error(`${what} ended after ${n} of its ${size} bytes (truncated while reading?)`);
    if (size > 0) {
      onChunk(buf);
      await dst.write(buf);
    }
    return;
  }
  const bufs = [0, 1, 2].map(() => Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1))));
  const read = (i: number, pos: number): Promise<Uint8Array> => {
    const want = Math.min(CHUNK, size - pos);
    const p = readAt(src, bufs[i].subarray(0, want), pos).then((n) => {
      if (n < want) throw new Unsettled(`${what} ended after ${pos + n} of its ${size} bytes (truncated while reading?)`);
      return bufs[i].subarray(0, want);
    });
    p.catch(() => {}); // observed when awaited
    return p;
  };
  let pos = 0;
  let i = 0;
  let reading: Promise<Uint8Array> | null = size > 0 ? read(0, 0) : null;
  let writing: Promise<void> | null = null;
  try {
    while (reading) {
      const chunk = await reading;
      if (signal?.aborted) throw new Interrupted();
      const at = pos;
      pos += chunk.length;
      const next = (i + 1) % bufs.length;
      reading = pos < size ? read(next, pos) : null;
      onChunk(chunk);
      if (writing) await writing;
      writing = dst.writeAt(chunk, at);
      writing.catch(() => {});
      i = next;
    }
    if (writing) await writing;
  } finally {
    // Never leave an operation running on a buffer or handle the caller is about to drop.
    await Promise.allSettled([reading, writing]);
  }
}

// ---------------------------------------------------------------- receiving

/** Import packets addressed to us from DIR/<our id>/. */
export async function xferRx(ctx: Context, opts: XferOptions): Promise<XferResult> {
  const self = ctx.cfg.self;
  if (!self) throw new Error('xfer needs our own node (self) in the configuration');
  const res: XferResult = { ok: true, packets: [], skipped: [], notes: [] };
  const maxNice = opts.nice ?? 255;
  const selfPath = path.join(opts.dir, self.idB32);
  const base: LogFields = [
    ['XX', 'rx'],
    ['Dir', selfPath],
  ];
  const selfMsg = 'Packet transfer, received from self';
  ctx.log.debug('xfer-self', base, selfMsg);
  try {
    await fsp.stat(selfPath);
  } catch (err) {
    if (errCode(err) === 'ENOENT') {
      ctx.log.debug('xfer-self-no-dir', base, `${selfMsg}: no directory`);
      return res;
    }
    ctx.log.error('xfer-self-stat', base, errorLine(err), `${selfMsg}: stating`);
    res.ok = false;
    return res;
  }
  let senders;
  try {
    senders = await entries(selfPath);
  } catch (err) {
    ctx.log.error('xfer-self-read', base, errorLine(err), `${selfMsg}: reading`);
    res.ok = false;
    return res;
  }
  for (const ent of senders) {
    const senderDir = path.join(selfPath, ent.name);
    if (!ent.isDirectory()) {
      skip(ctx, res, [...base, ['File', senderDir]], `Packet transfer, received: ${senderDir}`, 'not a sender directory', 'xfer-rx-not-packet', true);
      continue;
    }
    const fields: LogFields = [...base, ['Node', ent.name]];
    const msg = `Packet transfer, received from ${nodeName(ctx, ent.name)}`;
    if (!isId(ent.name)) {
      skip(ctx, res, fields, msg, 'is not NodeId', 'xfer-rx-not-node');
      continue;
    }
    if (opts.node && opts.node.idB32 !== ent.name) {
      ctx.log.debug('xfer-rx-skip', fields, `${msg}: skipping`);
      continue;
    }
    const sender = ctx.cfg.neighbours.get(ent.name);
    if (!sender) {
      skip(ctx, res, fields, msg, 'unknown', 'xfer-rx-unknown');
      continue;
    }
    let pkts;
    try {
      pkts = await entries(senderDir);
    } catch (err) {
      ctx.log.error('xfer-rx-read', fields, errorLine(err), `${msg}: reading`);
      res.ok = false;
      continue;
    }
    const from = res.packets.length;
    const group = new DirSyncGroup(ctx.spool.noSync);
    await inWindow(pkts, WINDOW, async (pkt) => {
      await rxOne(ctx, opts, res, sender, path.join(senderDir, pkt.name), pkt.name, fields, maxNice, false, group);
    }, () => opts.signal?.aborted === true);
    inOrderFrom(res.packets, from, pkts.map((p) => p.name));
  }
  return res;
}

/**
 * Import one file DIR/<our id>/<SENDER>/<NAME> (a watcher's way in: the
 * file just appeared or changed). A file that does not verify yet is
 * 'incomplete' and left alone, without an error: it may still be growing.
 * Anything that is not such a path of a known neighbour (or of -node) is
 * 'left'. `ok` is false when something failed (logged).
 */
export async function xferRxFile(ctx: Context, opts: XferOptions, file: string): Promise<{ status: RxStatus; ok: boolean }> {
  const self = ctx.cfg.self;
  if (!self) throw new Error('xfer needs our own node (self) in the configuration');
  const res: XferResult = { ok: true, packets: [], skipped: [], notes: [] };
  const parts = path.relative(opts.dir, file).split(path.sep);
  const sender = parts.length === 3 && parts[0] === self.idB32 ? ctx.cfg.neighbours.get(parts[1]) : undefined;
  if (!sender || (opts.node && opts.node.idB32 !== sender.idB32)) return { status: 'left', ok: true };
  const fields: LogFields = [
    ['XX', 'rx'],
    ['Dir', path.join(opts.dir, self.idB32)],
    ['Node', sender.idB32],
  ];
  const status = await rxOne(ctx, opts, res, sender, file, parts[2], fields, opts.nice ?? 255, true);
  return { status, ok: res.ok };
}

/**
 * Report a file on the medium that is not imported (not an error: partial,
 * stray or garbage). Stray names (neither a packet's nor a partial or
 * temporary copy's) are logged only with -debug, as the reference does: a
 * medium polled in a loop would otherwise grow the log by a record per
 * stray file per poll.
 */
function skip(ctx: Context, res: XferResult, fields: LogFields, msg: string, reason: string, who = 'xfer-rx-not-packet', quietly = false): 'left' {
  const file = fields.find(([k]) => k === 'File')?.[1] ?? fields.find(([k]) => k === 'Node')?.[1] ?? '';
  res.skipped.push({ file: String(file), reason });
  if (quietly) ctx.log.debug(who, fields, `${msg}: ${reason}`);
  else ctx.log.info(who, fields, `${msg}: ${reason}`);
  return 'left';
}

/** Refuse a packet-named file that must not be imported: logged as an error, left on the medium. */
function refuse(ctx: Context, res: XferResult, fields: LogFields, msg: string, reason: string): 'left' {
  const file = fields.find(([k]) => k === 'File')?.[1] ?? '';
  res.skipped.push({ file: String(file), reason });
  res.ok = false;
  ctx.log.error('xfer-rx', fields, reason, msg);
  return 'left';
}

/**
 * Import one file from the medium. `patient` (a watcher): a file too short,
 * with an unreadable header, that changes while read or whose hash is not
 * its name yet is 'incomplete', left alone without an error (it may still
 * be growing); without it such a file is skipped or refused as usual.
 */
async function rxOne(
  ctx: Context,
  opts: XferOptions,
  res: XferResult,
  sender: Neighbour,
  file: string,
  name: string,
  nodeFields: LogFields,
  maxNice: number,
  patient = false,
  group?: DirSyncGroup,
): Promise<RxStatus> {
  const self = ctx.cfg.self!;
  const fields: LogFields = [...nodeFields, ['File', file]];
  const msg = `Packet transfer, received from ${sender.name}: ${file}`;
  const notYet = (why: string): RxStatus => {
    ctx.log.debug('xfer-rx-incomplete', fields, `${msg}: ${why}: not complete yet, left for a later try`);
    return 'incomplete';
  };
  if (!isId(name)) {
    // A partial or temporary copy says a transfer was interrupted: worth a line. Other stray names only with -debug.
    if (name.endsWith(PART_SUFFIX)) skip(ctx, res, fields, msg, 'partly written file, skipped');
    else if (name.startsWith(MEDIUM_PREFIX)) skip(ctx, res, fields, msg, 'temporary file of an unfinished copy, skipped');
    else skip(ctx, res, fields, msg, 'not a packet name, skipped', 'xfer-rx-not-packet', true);
    return 'left';
  }
  const seen = (await ctx.spool.isSeen(sender.idB32, name)) ? 'seen' : (await ctx.spool.isQuarantined(sender.idB32, name)) ? 'quarantined' : null;
  if (seen === 'seen') {
    ctx.log.info('xfer-rx-seen', fields, `${msg}: packet already seen`);
    const ackSeen = opts.ackSeen ?? ((n: Neighbour) => n.ack !== undefined);
    if (ackSeen(sender) && !(await ackAgain(ctx, opts, sender, file, name, fields, msg))) {
      res.ok = false;
      return 'left'; // left on the medium: the next run tries again
    }
  }
  // Same name, same bytes: it failed verification here before and would again.
  if (seen === 'quarantined') ctx.log.info('xfer-rx-quarantined', fields, `${msg}: packet already in quarantine (pigeon check lists it, pigeon rm -quarantine removes it)`);
  if (seen) {
    if (!opts.keep) {
      try {
        fs.unlinkSync(file);
      } catch (err) {
        ctx.log.error('xfer-rx-remove', fields, errorLine(err), msg);
        res.ok = false;
      }
    }
    return 'seen';
  }
  let fh: number;
  try {
    fh = fs.openSync(file, C.O_RDONLY | C.O_NOFOLLOW);
  } catch (err) {
    if (errCode(err) === 'ELOOP') return skip(ctx, res, fields, msg, 'not valid packet: a symbolic link');
    if (patient && errCode(err) === 'ENOENT') return notYet('gone before it could be read');
    ctx.log.error('xfer-rx-open', fields, errorLine(err), `${msg}: opening`);
    res.ok = false;
    return 'left';
  }
  try {
    const st = fs.fstatSync(fh);
    if (!st.isFile()) return skip(ctx, res, fields, msg, 'not valid packet: not a regular file');
    const head = Buffer.allocUnsafe(ENC_HEADER_SIZE);
    const got = await readAt(fh, head, 0, true);
    if (got < ENC_HEADER_SIZE) {
      if (patient) return notYet(`${got} bytes, shorter than a packet header`);
      return skip(ctx, res, fields, msg, `not valid packet: ${got} bytes, shorter than a packet header`);
    }
    const verdict = judgeHeader(head);
    if (!verdict.ok) {
      if (patient) return notYet(`${verdict.foreign ?? 'unreadable header'}`);
      return skip(ctx, res, fields, msg, `not valid packet: ${verdict.foreign ?? 'unreadable header'}`);
    }
    if (verdict.recipient !== self.idB32) {
      return refuse(ctx, res, fields, msg, `packet is addressed to ${nodeName(ctx, verdict.recipient)}, not to us; left on the medium`);
    }
    if (verdict.nice > maxNice) {
      ctx.log.debug('xfer-rx-too-nice', fields, `${msg}: too nice`);
      return 'left';
    }
    const size = st.size;
    const sized: LogFields = [...fields, ['Size', size]];
    const sizedMsg = `Packet transfer, received from ${sender.name}: ${file} (${iBytes(size)})`;
    if (!(await ctx.spool.hasRoom(size))) return refuse(ctx, res, sized, sizedMsg, 'is not enough space');

    const bar = new Progress({ enabled: ctx.progress, label: `Rx ${shortId(file)}`, total: size });
    const stages = { onStage: (st: string) => killpoint(`xfer-rx-${st}`), syncDir: group && ((d: string) => group.sync(d)), pooled: group !== undefined };
    let mismatch = false;
    let adopted = false;
    let tmp: TmpFile | null = null;
    try {
      if (mayLink(opts) && ctx.spool.canAdopt(st)) {
        // On the spool's filesystem (a synced folder beside the spool): checked where it lies, then linked into rx/ (adoptFile), not copied.
        const digest = await hashInPlace(fh, size, head, bar);
        bar.finish();
        // Nothing enters rx/ unless its hash is its name.
        mismatch = base32Encode(digest) !== name;
        adopted = !mismatch && (await ctx.spool.adoptPacket(fh, file, sender.idB32, 'rx', name, stages));
      }
      if (!adopted && !mismatch) {
        const mth = new MTH();
        tmp = await ctx.spool.tmpFile(stages);
        let first = true;
        let chunks = 0;
        await pipeCopy(fh, tmp, size, file, (chunk) => {
          if (first && !head.equals(chunk.subarray(0, ENC_HEADER_SIZE))) throw new Unsettled('file changed while being read');
          first = false;
          mth.update(chunk);
          bar.add(chunk.length);
          // By the third chunk the first is written: a partial temporary file.
          if (++chunks === 3) killpoint('xfer-rx-copying');
        }, opts.signal);
        bar.finish();
        mismatch = base32Encode(mth.digest()) !== name;
        if (mismatch) await tmp.abort();
        else await tmp.commit(ctx.spool.packetPath(sender.idB32, 'rx', name));
      }
    } catch (err) {
      await tmp?.abort();
      if (patient && err instanceof Unsettled) return notYet(errorLine(err));
      ctx.log.error('xfer-rx', sized, errorLine(err), sizedMsg);
      res.ok = false;
      return 'left';
    }
    if (mismatch) {
      if (patient) return notYet('its checksum does not match its name');
      ctx.log.error('xfer-rx', sized, 'checksum mismatch', sizedMsg);
      res.ok = false;
      res.skipped.push({ file, reason: 'checksum mismatch' });
      return 'left';
    }
    ctx.log.info('xfer-rx', sized, sizedMsg);
    res.packets.push(name);
    if (!ctx.spool.noHdr) {
      await ctx.spool.writeHdr(sender.idB32, 'rx', name, Uint8Array.from(head), { pooled: group !== undefined }).catch((err) => {
        ctx.log.error('hdr-write', [['Pkt', name]], errorLine(err), 'Header writing');
        res.ok = false; // the packet is in rx/ (toss reads its header from it), but the spool lacks what was asked
      });
    }
    if (opts.onImported) {
      try {
        await opts.onImported(sender, name);
      } catch (err) {
        ctx.log.error('xfer-rx', sized, errorLine(err), sizedMsg);
        res.ok = false;
        return 'left';
      }
    }
    killpoint('xfer-rx-imported'); // in rx/ with its hdr/ file, still on the medium
    if (!opts.keep) {
      try {
        // Closed first: the last reference to an unlinked file frees it, which is the unlink's work, on the pool.
        quietly(() => fs.closeSync(fh));
        fh = -1;
        if (group) await pooled<void>((cb) => fs.unlink(file, cb));
        else fs.unlinkSync(file);
      } catch (err) {
        ctx.log.error('xfer-rx-remove', sized, errorLine(err), sizedMsg);
        res.ok = false;
      }
    }
    return 'imported';
  } finally {
    if (fh !== -1) quietly(() => fs.closeSync(fh));
  }
}

/**
 * A packet seen before is on the medium again: its sender did not get our
 * ACK (a lost stick, or it was never sent). Queue a new one, unless the
 * packet is an ACK itself (read and authenticated from its first block).
 * A kill after this and before the file leaves the medium ACKs it once more
 * next time: harmless (the second ACK finds nothing to remove).
 * Kill point: xfer-rx-reacked. False when it failed (logged).
 */
async function ackAgain(ctx: Context, opts: XferOptions, sender: Neighbour, file: string, name: string, fields: LogFields, msg: string): Promise<boolean> {
  try {
    if ((await plainTypeOf(ctx, file)) === PktType.Ack) return true;
    await autoAck(ctx, sender, name);
  } catch (err) {
    ctx.log.error('xfer-rx-ack', fields, errorLine(err), `${msg}: seen before: ACKing it again`);
    return false;
  }
  ctx.log.info('xfer-rx-ack', fields, `${msg}: seen before, ACKed again`);
  opts.onAckSent?.(sender.idB32, name);
  killpoint('xfer-rx-reacked');
  return true;
}

// ------------------------------------------------------------------ sending

/** Copy queued packets to the medium. */
export async function xferTx(ctx: Context, opts: XferOptions): Promise<XferResult> {
  const self = ctx.cfg.self;
  if (!self) throw new Error('xfer needs our own node (self) in the configuration');
  const res: XferResult = { ok: true, packets: [], skipped: [], notes: [] };
  for (const node of ctx.cfg.neighbours.values()) {
    if (opts.node && opts.node.idB32 !== node.idB32) {
      ctx.log.debug('xfer-tx-skip', [['XX', 'tx'], ['Node', node.idB32]], `Packet transfer, sent to ${node.name}: skipping`);
      continue;
    }
    await xferTxNode(ctx, opts, node, res);
  }
  return res;
}

/**
 * Copy one neighbour's queued packets (only those in `only`, when given)
 * to the medium, with its tx lock held; results are added to `res`. Busy:
 * another process holds the lock (logged; nothing was done).
 */
export async function xferTxNode(ctx: Context, opts: XferOptions, node: Neighbour, res: XferResult, only?: ReadonlySet<string>): Promise<{ busy: boolean }> {
  const fields: LogFields = [
    ['XX', 'tx'],
    ['Node', node.idB32],
  ];
  const { lock, busy } = await lockTx(ctx, node.idB32);
  if (!lock) return { busy };
  const trash = ctx.spool.trash();
  try {
    if (!(await txNode(ctx, opts, res, node, fields, opts.nice ?? 255, trash, only))) res.ok = false;
  } finally {
    lock.release();
    await trash.empty();
  }
  return { busy: false };
}

/** One neighbour's packets (those in `only`, when given), lock held. False when something failed. */
async function txNode(ctx: Context, opts: XferOptions, res: XferResult, node: Neighbour, nodeFields: LogFields, maxNice: number, trash: Trash, only?: ReadonlySet<string>): Promise<boolean> {
  const self = ctx.cfg.self!;
  const nodePath = path.join(opts.dir, node.idB32);
  let fields: LogFields = [...nodeFields, ['Dir', nodePath]];
  let msg = `Packet transfer, sent to ${node.name}: directory ${nodePath}`;
  try {
    await fsp.stat(nodePath);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') {
      ctx.log.error('xfer-tx', fields, errorLine(err), msg);
      return false;
    }
    ctx.log.debug('xfer-tx-not-exist', fields, `${msg}: does not exist`);
    if (!opts.mkdir) {
      const { jobs } = await ctx.spool.scan(node.idB32, 'tx');
      const waiting = jobs.filter((j) => j.nice <= maxNice).length;
      if (waiting > 0) res.notes.push(`${waiting} packet(s) for ${node.name} stay queued: ${nodePath} does not exist; pass -mkdir to create it (${node.name} reads the medium with pigeon xfer -rx or nncp-xfer -rx)`);
      return true;
    }
    try {
      await makeDir(nodePath);
    } catch (e) {
      ctx.log.error('xfer-tx-mkdir', fields, errorLine(e), msg);
      return false;
    }
  }
  const dstPath = path.join(nodePath, self.idB32);
  fields = [...nodeFields, ['Dir', dstPath]];
  msg = `Packet transfer, sent to ${node.name}: directory ${dstPath}`;
  try {
    await fsp.stat(dstPath);
  } catch (err) {
    if (errCode(err) !== 'ENOENT') {
      ctx.log.error('xfer-tx', fields, errorLine(err), msg);
      return false;
    }
    try {
      await makeDir(dstPath);
    } catch (e) {
      ctx.log.error('xfer-tx-mkdir', fields, errorLine(e), msg);
      return false;
    }
  }
  const swept = await sweepOrphans(ctx, dstPath, nodeFields, node.name);
  let ok = swept.ok;
  try {
    for (const id of await ctx.spool.sweepAckMarks(node.idB32)) ctx.log.debug('xfer-tx-ack-mark', [...nodeFields, ['Pkt', id]], `ACK marker ${id}: its packet is gone: removed`);
  } catch (err) {
    ctx.log.error('xfer-tx-ack-mark', nodeFields, errorLine(err), `Sweeping ${ctx.spool.ackMarkDir(node.idB32)}`);
    ok = false;
  }
  const { jobs } = await ctx.spool.scan(node.idB32, 'tx', {
    onSkip: (s) => ctx.log.debug('job', [['XX', 'tx'], ['Name', s.name]], `Job tx/${s.name}: ${s.reason}`),
  });
  const todo = jobs.filter((job) => !only || only.has(job.id));
  const from = res.packets.length;
  const group = new DirSyncGroup(ctx.spool.noSync);
  const one = async (job: Job): Promise<void> => {
    const pktFields: LogFields = [...nodeFields, ['Pkt', job.id]];
    const pktMsg = `Packet transfer, sent to ${node.name}: ${job.id}`;
    if (job.nice > maxNice) {
      ctx.log.debug('xfer-tx-too-nice', pktFields, `${pktMsg}: too nice`);
      return;
    }
    const dst = path.join(dstPath, job.id);
    const found = await judgeCopy(dst, job, swept.names);
    let linked: boolean | null = false;
    let carried: number;
    let note = '';
    if (found === 'verified') {
      carried = job.size;
      note = ': already on the medium, verified';
    } else {
      if (found !== 'absent') ctx.log.info('xfer-tx-replace', pktFields, `${pktMsg}: already on the medium, but ${found}: replacing it`);
      // Without -keep, a medium on the spool's filesystem gets the queued file itself (tx/ keeps no second name of it).
      linked = mayLink(opts) && ctx.spool.umask === undefined ? await linkToMedium(ctx, job, dstPath, dst, found === 'absent', pktFields, pktMsg, group) : false;
      const copied = linked === null ? null : linked ? job.size : await copyToMedium(ctx, job, dstPath, dst, pktFields, pktMsg, opts.signal, group);
      if (copied === null) {
        ok = false;
        return;
      }
      carried = copied;
      const part = job.id + PART_SUFFIX;
      if (!swept.names || swept.names.has(part)) {
        try {
          fs.unlinkSync(path.join(dstPath, part));
        } catch {
          // none there (the usual case)
        }
      }
    }
    ctx.log.info('xfer-tx', [...pktFields, ['Size', carried]], `${pktMsg} (${iBytes(carried)})${note}`);
    res.packets.push(job.id);
    killpoint('xfer-tx-dequeue');
    let isAck = false;
    try {
      isAck = await ctx.spool.isAckPacket(node.idB32, job.id);
    } catch (err) {
      ctx.log.error('xfer-tx-ack-mark', pktFields, errorLine(err), `${pktMsg}: reading its ACK marker`);
      ok = false;
    }
    if (!opts.keep || isAck) {
      try {
        // A linked packet's blocks stay with the medium: its removal frees nothing, no need for the trash.
        await ctx.spool.remove(job, { pooled: true, trash: linked ? undefined : trash });
        if (isAck) {
          killpoint('xfer-tx-ack-dequeued');
          await ctx.spool.unmarkAckPacket(node.idB32, job.id);
        }
      } catch (err) {
        ctx.log.error('xfer-tx-remove', pktFields, errorLine(err), `${pktMsg}: removing`);
        ok = false;
      }
    }
  };
  await inWindow(todo, WINDOW, one, () => opts.signal?.aborted === true);
  inOrderFrom(res.packets, from, todo.map((j) => j.id));
  return ok;
}

/** The queued packet open for reading, or null after logging why not. */
function openQueued(ctx: Context, job: Job, fields: LogFields, msg: string): number | null {
  try {
    return fs.openSync(job.path, C.O_RDONLY);
  } catch (err) {
    ctx.log.error('xfer-tx-open', fields, errorLine(err), `${msg}: opening`);
    return null;
  }
}

/** After each completed WriteStage, the step then running (which a failure is logged as). */
const NEXT_STEP = { written: 'sync', synced: 'close', closed: 'rename', renamed: 'dirsync', dirsynced: 'dirsync' } as const satisfies Record<WriteStage, string>;

/**
 * Copy a queued packet to `dst` through a "nncpxfer<hex>" temporary file in
 * `dstDir`; returns the bytes copied, or null after logging the failure
 * (the temporary file is removed).
 */
async function copyToMedium(ctx: Context, job: Job, dstDir: string, dst: string, fields: LogFields, msg: string, signal?: AbortSignal, group?: DirSyncGroup): Promise<number | null> {
  const stages = {
    mktemp: ['xfer-tx-mktemp', 'mktemp'],
    open: ['xfer-tx-open', 'opening'],
    fill: ['xfer-tx-copy', 'copying'],
    sync: ['xfer-tx-sync', 'syncing'],
    close: ['xfer-tx-close', 'closing'],
    rename: ['xfer-tx-rename', 'renaming'],
    dirsync: ['xfer-tx-dirsync', 'dirsyncing'],
  } as const;
  let stage: keyof typeof stages = 'open';
  const src = openQueued(ctx, job, fields, msg);
  if (src === null) return null;
  try {
    const size = fs.fstatSync(src).size;
    const bar = new Progress({ enabled: ctx.progress, label: `Tx ${shortId(job.id)}`, total: size });
    stage = 'mktemp';
    const onStage = (s: WriteStage): void => {
      stage = NEXT_STEP[s];
      killpoint(`xfer-tx-${s}`);
    };
    const tmp = await TmpFile.create(dstDir, { prefix: MEDIUM_PREFIX, noSync: ctx.spool.noSync, onStage, syncDir: group && ((d) => group.sync(d)), pooled: group !== undefined });
    stage = 'fill';
    let chunks = 0;
    try {
      await pipeCopy(src, tmp, size, job.path, (chunk) => {
        bar.add(chunk.length);
        // By the third chunk the first is written: a partial temporary file.
        if (++chunks === 3) killpoint('xfer-tx-copying');
      }, signal);
      bar.finish();
      await tmp.commit(dst);
    } catch (err) {
      await tmp.abort();
      throw err;
    }
    return size;
  } catch (err) {
    const [who, what] = stages[stage];
    ctx.log.error(who, fields, errorLine(err), `${msg}: ${what}`);
    return null;
  } finally {
    quietly(() => fs.closeSync(src));
  }
}

/**
 * Put a queued packet on the medium without copying it, when the medium is
 * on the spool's filesystem: adoptFile, straight to its name when it was
 * `absent`, else (a bad copy to replace) through a "nncpxfer<hex>" link in
 * `dstDir` (a kill then leaves what a killed copy leaves). True when placed; false when
 * it cannot be linked (another filesystem: copy it); null after logging a
 * failure.
 */
async function linkToMedium(ctx: Context, job: Job, dstDir: string, dst: string, absent: boolean, fields: LogFields, msg: string, group: DirSyncGroup): Promise<boolean | null> {
  const src = openQueued(ctx, job, fields, msg);
  if (src === null) return null;
  try {
    // The medium's files are made with the process umask (copyToMedium); so were the queue's, as no umask is configured.
    return await adoptFile(src, job.path, dst, { tmpDir: dstDir, prefix: MEDIUM_PREFIX, straight: absent, held: false, noSync: ctx.spool.noSync, onStage: (s) => killpoint(`xfer-tx-${s}`), syncDir: (d) => group.sync(d), pooled: true });
  } catch (err) {
    ctx.log.error('xfer-tx-link', fields, errorLine(err), `${msg}: linking`);
    return null;
  } finally {
    quietly(() => fs.closeSync(src));
  }
}

/** -rx, then -tx (as nncp-xfer without either flag). */
export async function xfer(ctx: Context, opts: XferOptions & { rxOnly?: boolean; txOnly?: boolean }): Promise<{ ok: boolean; rx: XferResult | null; tx: XferResult | null; notes: string[] }> {
  // The reference does nothing, successfully, with a DIR that does not exist (a medium not mounted, a typo): say so.
  try {
    if (!(await fsp.stat(opts.dir)).isDirectory()) return { ok: false, rx: null, tx: null, notes: [`${opts.dir} is not a directory: nothing received or sent; name the medium's root directory`] };
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { ok: true, rx: null, tx: null, notes: [`${opts.dir} does not exist: nothing received or sent; is the medium mounted? (-mkdir creates node directories on it, never DIR itself)`] };
    throw err;
  }
  const rx = opts.txOnly ? null : await xferRx(ctx, opts);
  const tx = opts.rxOnly ? null : await xferTx(ctx, opts);
  return { ok: (rx?.ok ?? true) && (tx?.ok ?? true), rx, tx, notes: [...(rx?.notes ?? []), ...(tx?.notes ?? [])] };
}
