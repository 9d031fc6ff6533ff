/**
 * Tossing: processing the packets that arrived in our rx queues (manual:
 * nncp-toss). For each neighbour (or the one asked for), under its "toss"
 * lock, packets are taken most urgent first; each is decrypted as a stream,
 * its sender authenticated, and its payload handed to the handler of its
 * type (file, freq, exec, trns, area, ack). A packet handled successfully is
 * removed with its hdr/ file (after an rx/seen/ marker with doSeen; a big
 * one by way of the spool's trash, freed after the queue's run:
 * spool/trash.ts); one
 * that is refused or fails is logged with the reference's Who and fields
 * and stays queued; the rest of the queue is processed either way.
 *
 * As the reference does, our own outbound queue to ourselves (where
 * messages to areas wait, addressed to self) is tossed too, for area and
 * ack packets only.
 *
 * Beyond the reference: a packet that already has an rx/seen/ marker is a
 * duplicate of one tossed before and is removed without being delivered
 * again; a failure to take a lock counts as a failure, except a lock held by
 * another toss (logged with one line; as nncp-toss, not a failure).
 *
 * Exactly once across a kill (README: Crash consistency): each delivery
 * from rx/ keeps a record (spool/delivery.ts) from before its side effect
 * until after the packet's removal. A packet whose record says "done" is
 * only removed; the file and exec handlers read the other states. The
 * records of packets that left rx/ are swept (with their debris in
 * incoming/) when the queue is next tossed.
 *
 * A packet whose stream fails verification (a block that does not
 * authenticate, truncated, bytes after its end) is moved to rx/quarantine/
 * (spool/quarantine.ts) instead of staying queued: it can never become
 * valid.
 */
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import { nodeById } from '../config/types.js';
import type { Context } from '../context.js';
import { ConfigError, PigeonError } from '../errors.js';
import { iBytes } from '../format.js';
import type { LogFields } from '../log/log.js';
import { formatNice } from '../nice.js';
import { CT_BLOCK_SIZE, decryptPacket, openPlain, type FileInput } from '../packet/encrypted.js';
import { ENC_HEADER_SIZE, PKT_TYPE_NAMES, PktType } from '../packet/header.js';
import { listDeliveries, readDelivery, removeDelivery, SpareRecords, sweepDeliveries } from '../spool/delivery.js';
import { quarantinePacket } from '../spool/quarantine.js';
import type { Job, Queue } from '../spool/spool.js';
import { tossAck } from './ack.js';
import { tossArea } from './area.js';
import {
  checkAbort,
  noteDelivery,
  pktSizeWithoutEnc,
  TossAborted,
  TossFailure,
  watchIntegrity,
  withFields,
  type DeliveryRef,
  type Outcome,
  type TossOptions,
  type Tossing,
  type TossRun,
} from './common.js';
import { tossExec } from './exec.js';
import { tossFile } from './file.js';
import { tossFreq } from './freq.js';
import { killpoint } from '../killpoint.js';
import { tossTrns } from './trns.js';
import { TossWindow } from './window.js';
import { listDirOrEmpty, pooled } from '../spool/atomic.js';
import { isId } from '../spool/layout.js';
import { manyPackets } from '../stream/reclaim.js';
import { autoAck, plainTypeOf } from '../tx/ack.js';

export type { TossOptions, TossSwitches } from './common.js';

export interface TossResult {
  /** False when any packet failed or was refused, or a queue could not be locked (one busy with another toss is not a failure). */
  ok: boolean;
  /** Packets delivered (or, in a dry run, found deliverable) and removed. */
  tossed: number;
  /** Packets refused or failed (they stay queued). */
  failed: number;
  /** A queue was skipped because another toss held its lock. */
  busy?: boolean;
}

/** What became of one packet. */
export type PacketResult = 'done' | 'skipped' | 'failed';

/**
 * A line for a spool that does not exist before a toss (a mistyped -spool
 * or $NNCPSPOOL, a spool on a disk not mounted): the reference creates it
 * and tosses nothing, successfully. Null when it exists.
 */
export async function missingSpoolNote(ctx: Context): Promise<string | null> {
  try {
    await pooled<fs.Stats>((cb) => fs.stat(ctx.spool.root, cb));
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    return `spool ${ctx.spool.root} does not exist: nothing to toss; check -spool, $NNCPSPOOL or the spool key of ${ctx.cfg.path}`;
  }
}

/** Toss the rx queue of every neighbour (or opts.node), and our area/ack queue to ourselves. */
export async function tossAll(ctx: Context, opts: TossOptions = {}): Promise<TossResult> {
  const self = ctx.cfg.self;
  if (!self) throw new ConfigError(`${ctx.cfg.path}: no self section with private keys: cannot toss`);
  const total: TossResult = { ok: true, tossed: 0, failed: 0 };
  const ids = opts.node ? [opts.node.idB32] : [...ctx.cfg.neighbours.keys()];
  for (const id of ids) {
    if (opts.signal?.aborted) break;
    add(total, await tossNode(ctx, id, opts));
  }
  return total;
}

/** Toss one node's rx queue (and, for ourselves, our area/ack queue to ourselves). */
export async function tossNode(ctx: Context, id: string, opts: TossOptions = {}): Promise<TossResult> {
  const total: TossResult = { ok: true, tossed: 0, failed: 0 };
  add(total, await tossQueue(ctx, id, 'rx', opts));
  if (id === ctx.cfg.self?.idB32 && !opts.signal?.aborted) {
    add(total, await tossQueue(ctx, id, 'tx', { ...opts, doSeen: false, noFile: true, noFreq: true, noExec: true, noTrns: true }));
  }
  return total;
}

function add(total: TossResult, r: TossResult): void {
  total.ok &&= r.ok;
  total.tossed += r.tossed;
  total.failed += r.failed;
  if (r.busy) total.busy = true;
}

/**
 * Toss again every `seconds` until `opts.signal` fires (as -cycle does).
 * Returns whether the last round went without failures.
 */
export async function tossCycle(ctx: Context, opts: TossOptions, seconds: number): Promise<boolean> {
  let last = true;
  while (!opts.signal?.aborted) {
    last = (await tossAll(ctx, opts)).ok;
    await sleep(seconds * 1000, opts.signal);
  }
  return last;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Whether a queue has neither a packet to toss nor anything to sweep (a
 * delivery record or spare in rx/delivery/). Such a queue is left without
 * taking its lock: the toss cron runs all day over empty queues, and a lock
 * costs it fs-ext's native addon and a lock file per node. A packet that
 * lands after this look waits for the next toss, as one landing after the
 * toss would. Any error but a missing directory says "not idle": the usual
 * path then meets it and reports it.
 */
async function idleQueue(ctx: Context, nodeIdB32: string, xx: Queue): Promise<boolean> {
  const names = (dir: string): Promise<string[] | null> => listDirOrEmpty(dir).catch(() => null);
  const queued = await names(ctx.spool.queueDir(nodeIdB32, xx));
  if (queued === null || queued.some(isId)) return false;
  if (xx !== 'rx') return true;
  const records = await names(ctx.spool.deliveryDir(nodeIdB32));
  return records !== null && records.length === 0;
}

/** Toss one queue of one node under its "toss" lock. */
async function tossQueue(ctx: Context, nodeIdB32: string, xx: Queue, opts: TossOptions = {}): Promise<TossResult> {
  const result: TossResult = { ok: true, tossed: 0, failed: 0 };
  if (await idleQueue(ctx, nodeIdB32, xx)) return result;
  let lock;
  try {
    lock = await ctx.spool.lock(nodeIdB32, 'toss');
  } catch (err) {
    const p = ctx.spool.lockPath(nodeIdB32, 'toss');
    const busy = err instanceof PigeonError && err.code === 'ELOCKED';
    const why = busy ? 'resource temporarily unavailable: another toss (nncp or pigeon) is running' : err;
    ctx.log.error('lockdir-flock', [['Path', p]], why, `Locking directory: locking ${p}`);
    // Another toss has this queue: its work, not a failure (nncp-toss exits 0 too, and cron mails nothing).
    if (!busy) result.ok = false;
    else result.busy = true;
    return result;
  }
  try {
    const run: TossRun = { realIncoming: new Map(), recorded: null };
    if (xx === 'rx' && !opts.dryRun) {
      run.recorded = await sweep(ctx, nodeIdB32);
      run.spares = new SpareRecords(ctx.spool.deliveryDir(nodeIdB32));
    }
    if (!opts.dryRun) run.trash = ctx.spool.trash();
    const maxNice = opts.nice ?? 255;
    const { jobs, skipped } = await ctx.spool.scan(nodeIdB32, xx);
    if (jobs.length >= MANY_JOBS) manyPackets();
    for (const s of skipped) {
      ctx.log.error('job', [['XX', xx], ['Name', s.name]], s.reason, `Job ${xx}/${s.name}`);
      result.ok = false;
      result.failed++;
    }
    const window = new TossWindow(TOSS_WINDOW);
    try {
      for (const job of jobs) {
        if (opts.signal?.aborted) break;
        if (job.nice > maxNice) {
          ctx.log.debug('rx-too-nice', baseFields(job), `Tossing ${senderName(ctx, job)}/${job.id}: too nice: ${formatNice(job.nice)}`);
          continue;
        }
        await window.start(async (alone) => {
          if (!isSmall(job)) await alone(); // a big packet gains nothing from company, and would hold batch buffers meanwhile
          const r = await tossPacket(ctx, job, { ...opts, queue: xx, queueNode: nodeIdB32, run, alone });
          if (r === 'done') result.tossed++;
          if (r === 'failed') {
            result.failed++;
            result.ok = false;
          }
        });
      }
    } finally {
      try {
        await window.finish();
      } finally {
        run.spares?.drop();
        await run.trash?.empty();
      }
    }
  } finally {
    lock.release();
  }
  return result;
}

/**
 * Remove the delivery records (and incoming/ debris) of packets that left
 * the queue. Returns the packets that still have one (null when that
 * cannot be told).
 */
async function sweep(ctx: Context, nodeIdB32: string): Promise<Set<string> | null> {
  try {
    for (const p of await sweepDeliveries(ctx.spool, nodeIdB32)) ctx.log.debug('rx-sweep', [['Path', p]], `Sweeping: ${p}: removed`);
  } catch (err) {
    const dir = ctx.spool.deliveryDir(nodeIdB32);
    ctx.log.error('rx-sweep', [['Path', dir]], err, `Sweeping ${dir}`);
  }
  try {
    return new Set(await listDeliveries(ctx.spool, nodeIdB32));
  } catch {
    return null;
  }
}

function baseFields(job: Job): LogFields {
  return [
    ['Node', job.sender],
    ['Pkt', job.id],
    ['Nice', job.nice],
  ];
}

function senderName(ctx: Context, job: Job): string {
  return ctx.cfg.neighbours.get(job.sender)?.name ?? job.sender;
}

export interface PacketOptions extends TossOptions {
  /** The queue the packet is in (default rx) and whose directory it is in (default its sender's). */
  queue?: Queue;
  queueNode?: string;
  /** What the toss of the queue caches across its packets. */
  run?: TossRun;
  /** Called, once the packet's type is known, by any packet but a file: waits to run alone (window.ts). */
  alone?: () => Promise<void>;
}

/** File packets of a queue delivered at once (window.ts). */
const TOSS_WINDOW = 8;

/** A queue this long makes a toss say manyPackets() (reclaim.ts): the young-generation limit pays for node:v8's load. */
const MANY_JOBS = 32;

/**
 * Toss one queued packet. Failures are logged (never thrown, except for a
 * configuration without private keys); the packet then stays queued.
 */
async function tossPacket(ctx: Context, job: Job, opts: PacketOptions = {}): Promise<PacketResult> {
  const self = ctx.cfg.self;
  if (!self) throw new ConfigError(`${ctx.cfg.path}: no self section with private keys: cannot toss`);
  // The private keys' check runs at their first read (config/validate.ts): here, so a key that is
  // not its node's fails the run with that ConfigError rather than each packet.
  void self.exchPrv;
  const queue = opts.queue ?? 'rx';
  const queueNode = opts.queueNode ?? job.sender;
  const name = senderName(ctx, job);
  const fields0 = baseFields(job);

  if (queue === 'rx' && (await ctx.spool.isSeen(queueNode, job.id))) {
    // Arrived again after it was seen: its ACK may have been lost on the way.
    if (opts.genAck && !opts.dryRun && !(await reAck(ctx, opts, job, queueNode, fields0, name))) return 'failed';
    if (!opts.dryRun) {
      try {
        await ctx.spool.remove(job, { trash: opts.run?.trash });
        await removeDelivery(ctx.spool, queueNode, job.id);
      } catch (err) {
        ctx.log.error('rx-remove', fields0, err, `Tossing ${name}/${job.id}: already seen: removing`);
        return 'failed';
      }
    }
    ctx.log.info('rx-seen', fields0, `Tossing ${name}/${job.id}: already seen${opts.dryRun ? '' : ', removed as a duplicate'}`);
    return 'done';
  }

  const sender = ctx.cfg.neighbours.get(job.sender);
  if (!sender) {
    ctx.log.error('rx-open', fields0, 'unknown node', `Tossing ${name}/${job.id}`);
    return 'failed';
  }
  const size = pktSizeWithoutEnc(job.size);
  let delivery: DeliveryRef | undefined;
  if (queue === 'rx' && !opts.dryRun) {
    try {
      const none = opts.run?.recorded && !opts.run.recorded.has(job.id);
      delivery = { nodeIdB32: queueNode, pktId: job.id, record: none ? null : await readDelivery(ctx.spool, queueNode, job.id) };
    } catch (err) {
      ctx.log.error('rx-record', fields0, err, `Tossing ${name}/${job.id}: reading its delivery record`);
      return 'failed';
    }
  }
  for (;;) {
    let file: PacketFile;
    try {
      file = await openPacket(job);
    } catch (err) {
      ctx.log.error('rx-unmarshal', fields0, err, `Tossing ${name}/${job.id}: unmarshal`);
      return 'failed';
    }
    try {
      let t: Tossing;
      try {
        const dec = await decryptPacket({ self, lookup: (id) => nodeById(ctx.cfg, id), input: file.input, what: `packet ${job.id}`, borrow: true });
        const { plain, body } = await openPlain(watchIntegrity(dec.plaintext, delivery), `packet ${job.id}`);
        const fields = withFields(fields0, ['Size', size]);
        t = { ctx, opts, origin: sender, pktName: job.id, nice: job.nice, size, fields, plain, body, job: { path: job.path, nodeIdB32: queueNode, id: job.id }, delivery, run: opts.run };
      } catch (err) {
        ctx.log.error('rx-unmarshal', fields0, err, `Tossing ${name}/${job.id}: unmarshal`);
        if (delivery?.corrupt) await quarantine(ctx, job, delivery, fields0, name);
        return 'failed';
      }
      if (t.plain.type !== PktType.File) await opts.alone?.();
      ctx.log.debug('rx', t.fields, `Tossing ${name}/${job.id} (${iBytes(size)})`);
      let outcome: Outcome;
      try {
        outcome = delivery?.record?.state === 'done' ? await deliveredBefore(t) : await dispatch(t);
      } catch (err) {
        logFailure(ctx, t, err);
        if (delivery?.corrupt) await quarantine(ctx, job, delivery, t.fields, name);
        return 'failed';
      }
      if (outcome === 'repeat') continue;
      if (outcome === 'skipped') return 'skipped';
      if (!(await recordDone(t))) return 'failed';
      if (opts.genAck && queue === 'rx' && !opts.dryRun && t.plain.type !== PktType.Ack && !(await genAck(ctx, opts, queueNode, job.id, t.fields, name))) return 'failed';
      return (await finish(ctx, t, job, opts)) ? 'done' : 'failed';
    } finally {
      await file.close();
    }
  }
}

/** A packet that decryption reads whole with its first read (one block). */
function isSmall(job: Job): boolean {
  return job.size < ENC_HEADER_SIZE + CT_BLOCK_SIZE;
}

interface PacketFile {
  input: FileInput;
  close(): Promise<void>;
}

/**
 * Open a queued packet for decryption. One that fits in decryption's first
 * read, the common small one, is read synchronously to its end
 * (encrypted.ts fileSource), so it is opened and closed synchronously too:
 * no thread-pool round trip per packet (spool/atomic.ts says why). A
 * bigger one goes through a FileHandle, whose close waits for reads still
 * in flight.
 */
async function openPacket(job: Job): Promise<PacketFile> {
  if (isSmall(job)) {
    const fd = fs.openSync(job.path, 'r');
    return { input: { file: fd, start: 0 }, close: async () => fs.closeSync(fd) };
  }
  const fh = await open(job.path, 'r');
  return { input: { file: fh }, close: () => fh.close() };
}

/**
 * -gen-ack: queue an automatic ACK of a tossed packet to the neighbour it
 * came from (before the packet is removed: a kill in between ACKs it again
 * on the next toss, which is harmless). Kill point: toss-acked.
 */
async function genAck(ctx: Context, opts: TossOptions, nodeIdB32: string, pktId: string, fields: LogFields, name: string): Promise<boolean> {
  const node = ctx.cfg.neighbours.get(nodeIdB32);
  if (!node || nodeIdB32 === ctx.cfg.self?.idB32) return true; // nothing to free in our own queue
  try {
    await autoAck(ctx, node, pktId);
  } catch (err) {
    ctx.log.error('rx-gen-ack', fields, err, `Tossing ${name}/${pktId}: generating ACK`);
    return false;
  }
  opts.onAckSent?.(nodeIdB32, pktId);
  killpoint('toss-acked');
  return true;
}

/** A packet seen before is in rx/ again: ACK it again unless it is an ACK itself. */
async function reAck(ctx: Context, opts: TossOptions, job: Job, nodeIdB32: string, fields: LogFields, name: string): Promise<boolean> {
  let type: PktType;
  try {
    type = await plainTypeOf(ctx, job.path);
  } catch (err) {
    ctx.log.error('rx-gen-ack', fields, err, `Tossing ${name}/${job.id}: already seen: reading it to ACK it again`);
    return false;
  }
  return type === PktType.Ack || genAck(ctx, opts, nodeIdB32, job.id, fields, name);
}

/** A packet whose record says it was delivered by a toss killed before removing it: only removed now. */
async function deliveredBefore(t: Tossing): Promise<Outcome> {
  await t.body.return(undefined);
  const kind = t.delivery!.record!.kind;
  t.ctx.log.info('rx-delivered', withFields(t.fields, ['Type', kind]), `Tossing ${t.origin.name}/${t.pktName}: ${kind} delivered before (by a toss that stopped before removing the packet): removing`);
  return 'done';
}

/**
 * After a handler succeeded: the "done" record, before the packet goes. A
 * file's "placing" record already says as much (toss/file.ts), an ack is
 * idempotent. Kill points: toss-handled (before), toss-delivered (after).
 */
async function recordDone(t: Tossing): Promise<boolean> {
  killpoint('toss-handled');
  const ref = t.delivery;
  const type = t.plain.type;
  if (ref && ref.record?.state !== 'done' && type !== PktType.File && type !== PktType.Ack) {
    try {
      await noteDelivery(t, { kind: PKT_TYPE_NAMES[type], state: 'done' });
    } catch (err) {
      t.ctx.log.error('rx-record', t.fields, err, `Tossing ${t.origin.name}/${t.pktName} (${iBytes(t.size)}): recording the delivery`);
      return false;
    }
  }
  killpoint('toss-delivered');
  return true;
}

/** Move a packet that failed verification to rx/quarantine/ (and drop its delivery record). */
async function quarantine(ctx: Context, job: Job, ref: DeliveryRef, fields: LogFields, name: string): Promise<void> {
  const prefix = `Tossing ${name}/${job.id}: failed verification`;
  try {
    const q = await quarantinePacket(ctx.spool, ref.nodeIdB32, job.id);
    await removeDelivery(ctx.spool, ref.nodeIdB32, job.id);
    ctx.log.error('rx-quarantine', withFields(fields, ['Path', q]), ref.corrupt, `${prefix}: moved to ${q}, never to be tossed again`);
  } catch (err) {
    ctx.log.error('rx-quarantine', fields, err, `${prefix}: moving to quarantine`);
  }
}

/** After a successful handling: the seen/ marker (-seen), then remove the packet and its hdr/, then its record. */
async function finish(ctx: Context, t: Tossing, job: Job, opts: PacketOptions): Promise<boolean> {
  if (opts.dryRun) return true;
  const prefix = `Tossing ${t.origin.name}/${job.id} (${iBytes(t.size)})`;
  if (opts.doSeen && t.plain.type !== PktType.Area) {
    try {
      await ctx.spool.markSeen(t.job!.nodeIdB32, job.id);
    } catch (err) {
      ctx.log.error('rx-dirsync', t.fields, err, `${prefix}: marking seen`);
      return false;
    }
    killpoint('toss-seen');
  }
  try {
    if ((await ctx.spool.remove(job, { trash: t.run?.trash })) === 'trashed') killpoint('toss-trashed');
  } catch (err) {
    ctx.log.error('rx-remove', t.fields, err, `${prefix}: removing`);
    return false;
  }
  if (t.delivery) {
    killpoint('toss-removed');
    // A record left behind by a failure here goes with the next sweep.
    await removeDelivery(ctx.spool, t.delivery.nodeIdB32, job.id, t.run?.spares).catch(() => {});
  }
  return true;
}

function logFailure(ctx: Context, t: Tossing, err: unknown): void {
  if (err instanceof TossFailure) {
    ctx.log.error(err.who, err.fields, err.err, err.human, err.hint);
  } else if (err instanceof TossAborted) {
    ctx.log.error('rx', t.fields, 'interrupted', `Tossing ${t.origin.name}/${t.pktName}`);
  } else {
    ctx.log.error('rx', t.fields, err, `Tossing ${PKT_TYPE_NAMES[t.plain.type]} ${t.origin.name}/${t.pktName} (${iBytes(t.size)})`);
  }
}

/** Hand a decrypted packet to the handler of its type, unless that type is switched off. */
export async function dispatch(t: Tossing): Promise<Outcome> {
  const o = t.opts;
  checkAbort(o.signal);
  switch (t.plain.type) {
    case PktType.File:
      return o.noFile ? skip(t) : tossFile(t);
    case PktType.Freq:
      return o.noFreq ? skip(t) : tossFreq(t);
    case PktType.Exec:
    case PktType.ExecFat:
      return o.noExec ? skip(t) : tossExec(t);
    case PktType.Trns:
      return o.noTrns ? skip(t) : tossTrns(t);
    case PktType.Area:
      return o.noArea ? skip(t) : tossArea(t, deliverFromArea);
    case PktType.Ack:
      return o.noAck ? skip(t) : tossAck(t);
    default:
      throw new TossFailure('rx-type-unknown', t.fields, 'unknown type', `Tossing ${t.origin.name}/${t.pktName} (${iBytes(t.size)})`);
  }
}

async function skip(t: Tossing): Promise<Outcome> {
  await t.body.return(undefined);
  return 'skipped';
}

/** The payload of an area message: files and execs only (relaying and acks make no sense from an area). */
async function deliverFromArea(inner: Tossing): Promise<Outcome> {
  const type = inner.plain.type;
  if (type === PktType.Trns || type === PktType.Area || type === PktType.Ack) {
    await inner.body.return(undefined);
    const what = PKT_TYPE_NAMES[type];
    throw new TossFailure('rx-area', withFields(inner.fields, ['Type', what]), `${what} packets are not accepted from an area`, `Tossing ${inner.origin.name}/${inner.pktName} (${iBytes(inner.size)})`);
  }
  return dispatch(inner);
}
