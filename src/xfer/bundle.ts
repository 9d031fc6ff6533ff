/**
 * `pigeon bundle` (nncp-bundle): packets as a tar stream, for media that
 * are written and read front to back (tape, CD, a raw disk, a pipe, a
 * one-way broadcast).
 *
 * The stream, as the reference writes it: for each packet, a USTAR
 * directory header "NNCP" (mode 0700) and then a USTAR file header whose
 * name is NNCP/<RECIPIENT>/<SENDER>/<PACKET> (split into the prefix and
 * name fields; mode 0400, uid/gid 0, mtime 0), the packet's bytes and the
 * padding to 512. Pigeon ends the archive with the two zero blocks of a
 * valid tar (the reference leaves them out; either reader skips them).
 *
 * -tx NODE...: each node's queued packets (niceness <= -nice), with the
 *   node's tx lock held, in queue order. Memory stays constant: the packet
 *   is read in reused buffers and each write to the output is awaited
 *   before its buffer is read into again. With -delete a packet leaves the
 *   queue once all its bytes are in the output (a pipe, a tape: the
 *   kernel has them). Kill points: bundle-tx-sending (part of a packet
 *   written), bundle-tx-sent (written, not yet logged or deleted).
 *
 * -rx: read as the reference reads, so that what it takes and skips in a
 *   damaged stream, Pigeon takes and skips too: look for the bytes "NNCP"
 *   (anything before them is skipped: garbage, other archives, padding),
 *   read a tar header there; it must be a directory, and the entry after
 *   it is the packet. A header that does not parse, a directory header
 *   that is not followed by one, and an entry that is not a packet
 *   (too small, not a packet name, a foreign magic number) are skipped
 *   (debug messages) and the search goes on right after what was read.
 *   The packet's header decides: its niceness (> -nice: skipped), sender
 *   and recipient (NODE arguments: only packets from those senders).
 *     - Not addressed to us: skipped.
 *     - From a sender that is not a neighbour: skipped (the reference would
 *       make a spool directory for it).
 *     - Already in rx/, rx/seen/ or rx/quarantine/: skipped.
 *     - Otherwise its bytes go through MTH into a temporary file in the
 *       spool's tmp/, which is committed into rx/ (TmpFile: fsync, rename,
 *       directory fsync) only when the hash equals the packet's name; its
 *       hdr/ file follows. Pigeon always verifies (the reference only with
 *       -check); with -dryrun, nothing is written, and -check hashes.
 *   A stream that ends inside a packet is an error: its temporary file is
 *   removed, nothing appears in rx/.
 *   Kill points: bundle-rx-copying (a partial temporary file), then
 *   bundle-rx-written, -synced, -closed, -renamed, -dirsynced (TmpFile's
 *   stages); a rerun of the same stream imports what is missing, once.
 *
 * -rx -delete, for checking a stream we wrote: a packet from us whose
 *   checksum matches its name is removed from our tx queue (-dryrun: only
 *   said); its recipient must be among NODE when NODEs are given. Kill
 *   point: bundle-rx-delete (verified, not yet removed).
 *
 * Log records use the reference's Who values, fields and messages
 * (bundle-tx, bundle-rx, bundle-tx-removed, ...). The result's `ok` is
 * false when something failed (an error was logged): a bad checksum, a
 * truncated packet, a write that failed, a node whose queue was locked.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../codec/base32.js';
import { parsePaxRecords, parseTarBlock, TAR_BLOCK, TAR_SPECIAL_MAX, tarHeader, tarPad } from '../codec/tar.js';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { MTH } from '../crypto/mth.js';
import { errCode, errorLine } from '../errors.js';
import { iBytes, shortId } from '../format.js';
import { killpoint } from '../killpoint.js';
import type { LogFields } from '../log/log.js';
import { ENC_HEADER_SIZE } from '../packet/header.js';
import { judgeHeader } from '../admin/stat.js';
import { Progress } from '../progress.js';
import type { TmpFile } from '../spool/atomic.js';
import { isId, present, type Job } from '../spool/spool.js';
import { BlockReader } from '../stream/blockreader.js';
import { readReused } from '../stream/fileread.js';
import { writeOut } from '../stream/writeout.js';
import { lockTx } from './medium.js';

/** The top directory of a bundle, and the bytes a reader looks for. */
export const BUNDLE_PREFIX = 'NNCP';
const PREFIX_BYTES = new TextEncoder().encode(BUNDLE_PREFIX);

/** Bytes per read of a packet (tx) or per piece handed on (rx). */
const CHUNK = 256 << 10;

export interface BundleTxOptions {
  /** Whose queues go into the stream, in this order. */
  nodes: readonly Neighbour[];
  /** Largest niceness sent (default 255: everything). */
  nice?: number;
  /** Remove each packet from the queue once it is written. */
  delete?: boolean;
  /** Where the stream goes (stdout). */
  out: NodeJS.WritableStream;
}

export interface BundleRxOptions {
  /** Only packets from these senders (for -delete: to these recipients); empty or absent: all. */
  nodes?: readonly Neighbour[];
  /** Largest niceness taken (default 255). */
  nice?: number;
  /** Remove from tx/ our own packets found intact in the stream. */
  delete?: boolean;
  /** Verify checksums even with -dryrun (Pigeon always verifies what it writes). */
  check?: boolean;
  /** Write nothing to the spool. */
  dryRun?: boolean;
  /** The stream, in chunks each valid until the next is asked for (readStdin()). */
  input: AsyncIterable<Uint8Array>;
}

export interface BundleResult {
  /** Nothing failed. */
  ok: boolean;
  /** Packet ids written to the stream (-tx) or taken into rx/ (-rx; with -dryrun: that would be). */
  packets: string[];
  /** Our packets removed from tx/ (-tx -delete, -rx -delete; with -dryrun: that would be). */
  removed: string[];
}

function nodeName(ctx: Context, idB32: string): string {
  return ctx.cfg.neighbours.get(idB32)?.name ?? idB32;
}

// ------------------------------------------------------------------ sending

/** The two headers before a packet: the "NNCP" directory, then the packet's file entry. */
function packetHeaders(recipient: string, sender: string, job: Job): Uint8Array {
  const out = new Uint8Array(2 * TAR_BLOCK);
  out.set(tarHeader({ name: BUNDLE_PREFIX, mode: 0o700, size: 0, mtime: 0, type: '5' }), 0);
  out.set(tarHeader({ prefix: `${BUNDLE_PREFIX}/${recipient}/${sender}`, name: job.id, mode: 0o400, size: job.size, mtime: 0, type: '0' }), TAR_BLOCK);
  return out;
}

/** A failure of the output itself: the stream is broken, nothing more can go into it. */
class OutputError extends Error {}

/** Write the packets queued for `opts.nodes` as a bundle to `opts.out`. */
export async function bundleTx(ctx: Context, opts: BundleTxOptions): Promise<BundleResult> {
  const self = ctx.cfg.self;
  if (!self) throw new Error('bundle needs our own node (self) in the configuration');
  const res: BundleResult = { ok: true, packets: [], removed: [] };
  const maxNice = opts.nice ?? 255;
  const out = opts.out;
  const put = (b: Uint8Array) =>
    writeOut(out, b).catch((err) => {
      const why = errCode(err) === 'EPIPE' ? 'the reader of the stream went away (EPIPE)' : errorLine(err);
      throw new OutputError(`${why}; what was not written whole stays queued`, { cause: err });
    });
  // A failed write is reported to its callback; without a listener the stream's 'error' event would kill the process.
  const onError = () => {};
  out.on('error', onError);
  const seen = new Set<string>();
  try {
    for (const node of opts.nodes) {
      if (seen.has(node.idB32)) continue;
      seen.add(node.idB32);
      const nodeFields: LogFields = [
        ['XX', 'tx'],
        ['Node', node.idB32],
      ];
      const { lock } = await lockTx(ctx, node.idB32);
      if (!lock) {
        res.ok = false;
        continue;
      }
      try {
        const { jobs } = await ctx.spool.scan(node.idB32, 'tx', {
          onSkip: (s) => ctx.log.debug('job', [['XX', 'tx'], ['Name', s.name]], `Job tx/${s.name}: ${s.reason}`),
        });
        for (const job of jobs) {
          const fields: LogFields = [...nodeFields, ['Pkt', job.id]];
          if (job.nice > maxNice) {
            ctx.log.debug('bundle-tx-too-nice', fields, `Bundle transfer ${node.name}/tx/${job.id}: too nice ${job.nice}`);
            continue;
          }
          if (!(await sendPacket(ctx, put, node, self.idB32, job, fields))) {
            res.ok = false;
            continue;
          }
          killpoint('bundle-tx-sent');
          ctx.log.info('bundle-tx', [...fields, ['Size', job.size]], `Bundle transfer, sent to node ${node.name} ${job.id} (${iBytes(job.size)})`);
          res.packets.push(job.id);
          if (opts.delete) {
            try {
              await ctx.spool.remove(job);
              res.removed.push(job.id);
            } catch (err) {
              ctx.log.error('bundle-tx-remove', fields, errorLine(err), `Bundle transfer ${node.name}/tx/${job.id}: removing`);
              res.ok = false;
            }
          }
        }
      } finally {
        lock.release();
      }
    }
    // The end of a valid archive: two zero blocks.
    await put(new Uint8Array(2 * TAR_BLOCK));
  } catch (err) {
    if (!(err instanceof OutputError)) throw err;
    ctx.log.error('bundle-tx', [['XX', 'tx']], err.message, 'Bundle transfer: writing the stream');
    res.ok = false;
  } finally {
    out.off('error', onError);
  }
  return res;
}

/**
 * Headers, bytes and padding of one packet. False (logged) when the packet
 * could not be opened, before anything was written; an OutputError, or a
 * packet that ended early (the stream is then broken), is thrown.
 */
async function sendPacket(
  ctx: Context,
  put: (b: Uint8Array) => Promise<void>,
  node: Neighbour,
  selfId: string,
  job: Job,
  fields: LogFields,
): Promise<boolean> {
  let fh;
  try {
    fh = await open(job.path, 'r');
  } catch (err) {
    ctx.log.error('bundle-tx-open', fields, errorLine(err), `Bundle transfer ${node.name}/tx/${job.id}: opening`);
    return false;
  }
  try {
    await put(packetHeaders(node.idB32, selfId, job));
    const bar = new Progress({ enabled: ctx.progress, label: `Tx ${shortId(job.id)}`, total: job.size });
    let sent = 0;
    for await (const chunk of readReused(fh, { chunk: CHUNK, start: 0 })) {
      const take = Math.min(chunk.length, job.size - sent);
      if (take > 0) await put(chunk.subarray(0, take));
      sent += take;
      bar.add(take);
      if (sent < job.size) killpoint('bundle-tx-sending');
      if (sent >= job.size) break;
    }
    if (sent < job.size) throw new OutputError(`${job.path} ended after ${sent} of its ${job.size} bytes; the stream is cut short there`);
    const pad = tarPad(job.size);
    if (pad > 0) await put(new Uint8Array(pad));
    bar.finish();
    return true;
  } finally {
    await fh.close().catch(() => {});
  }
}

// ---------------------------------------------------------------- receiving

/** A tar entry as the reader hands it over (PAX records and GNU long names applied). */
interface TarEntry {
  name: string;
  type: string;
  size: number;
}

type Next = { kind: 'entry'; entry: TarEntry } | { kind: 'end' } | { kind: 'error'; reason: string };

const UNEXPECTED_EOF = 'unexpected EOF';

/** A NUL-terminated GNU long name. */
function longName(b: Uint8Array): string {
  const nul = b.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? b : b.subarray(0, nul));
}

/**
 * The next tar entry's header at the reader's position (its data left
 * unread), as the reference's tar reader returns it: PAX (x) and GNU long
 * name (L, K) entries are folded into the entry they precede; two zero
 * blocks or a clean end of the stream are the end.
 */
async function nextEntry(reader: BlockReader): Promise<Next> {
  let pax: Map<string, string> | null = null;
  let gnuName: string | null = null;
  for (;;) {
    let blk = await reader.read(TAR_BLOCK);
    if (blk.length === 0) return { kind: 'end' };
    if (blk.length < TAR_BLOCK) return { kind: 'error', reason: UNEXPECTED_EOF };
    let parsed = parseTarBlock(blk);
    if (parsed.kind === 'zero') {
      blk = await reader.read(TAR_BLOCK);
      if (blk.length === 0) return { kind: 'end' };
      if (blk.length < TAR_BLOCK) return { kind: 'error', reason: UNEXPECTED_EOF };
      parsed = parseTarBlock(blk);
      if (parsed.kind === 'zero') return { kind: 'end' };
      return { kind: 'error', reason: 'invalid tar header (a zero block, then data)' };
    }
    if (parsed.kind === 'bad') return { kind: 'error', reason: parsed.reason };
    const h = parsed.header;
    if (h.type === 'x' || h.type === 'L' || h.type === 'K') {
      if (h.size > TAR_SPECIAL_MAX) return { kind: 'error', reason: `tar header field too long (${h.size} bytes of ${h.type} records)` };
      const data = await reader.read(h.size);
      if (data.length < h.size) return { kind: 'error', reason: UNEXPECTED_EOF };
      if (h.type === 'x') {
        const recs = parsePaxRecords(data);
        if (typeof recs === 'string') return { kind: 'error', reason: recs };
        pax = new Map([...(pax ?? []), ...recs]);
      } else if (h.type === 'L') {
        gnuName = longName(data);
      }
      const pad = tarPad(h.size);
      if ((await reader.read(pad)).length < pad) return { kind: 'error', reason: UNEXPECTED_EOF };
      continue;
    }
    let size = h.size;
    const paxSize = pax?.get('size');
    if (paxSize !== undefined) {
      if (!/^\d+$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) return { kind: 'error', reason: `invalid PAX size ${paxSize}` };
      size = Number(paxSize);
    }
    return { kind: 'entry', entry: { name: pax?.get('path') ?? gnuName ?? h.name, type: h.type, size } };
  }
}

/** Typeflags of entries with data: regular and contiguous files. */
const DATA_TYPES = new Set(['0', '7']);

interface RxState {
  ctx: Context;
  opts: BundleRxOptions;
  res: BundleResult;
  reader: BlockReader;
  selfId: string;
  maxNice: number;
  only: Set<string> | null;
}

/** Read a bundle from `opts.input` into the spool's rx queues. */
export async function bundleRx(ctx: Context, opts: BundleRxOptions): Promise<BundleResult> {
  const self = ctx.cfg.self;
  if (!self) throw new Error('bundle needs our own node (self) in the configuration');
  const res: BundleResult = { ok: true, packets: [], removed: [] };
  const reader = new BlockReader(opts.input);
  const st: RxState = {
    ctx,
    opts,
    res,
    reader,
    selfId: self.idB32,
    maxNice: opts.nice ?? 255,
    only: opts.nodes && opts.nodes.length > 0 ? new Set(opts.nodes.map((n) => n.idB32)) : null,
  };
  const tarFields: LogFields = [['XX', 'rx']];
  const tarMsg = 'Bundle transfer rx: reading tar';
  try {
    while (await reader.seek(PREFIX_BYTES)) {
      const dir = await nextEntry(reader);
      if (dir.kind === 'error') ctx.log.debug('bundle-rx-read-tar', [...tarFields, ['Err', dir.reason]], tarMsg);
      if (dir.kind !== 'entry') continue;
      if (dir.entry.type !== '5') {
        ctx.log.debug('bundle-rx-read-tar', [...tarFields, ['Err', `expected ${BUNDLE_PREFIX}/`]], tarMsg);
        continue;
      }
      const ent = await nextEntry(reader);
      if (ent.kind === 'error') ctx.log.debug('bundle-rx-read-tar', [...tarFields, ['Err', ent.reason]], tarMsg);
      if (ent.kind !== 'entry') continue;
      await rxEntry(st, ent.entry);
    }
  } finally {
    await reader.close();
  }
  return res;
}

/** Pass the next `size` bytes of the entry to `each` (views, valid during the call); false when the stream ends first. */
async function pump(reader: BlockReader, size: number, each: (chunk: Uint8Array) => Promise<void> | void): Promise<{ complete: boolean; got: number }> {
  let got = 0;
  while (got < size) {
    const chunk = await reader.readSome(Math.min(CHUNK, size - got));
    if (chunk.length === 0) return { complete: false, got };
    got += chunk.length;
    await each(chunk);
  }
  return { complete: true, got };
}

/** One entry that followed an "NNCP" directory: a packet, or something to skip. */
async function rxEntry(st: RxState, entry: TarEntry): Promise<void> {
  const { ctx, opts, res, reader } = st;
  const les: LogFields = [
    ['XX', 'rx'],
    ['Pkt', entry.name],
  ];
  const msg = `Bundle transfer rx/${entry.name}`;
  if (!DATA_TYPES.has(entry.type)) {
    ctx.log.debug('bundle-rx', [...les, ['Err', `not a file entry (type ${JSON.stringify(entry.type)})`]], msg);
    return;
  }
  if (entry.size < ENC_HEADER_SIZE) {
    ctx.log.debug('bundle-rx-too-small', les, `${msg}: too small packet`);
    return;
  }
  const name = path.posix.basename(entry.name);
  if (!isId(name)) {
    ctx.log.debug('bundle-rx', [...les, ['Err', 'bad packet name']], msg);
    return;
  }
  const view = await reader.read(ENC_HEADER_SIZE);
  if (view.length < ENC_HEADER_SIZE) {
    ctx.log.error('bundle-rx', les, `the stream ended after ${view.length} of its ${entry.size} bytes (a truncated bundle)`, msg);
    res.ok = false;
    return;
  }
  const head = Uint8Array.from(view);
  const verdict = judgeHeader(head);
  if (!verdict.ok) {
    ctx.log.debug('bundle-rx', [...les, ['Err', verdict.foreign ?? 'Bad packet structure']], msg);
    return;
  }
  if (verdict.nice > st.maxNice) {
    ctx.log.debug('bundle-rx-too-nice', les, `${msg}: too nice`);
    return;
  }
  if (verdict.sender === st.selfId && opts.delete) {
    await verifyOwn(st, entry, name, head, verdict.recipient, les, msg);
    return;
  }
  if (verdict.recipient !== st.selfId) {
    ctx.log.debug('nncp-bundle', les, `${msg}: unknown recipient`);
    return;
  }
  if (st.only && !st.only.has(verdict.sender)) {
    ctx.log.debug('bundle-rx-skip', les, `${msg}: sender is not requested`);
    return;
  }
  const sender = verdict.sender;
  const fields: LogFields = [
    ['XX', 'rx'],
    ['Node', sender],
    ['Pkt', name],
    ['FullSize', entry.size],
  ];
  const pktMsg = `Bundle transfer ${sender}/rx/${name}`;
  const neigh = ctx.cfg.neighbours.get(sender);
  if (!neigh) {
    ctx.log.info('bundle-rx-unknown', fields, `${pktMsg}: the sender is not a neighbour of ours, skipped`);
    return;
  }
  const dst = ctx.spool.packetPath(sender, 'rx', name);
  if (present(dst)) {
    ctx.log.debug('bundle-rx-exists', fields, `${pktMsg}: packet already exists`);
    return;
  }
  if (await ctx.spool.isSeen(sender, name)) {
    ctx.log.debug('bundle-rx-seen', fields, `${pktMsg}: packet already seen`);
    return;
  }
  if (await ctx.spool.isQuarantined(sender, name)) {
    // Same name, same bytes: it failed verification here before and would again.
    ctx.log.info('bundle-rx-quarantined', fields, `${pktMsg}: packet already in quarantine (pigeon check lists it, pigeon rm -quarantine removes it)`);
    return;
  }
  const taken = opts.dryRun ? await rxDry(st, entry, name, head, fields, pktMsg) : await rxWrite(st, entry, name, head, sender, fields, pktMsg);
  if (!taken) return;
  res.packets.push(name);
  ctx.log.info('bundle-rx', [...fields, ['Size', entry.size]], `Bundle transfer, received from ${neigh.name} ${name} (${iBytes(entry.size)})`);
}

function truncated(st: RxState, fields: LogFields, msg: string, got: number, size: number): void {
  st.ctx.log.error('bundle-rx', fields, `the stream ended after ${got} of its ${size} bytes (a truncated bundle); nothing was kept`, msg);
  st.res.ok = false;
}

/** -dryrun: read the packet through (hashing it with -check). True when it would be taken. */
async function rxDry(st: RxState, entry: TarEntry, name: string, head: Uint8Array, fields: LogFields, msg: string): Promise<boolean> {
  const mth = st.opts.check ? new MTH() : null;
  mth?.update(head);
  const bar = new Progress({ enabled: st.ctx.progress, label: `${mth ? 'check' : 'Rx'} ${shortId(name)}`, total: entry.size, initial: head.length });
  const r = await pump(st.reader, entry.size - head.length, (c) => {
    mth?.update(c);
    bar.add(c.length);
  });
  if (!r.complete) {
    truncated(st, fields, msg, head.length + r.got, entry.size);
    return false;
  }
  bar.finish();
  if (mth && base32Encode(mth.digest()) !== name) {
    st.ctx.log.error('bundle-rx', fields, 'bad checksum', msg);
    st.res.ok = false;
    return false;
  }
  return true;
}

/** Copy the packet into tmp/, verify it, commit it into rx/ with its hdr/ file. True when it is there. */
async function rxWrite(st: RxState, entry: TarEntry, name: string, head: Uint8Array, sender: string, fields: LogFields, msg: string): Promise<boolean> {
  const { ctx } = st;
  if (!(await ctx.spool.hasRoom(entry.size))) {
    ctx.log.error('bundle-rx', fields, 'not enough spool space', msg);
    st.res.ok = false;
    return false;
  }
  const mth = new MTH();
  const bar = new Progress({ enabled: ctx.progress, label: `Rx ${shortId(name)}`, total: entry.size });
  let tmp: TmpFile | null = null;
  try {
    tmp = await ctx.spool.tmpFile({ onStage: (s) => killpoint(`bundle-rx-${s}`) });
    const t = tmp;
    mth.update(head);
    await t.writeAt(head, 0);
    bar.add(head.length);
    let pos = head.length;
    const r = await pump(st.reader, entry.size - head.length, async (c) => {
      mth.update(c);
      await t.writeAt(c, pos);
      pos += c.length;
      bar.add(c.length);
      if (pos < entry.size) killpoint('bundle-rx-copying');
    });
    if (!r.complete) {
      await t.abort();
      truncated(st, fields, msg, pos, entry.size);
      return false;
    }
    bar.finish();
    if (base32Encode(mth.digest()) !== name) {
      await t.abort();
      ctx.log.error('bundle-rx', fields, 'bad checksum', msg);
      st.res.ok = false;
      return false;
    }
    await t.commit(ctx.spool.packetPath(sender, 'rx', name));
  } catch (err) {
    await tmp?.abort();
    ctx.log.error('bundle-rx', fields, errorLine(err), msg);
    st.res.ok = false;
    return false;
  }
  if (!ctx.spool.noHdr) {
    await ctx.spool.writeHdr(sender, 'rx', name, head).catch((err) => {
      ctx.log.error('hdr-write', [['Pkt', name]], errorLine(err), 'Header writing');
      st.res.ok = false; // the packet is in rx/ (toss reads its header from it), but the spool lacks what was asked
    });
  }
  return true;
}

/** -rx -delete: one of our own packets in the stream; remove our queued copy if the stream's is intact. */
async function verifyOwn(st: RxState, entry: TarEntry, name: string, head: Uint8Array, recipient: string, les: LogFields, msg: string): Promise<void> {
  const { ctx, opts, res } = st;
  if (st.only && !st.only.has(recipient)) {
    ctx.log.debug('bundle-tx-skip', les, `${msg}: recipient is not requested`);
    return;
  }
  const fields: LogFields = [
    ['XX', 'tx'],
    ['Node', recipient],
    ['Pkt', name],
  ];
  const txMsg = `Bundle transfer ${nodeName(ctx, recipient)}/tx/${name}`;
  if (!(present(ctx.spool.packetPath(recipient, 'tx', name)))) {
    ctx.log.debug('bundle-tx-missing', fields, `${txMsg}: packet is already missing`);
    return;
  }
  const mth = new MTH();
  mth.update(head);
  const bar = new Progress({ enabled: ctx.progress, label: `Rx ${shortId(name)}`, total: entry.size, initial: head.length });
  const r = await pump(st.reader, entry.size - head.length, (c) => {
    mth.update(c);
    bar.add(c.length);
  });
  if (!r.complete) {
    truncated(st, fields, txMsg, head.length + r.got, entry.size);
    return;
  }
  bar.finish();
  if (base32Encode(mth.digest()) !== name) {
    ctx.log.error('bundle-tx', fields, 'bad checksum', txMsg);
    res.ok = false;
    return;
  }
  ctx.log.info('bundle-tx-removed', fields, `${txMsg}: removed`);
  res.removed.push(name);
  if (opts.dryRun) return;
  killpoint('bundle-rx-delete');
  try {
    await ctx.spool.removePacket(recipient, 'tx', name);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return; // removed meanwhile (another check of the same stream)
    ctx.log.error('bundle-tx-remove', fields, errorLine(err), `${txMsg}: removing`);
    res.ok = false;
  }
}
