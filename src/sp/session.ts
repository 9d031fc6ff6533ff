/**
 * One online session of NNCP's synchronization protocol (manual: Sync), on
 * top of an established Noise transport, the same for caller and daemon.
 * Both directions run at once:
 *
 *   - our first payload carries INFO for each of our tx packets for the
 *     peer with niceness <= ours (none with -rx), the rest follows first
 *     thing in the transport phase; packets queued while the session lives
 *     are announced with INFO too (filesystem watch, checked every second);
 *   - on INFO: a packet we already have in rx/ or rx/seen/ is answered with
 *     DONE, one waiting in .nock is left alone, otherwise FREQ from the size
 *     of its .part (resume);
 *   - on FREQ: the packet is queued for sending (most urgent first); FILE
 *     chunks are sent whenever nothing else waits (INFO/FREQ/DONE first);
 *   - on FILE: the chunk is written into rx/<PKT>.part at its offset; a
 *     complete file is fsynced and becomes rx/<PKT> only after its MTH
 *     matched (hashed as it arrived; a resumed one is renamed to .nock and
 *     its beginning hashed in the background), then DONE goes to the peer;
 *     with -nock it stays <PKT>.nock for `check -nock`;
 *   - on DONE: our tx copy and its hdr/ file are removed; on HALT the
 *     peer's requests are forgotten;
 *   - PING after a minute without sending; the session ends when nothing but
 *     PINGs went either way for `onlinedeadline` seconds, after
 *     `maxonlinetime`, after two minutes of silence from the peer, or when
 *     a write stays blocked for NNCPDEADLINE (10) seconds. Unlike the
 *     reference, time spent finishing a received packet (fsync, rename) or
 *     checksumming one whose DONE the peer awaits is not idleness, so a
 *     short onlinedeadline does not cut the DONE off (maxonlinetime still
 *     applies).
 *
 * Log records use the reference's Who values and fields (sp-infos-tx,
 * sp-info, sp-file-done, sp-done, ...), so nncp-log shows them the same.
 */
import fs, { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { base32Decode, base32Encode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { MTH, mthOfFile } from '../crypto/mth.js';
import { PigeonError } from '../errors.js';
import { iBytes } from '../format.js';
import type { LogFields, LogValue } from '../log/log.js';
import { formatNice } from '../nice.js';
import { decodeEncHeader, ENC_HEADER_SIZE } from '../packet/header.js';
import { Progress } from '../progress.js';
import { ensureDir, fsyncDir, syncDisabled } from '../spool/atomic.js';
import type { SpoolLock } from '../spool/lock.js';
import { isId, NOCK_SUFFIX, PART_SUFFIX, readHead } from '../spool/spool.js';
import { decodeSpPackets, encodeSpPackets, groupPayloads, SP_FILE_OVERHEAD, SP_MAX_FILE_CHUNK, SP_MAX_PAYLOAD, SpType, type SpPacket } from './packets.js';

/** What a session needs from the Noise layer (src/sp/handshake.ts's SpTransport). */
export interface SessionTransport {
  /** The peer's first payload, from the handshake (processed first thing). */
  peerFirstPayload: Uint8Array;
  /** Resolves once the link took the payload; rejects when a write stays blocked for NNCPDEADLINE. */
  send(payload: Uint8Array): Promise<void>;
  receive(): Promise<Uint8Array | null>;
  close(): void;
  /** Bytes of whole frames so far, handshake included. */
  readonly rxBytes: number;
  readonly txBytes: number;
}

/** Bytes of file data in one FILE packet: the largest payload less the packet's own fields. */
export const FILE_CHUNK = SP_MAX_FILE_CHUNK;
const PING_EVERY_MS = 60_000;
/** Deadlines are checked this often (the reference: every second). */
const TICK_MS = 250;
const SILENCE_MS = 2 * PING_EVERY_MS;
/** A noticed change in tx/ is announced after this many ms (changes arriving together make one scan). */
const WATCH_SETTLE_MS = 200;


export interface SessionParams {
  ctx: Context;
  node: Neighbour;
  /** Only packets with niceness <= nice go either way (except with listOnly). */
  nice: number;
  /** Only receive ('rx') or only transmit ('tx'). */
  xx?: 'rx' | 'tx';
  /** Only list the peer's packets (no locks, no transfers). */
  listOnly?: boolean;
  /** Only request these packets (Base32 ids). */
  onlyPkts?: Set<string>;
  noCK: boolean;
  /** Packets per second, 0 = unlimited. */
  rxRate: number;
  txRate: number;
  /** Seconds. */
  onlineDeadline: number;
  /** Seconds, 0 = unlimited. */
  maxOnlineTime: number;
}

/** Locks and our first INFOs, taken before the handshake answers. */
export interface Prepared {
  locks: SpoolLock[];
  /** Our announced packets: id → niceness. */
  seen: Map<string, number>;
  /** Our INFO packets, grouped into payloads of at most SP_MAX_PAYLOAD bytes. */
  infoPayloads: Uint8Array[];
  release(): void;
}

export interface SessionResult {
  /** Nothing was left half-sent or half-received. */
  ok: boolean;
  durationSec: number;
  rxBytes: number;
  txBytes: number;
  rxSpeed: number;
  txSpeed: number;
}

// ---- preparation (the responder does it between the caller's handshake message and its answer) ----

interface TxEntry {
  id: string;
  size: number;
  nice: number;
}

/** INFO packets for our new tx packets (recorded in `seen`), logging sp-infos-tx as the reference does. */
function infosOur(ctx: Context, node: Neighbour, jobs: TxEntry[], seen: Map<string, number>): Uint8Array[] {
  const pkts: Uint8Array[] = [];
  let total = 0;
  for (const j of jobs) {
    if (seen.has(j.id)) continue;
    seen.set(j.id, j.nice);
    total += j.size;
    pkts.push(encodeSpPackets([{ t: 'info', nice: j.nice, size: j.size, hash: idBytes(j.id) }]));
    ctx.log.debug('sp-info-our', [['Node', node.idB32], ['Name', j.id], ['Size', j.size]], `Our info: ${node.name}/tx/${j.id} (${iBytes(j.size)})`);
  }
  if (total > 0) {
    ctx.log.info(
      'sp-infos-tx',
      [['XX', 'tx'], ['Node', node.idB32], ['Pkts', pkts.length], ['Size', total]],
      `We have got for ${node.name}: ${pkts.length} packets, ${iBytes(total)}`,
    );
  }
  return pkts;
}

/** The 32 bytes of a packet id (a name that passed isId). */
function idBytes(id: string): Uint8Array {
  const b = base32Decode(id);
  if (b === null || b.length !== 32) throw new RangeError(`${id} is not a packet id`);
  return b;
}

/**
 * Take the node's rx/tx locks (as the reference: rx unless -tx or -list, tx
 * unless -rx or -list) and collect our INFOs. The daemon does this after
 * reading the caller's handshake message and before answering it, so a
 * second session with a node is refused there. Throws (after logging the
 * reference's lockdir-flock record) when a lock is held.
 */
export async function prepareSession(p: SessionParams): Promise<Prepared> {
  const { ctx, node } = p;
  await ensureDir(ctx.spool.queueDir(node.idB32, 'rx'), ctx.spool.dirMode);
  const locks: SpoolLock[] = [];
  const release = (): void => {
    for (const l of locks.splice(0)) l.release();
  };
  const wanted: ('rx' | 'tx')[] = p.listOnly ? [] : p.xx === 'rx' ? ['rx'] : p.xx === 'tx' ? ['tx'] : ['rx', 'tx'];
  for (const which of wanted) {
    try {
      locks.push(await ctx.spool.lock(node.idB32, which));
    } catch (err) {
      release();
      const lp = ctx.spool.lockPath(node.idB32, which);
      const busy = err instanceof PigeonError && err.code === 'ELOCKED';
      ctx.log.error('lockdir-flock', [['Path', lp]], busy ? 'resource temporarily unavailable' : err, `Locking directory: locking ${lp}`);
      throw err;
    }
  }
  const seen = new Map<string, number>();
  let infoPayloads: Uint8Array[] = [];
  if (wanted.includes('tx')) {
    try {
      const jobs = await ctx.spool.list(node.idB32, 'tx', { nice: p.nice });
      infoPayloads = groupPayloads(infosOur(ctx, node, jobs, seen));
    } catch (err) {
      release();
      throw err;
    }
  }
  return { locks, seen, infoPayloads, release };
}

// ---- background checksumming (one at a time per process, like the reference's checker) ----

interface CheckTask {
  ctx: Context;
  node: Neighbour;
  pktId: string;
  /** A hasher fed with the data from the resume offset on; null: hash the whole file. */
  mth: MTH | null;
  onGood: () => void;
  /** Called when the check is over, good or bad. */
  onEnd: () => void;
}

const checkTasks: CheckTask[] = [];
let checkRunner: Promise<void> | null = null;

function enqueueCheck(t: CheckTask): void {
  checkTasks.push(t);
  if (checkRunner === null) {
    checkRunner = (async () => {
      for (let task = checkTasks.shift(); task; task = checkTasks.shift()) {
        try {
          await runCheck(task);
        } finally {
          task.onEnd();
        }
      }
    })().finally(() => {
      checkRunner = null;
    });
  }
}

/** Resolves once every queued background check has finished. */
export async function checksDone(): Promise<void> {
  while (checkRunner !== null) await checkRunner;
}

async function runCheck(t: CheckTask): Promise<void> {
  const { ctx, node, pktId } = t;
  const rxDir = ctx.spool.queueDir(node.idB32, 'rx');
  const final = path.join(rxDir, pktId);
  const nock = final + NOCK_SUFFIX;
  const fields: [string, LogValue][] = [['XX', 'rx'], ['Node', node.idB32], ['Pkt', pktId]];
  ctx.log.debug('sp-checker', fields, `Checksumming ${node.name}/rx/${pktId}`);
  let size = 0;
  try {
    size = (await fsp.stat(nock)).size;
    let digest: Uint8Array;
    if (t.mth === null) {
      digest = await mthOfFile(nock);
    } else {
      const mth = t.mth;
      const fh = await fsp.open(nock, 'r');
      try {
        await mth.preaddFrom(readChunks(fh, 0, mth.prefixSize));
      } finally {
        await fh.close();
      }
      digest = mth.digest();
    }
    if (base32Encode(digest) !== pktId) throw new Error('checksum mismatch');
    await fsp.rename(nock, final);
    await fsyncDir(rxDir, ctx.spool.noSync);
    if (!ctx.spool.noHdr) await writeHdrFrom(ctx, node, final, pktId);
  } catch (err) {
    ctx.log.error('sp-checker', [...fields, ['Size', 0]], err, `Checksumming ${node.name}/rx/${pktId} (${iBytes(0)})`);
    return;
  }
  ctx.log.info('sp-checker-done', [...fields, ['Size', size]], `Packet ${pktId} is retreived (${iBytes(size)})`);
  t.onGood();
}

async function* readChunks(fh: FileHandle, from: number, to: number): AsyncGenerator<Uint8Array> {
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let pos = from; pos < to; ) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, to - pos), pos);
    if (bytesRead === 0) throw new Error(`file ended at byte ${pos} while checksumming it`);
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

/** Write rx/hdr/<PKT> from the first bytes of a received packet. */
async function writeHdrFrom(ctx: Context, node: Neighbour, pktPath: string, pktId: string): Promise<void> {
  try {
    const raw = await readHead(pktPath, ENC_HEADER_SIZE);
    decodeEncHeader(raw, `packet ${pktPath}`);
    await ctx.spool.writeHdr(node.idB32, 'rx', pktId, raw);
  } catch (err) {
    ctx.log.error('sp-file-hdr-read', [['Node', node.idB32], ['Pkt', pktId]], err, `Got packet ${pktId}: HdrReading`);
  }
}

// ---- the session ----

interface PeerInfo {
  nice: number;
  size: number;
}

interface Freq {
  id: string;
  hash: Uint8Array;
  offset: number;
  nice: number;
}

interface TxFile {
  fd: number;
  size: number;
}

interface RxFile {
  fd: number;
  hasher: { mth: MTH; offset: number } | null;
}

function short(id: string): string {
  return id.length >= 52 ? `${id.slice(0, 16)}..${id.slice(-16)}` : id;
}

function num(v: number | bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new PigeonError('EPACKET', `SP packet field ${String(v)} is out of range`);
  return n;
}

export class SpSession {
  private readonly ctx: Context;
  private readonly node: Neighbour;
  private readonly seen: Map<string, number>;
  private readonly infosTheir = new Map<string, PeerInfo>();
  private queue: Freq[] = [];
  /** Encoded control packets (INFO/FREQ/DONE) waiting to be sent before any FILE. */
  private control: Uint8Array[] = [];
  private pingPending = false;
  private readonly txFiles = new Map<string, TxFile>();
  private readonly rxFiles = new Map<string, RxFile>();
  private readonly bars = new Map<string, { bar: Progress; shown: number }>();
  /** One FILE packet, rebuilt in place for every chunk (send() has encrypted it before it resolves). */
  private readonly filePkt = new Uint8Array(SP_MAX_PAYLOAD);

  private dead = false;
  private readonly deadWaiters = new Set<() => void>();
  private workWaiter: (() => void) | null = null;
  private readonly started = Date.now();
  private rxLastSeen: number;
  private rxLastNonPing: number;
  private txLastSeen: number;
  private txLastNonPing: number;
  private txDirty = true;
  private watcher: fs.FSWatcher | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private rescanning = false;
  private startedWorkers = false;
  private pollTicks = 0;
  private processing = false;
  /** Background checks of this session still running (their DONE is owed to the peer). */
  private checking = 0;

  constructor(
    private readonly p: SessionParams,
    private readonly prep: Prepared,
    private readonly tr: SessionTransport,
  ) {
    this.ctx = p.ctx;
    this.node = p.node;
    this.seen = prep.seen;
    const now = Date.now();
    this.rxLastSeen = this.rxLastNonPing = this.txLastSeen = this.txLastNonPing = now;
  }

  private get canTx(): boolean {
    return !this.p.listOnly && this.p.xx !== 'rx';
  }

  private les(): [string, LogValue][] {
    return [['Node', this.node.idB32], ['Nice', this.p.nice]];
  }

  private spWith(): string {
    return `SP with ${this.node.name} (nice ${formatNice(this.p.nice)})`;
  }

  /**
   * Queue our remaining INFOs and process the peer's first payload (throws
   * when it is malformed; the caller then drops the connection).
   */
  async start(): Promise<void> {
    for (const pl of this.prep.infoPayloads.slice(1)) this.control.push(pl);
    const first = this.tr.peerFirstPayload;
    try {
      await this.process(first);
    } catch (err) {
      this.ctx.log.error('sp-process', this.les(), err, `${this.spWith()}: processing first payload (${iBytes(first.length)})`);
      this.kill();
      await this.closeFiles();
      this.prep.release();
      throw err;
    }
    this.startedWorkers = true;
  }

  /** Run until the session ends (start() first); locks are released and files closed on return. */
  async run(): Promise<SessionResult> {
    const ticker = setInterval(() => this.tick(), TICK_MS);
    try {
      if (!this.startedWorkers) await this.start();
      if (!this.p.noCK) void this.checkOldNoCK();
      if (this.canTx) this.startWatch();
      await Promise.all([this.receiveLoop(), this.sendLoop()]);
    } catch {
      // logged where it happened
    } finally {
      clearInterval(ticker);
      this.stopWatch();
      this.kill();
    }
    const durationSec = Math.floor((Date.now() - this.started) / 1000);
    const ok = this.queue.length === 0 && this.txFiles.size === 0 && this.rxFiles.size === 0;
    await this.closeFiles();
    this.prep.release();
    const rxBytes = this.tr.rxBytes;
    const txBytes = this.tr.txBytes;
    const rxDur = Math.floor((this.rxLastSeen - this.started) / 1000);
    const txDur = Math.floor((this.txLastSeen - this.started) / 1000);
    return {
      ok,
      durationSec,
      rxBytes,
      txBytes,
      rxSpeed: rxDur > 0 ? Math.floor(rxBytes / rxDur) : rxBytes,
      txSpeed: txDur > 0 ? Math.floor(txBytes / txDur) : txBytes,
    };
  }

  private async closeFiles(): Promise<void> {
    for (const id of [...this.txFiles.keys()]) await this.closeTx(id);
    for (const id of [...this.rxFiles.keys()]) await this.closeRx(id);
    for (const b of this.bars.values()) b.bar.finish();
    this.bars.clear();
  }

  /** End the session: close the link and wake everything that waits. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    try {
      this.tr.close();
    } catch {
      // already closed
    }
    this.wake();
    for (const w of [...this.deadWaiters]) w();
  }

  private wake(): void {
    const w = this.workWaiter;
    this.workWaiter = null;
    w?.();
  }

  /** Sleep `ms`, returning early when the session dies. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.dead) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        this.deadWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.deadWaiters.add(done);
    });
  }

  private tick(): void {
    if (this.dead) return;
    const now = Date.now();
    const od = this.p.onlineDeadline * 1000;
    // Time spent on a payload (writing, fsyncing and renaming a finished packet) is not idleness.
    // Nor is a background check whose DONE the peer is waiting for.
    if (!this.processing && this.checking === 0 && now - this.rxLastNonPing >= od && now - this.txLastNonPing >= od) {
      this.ctx.log.debug('sp-deadline', this.les(), `${this.spWith()}: online deadline reached`);
      return this.kill();
    }
    if (this.p.maxOnlineTime > 0 && now - this.started >= this.p.maxOnlineTime * 1000) {
      this.ctx.log.debug('sp-deadline', this.les(), `${this.spWith()}: maximal online time reached`);
      return this.kill();
    }
    if (!this.processing && now - this.rxLastSeen >= SILENCE_MS) return this.kill();
    if (now - this.txLastSeen >= PING_EVERY_MS && !this.pingPending) {
      this.pingPending = true;
      this.wake();
    }
    if (this.canTx && this.watcher === null && ++this.pollTicks * TICK_MS >= 1000) {
      this.pollTicks = 0;
      this.txDirty = true; // no filesystem watch: scan tx/ every second
    }
    if (this.txDirty) void this.rescan();
  }

  // ---- announcing packets queued while we are online ----

  private startWatch(): void {
    const dir = this.ctx.spool.queueDir(this.node.idB32, 'tx');
    try {
      fs.mkdirSync(dir, { recursive: true, mode: this.ctx.spool.dirMode });
      this.watcher = fs.watch(dir, { persistent: false }, () => {
        this.txDirty = true;
        if (this.watchTimer === null) {
          this.watchTimer = setTimeout(() => {
            this.watchTimer = null;
            void this.rescan();
          }, WATCH_SETTLE_MS);
        }
      });
      this.watcher.on('error', () => this.stopWatch());
    } catch {
      this.watcher = null; // polled from tick()
    }
  }

  private stopWatch(): void {
    if (this.watchTimer !== null) clearTimeout(this.watchTimer);
    this.watchTimer = null;
    this.watcher?.close();
    this.watcher = null;
  }

  private async rescan(): Promise<void> {
    if (this.dead || this.rescanning || !this.canTx) return;
    this.rescanning = true;
    this.txDirty = false;
    try {
      const jobs = await this.ctx.spool.list(this.node.idB32, 'tx', { nice: this.p.nice });
      if (this.dead) return;
      const infos = infosOur(this.ctx, this.node, jobs, this.seen);
      if (infos.length > 0) {
        this.control.push(...groupPayloads(infos));
        this.wake();
      }
    } catch (err) {
      this.ctx.log.error('sp-queue-dir-watch', this.les(), err, `${this.spWith()}: scanning tx`);
    } finally {
      this.rescanning = false;
    }
  }

  /** .nock files left by an earlier session: checksum them and tell the peer (as the reference does at start). */
  private async checkOldNoCK(): Promise<void> {
    const dir = this.ctx.spool.queueDir(this.node.idB32, 'rx');
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.endsWith(NOCK_SUFFIX)) continue;
      const id = name.slice(0, -NOCK_SUFFIX.length);
      if (!isId(id)) continue;
      let nice: number;
      try {
        nice = decodeEncHeader(await readHead(path.join(dir, name), ENC_HEADER_SIZE)).nice;
      } catch {
        continue;
      }
      if (nice > this.p.nice) continue;
      this.check(id, null);
    }
  }

  /** Checksum rx/<id>.nock in the background; DONE to the peer when good. */
  private check(id: string, mth: MTH | null): void {
    this.checking++;
    enqueueCheck({
      ctx: this.ctx,
      node: this.node,
      pktId: id,
      mth,
      onGood: () => this.queueDone(idBytes(id)),
      onEnd: () => {
        this.checking--;
      },
    });
  }

  // ---- sending ----

  private queueControl(pkts: Uint8Array[]): void {
    if (pkts.length === 0) return;
    this.control.push(...groupPayloads(pkts));
    this.wake();
  }

  private queueDone(hash: Uint8Array): void {
    if (this.dead) return;
    this.queueControl([encodeSpPackets([{ t: 'done', hash }])]);
  }

  private async sendLoop(): Promise<void> {
    while (!this.dead) {
      let payload: Uint8Array | null;
      let ping = false;
      if (this.pingPending) {
        this.pingPending = false;
        payload = encodeSpPackets([{ t: 'ping' }]);
        ping = true;
      } else if (this.control.length > 0) {
        payload = this.control.shift()!;
      } else if (this.queue.length > 0) {
        payload = await this.nextFileChunk();
        if (payload === null) continue;
      } else {
        await new Promise<void>((resolve) => {
          this.workWaiter = resolve;
        });
        continue;
      }
      if (this.dead) break;
      await this.send(payload, ping);
    }
  }

  /** Send one payload; a failure (the link broke, or a write stayed blocked for NNCPDEADLINE) ends the session. */
  private async send(payload: Uint8Array, ping: boolean): Promise<void> {
    try {
      await this.tr.send(payload);
    } catch (err) {
      if (!this.dead) this.ctx.log.error('sp-sending', this.les(), err, `${this.spWith()}: sending ${iBytes(payload.length)}`);
      return this.kill();
    }
    this.txLastSeen = Date.now();
    if (!ping) this.txLastNonPing = this.txLastSeen;
  }

  /** The next FILE packet for the most urgent request, or null when there is nothing to send after all. */
  private async nextFileChunk(): Promise<Uint8Array | null> {
    if (this.p.txRate > 0) await this.sleep(1000 / this.p.txRate);
    const q = this.queue[0];
    if (q === undefined || this.dead) return null;
    const pktPath = this.ctx.spool.packetPath(this.node.idB32, 'tx', q.id);
    let tx = this.txFiles.get(q.id);
    const fields = (): LogFields => [...this.les(), ['XX', 'tx'], ['Pkt', q.id], ['Size', q.offset]];
    if (tx === undefined) {
      try {
        const fd = fs.openSync(pktPath, 'r');
        tx = { fd, size: fs.fstatSync(fd).size };
        this.txFiles.set(q.id, tx);
      } catch (err) {
        // Gone meanwhile (nncp-rm, a DONE): drop the request rather than the session.
        this.ctx.log.error('sp-queue-open', fields(), err, `${this.spWith()}: tx/${q.id} (${iBytes(q.offset)}): opening`);
        this.dropRequest(q.id);
        return null;
      }
    }
    // Read the chunk straight into the packet (positioned synchronous reads: from the page
    // cache they cost less than a round trip through the thread pool).
    const pkt = this.filePkt;
    let n = 0;
    if (q.offset < tx.size) {
      try {
        n = fs.readSync(tx.fd, pkt, SP_FILE_OVERHEAD, Math.min(FILE_CHUNK, tx.size - q.offset), q.offset);
        if (n === 0) throw new Error('file ended early');
      } catch (err) {
        this.ctx.log.error('sp-file-read', fields(), err, `${this.spWith()}: tx/${q.id} (${iBytes(q.offset)}): reading`);
        await this.closeTx(q.id);
        this.dropRequest(q.id);
        return null;
      }
    }
    const payload = fileInPlace(pkt, q.hash, q.offset, n);
    const ourSize = q.offset + n;
    this.progress('Tx', q.id, ourSize, tx.size, q.offset);
    if (ourSize >= tx.size) {
      this.ctx.log.debug('sp-file-finished', [...this.les(), ['XX', 'tx'], ['Pkt', q.id], ['Size', ourSize], ['FullSize', tx.size]], `${this.spWith()}: tx/${q.id} (${iBytes(ourSize)}): finished`);
      await this.closeTx(q.id);
      this.queue.shift();
    } else {
      q.offset = ourSize;
    }
    return payload;
  }

  private dropRequest(id: string): void {
    this.queue = this.queue.filter((f) => f.id !== id);
  }

  private async closeTx(id: string): Promise<void> {
    const f = this.txFiles.get(id);
    if (!f) return;
    this.txFiles.delete(id);
    closeQuietly(f.fd);
  }

  private progress(dir: 'Tx' | 'Rx', id: string, size: number, full: number, initial: number): void {
    if (!this.ctx.progress) return;
    let b = this.bars.get(dir + id);
    if (!b) {
      b = { bar: new Progress({ enabled: true, label: `${dir} ${short(id)}`, total: full, initial }), shown: initial };
      this.bars.set(dir + id, b);
    }
    b.bar.add(size - b.shown);
    b.shown = size;
    if (size >= full) {
      b.bar.finish();
      this.bars.delete(dir + id);
    }
  }

  // ---- receiving ----

  private async receiveLoop(): Promise<void> {
    while (!this.dead) {
      let payload: Uint8Array | null;
      try {
        payload = await this.tr.receive();
      } catch (err) {
        if (!this.dead) this.ctx.log.error('sp-recv-wait', this.les(), err, `${this.spWith()}: waiting for payload`);
        break;
      }
      if (payload === null || this.dead) break;
      this.rxLastSeen = Date.now();
      this.processing = true;
      try {
        await this.process(payload);
      } catch (err) {
        if (!this.dead) this.ctx.log.error('sp-recv-process', this.les(), err, `${this.spWith()}: payload (${iBytes(payload.length)}): processing`);
        break;
      } finally {
        this.processing = false;
      }
      if (this.rxLastNonPing === this.rxLastSeen) this.rxLastNonPing = Date.now();
      if (this.p.rxRate > 0) await this.sleep(1000 / this.p.rxRate);
    }
    this.kill();
  }

  /** Handle one payload of SP packets (throws on a malformed one: the session ends). */
  async process(payload: Uint8Array): Promise<void> {
    let pkts: SpPacket[];
    try {
      pkts = decodeSpPackets(payload);
    } catch (err) {
      this.ctx.log.error('sp-process-unmarshal', this.les(), err, `${this.spWith()}: unmarshaling header`);
      throw err;
    }
    const replies: Uint8Array[] = [];
    let infosGot = false;
    for (const pkt of pkts) {
      if (pkt.t !== 'ping') this.rxLastNonPing = this.rxLastSeen;
      switch (pkt.t) {
        case 'halt':
          this.ctx.log.debug('sp-process-halt', [...this.les(), ['Type', 'halt']], `${this.spWith()}: got HALT`);
          this.queue = [];
          break;
        case 'ping':
          this.ctx.log.debug('sp-process-ping', [...this.les(), ['Type', 'ping']], `${this.spWith()}: got PING`);
          break;
        case 'info':
          infosGot = true;
          this.onInfo(base32Encode(pkt.hash), pkt.hash, pkt.nice, num(pkt.size), replies);
          break;
        case 'freq':
          this.onFreq(base32Encode(pkt.hash), pkt.hash, num(pkt.offset));
          break;
        case 'file':
          await this.onFile(base32Encode(pkt.hash), pkt.hash, num(pkt.offset), pkt.payload);
          break;
        case 'done':
          await this.onDone(base32Encode(pkt.hash));
          break;
      }
    }
    if (infosGot) {
      let n = 0;
      let size = 0;
      for (const i of this.infosTheir.values()) {
        n++;
        size += i.size;
      }
      this.ctx.log.info('sp-infos-rx', [['XX', 'rx'], ['Node', this.node.idB32], ['Pkts', n], ['Size', size]], `${this.node.name} has got for us: ${n} packets, ${iBytes(size)}`);
    }
    if (replies.length > 0) this.queueControl(replies);
  }

  private onInfo(id: string, hash: Uint8Array, nice: number, size: number, replies: Uint8Array[]): void {
    const { ctx, p } = this;
    const lesp: [string, LogValue][] = [...this.les(), ['Type', 'info'], ['Pkt', id], ['Size', size], ['PktNice', nice]];
    const what = `${this.spWith()}: INFO ${id} (${iBytes(size)}) nice ${formatNice(nice)}`;
    if (!p.listOnly && nice > p.nice) {
      ctx.log.debug('sp-process-info-too-nice', lesp, `${what}: too nice`);
      return;
    }
    ctx.log.debug('sp-process-info-got', lesp, `${what}: received`);
    if (!p.listOnly && p.xx === 'tx') return;
    this.infosTheir.set(id, { nice, size });
    const msg = `Packet ${id} (${iBytes(size)}) (nice ${formatNice(nice)})`;
    const pktPath = ctx.spool.packetPath(this.node.idB32, 'rx', id);
    if (exists(pktPath)) {
      ctx.log.info('sp-info-done', lesp, `${msg}: already done`);
      if (!p.listOnly) replies.push(encodeSpPackets([{ t: 'done', hash }]));
      return;
    }
    if (exists(ctx.spool.seenPath(this.node.idB32, id))) {
      ctx.log.info('sp-info-seen', lesp, `${msg}: already seen`);
      if (!p.listOnly) replies.push(encodeSpPackets([{ t: 'done', hash }]));
      return;
    }
    if (exists(pktPath + NOCK_SUFFIX)) {
      ctx.log.info('sp-info-nock', lesp, `${msg}: still not checksummed`);
      return;
    }
    let offset = 0;
    try {
      offset = fs.statSync(pktPath + PART_SUFFIX).size;
    } catch {
      // nothing received yet
    }
    if (!enoughSpace(ctx.spool.root, size - offset)) {
      ctx.log.info('sp-info-no-space', lesp, `${msg}: not enough space`);
      return;
    }
    ctx.log.info('sp-info', [...lesp, ['Offset', offset]], `${msg}: ${size > 0 ? Math.floor((100 * offset) / size) : 0}%`);
    if (!p.listOnly && (p.onlyPkts === undefined || p.onlyPkts.has(id))) {
      replies.push(encodeSpPackets([{ t: 'freq', hash, offset }]));
    }
  }

  private onFreq(id: string, hash: Uint8Array, offset: number): void {
    const lesp: LogFields = [...this.les(), ['Type', 'freq'], ['Pkt', id], ['Offset', offset]];
    const nice = this.seen.get(id);
    if (nice === undefined) {
      this.ctx.log.debug('sp-process-freq-unknown', lesp, `${this.spWith()}: FREQ ${id}: unknown`);
      return;
    }
    // As the reference: with -pkts, requests for the listed packets are not served.
    if (this.p.onlyPkts !== undefined && this.p.onlyPkts.has(id)) {
      this.ctx.log.debug('sp-process-freq-skip', lesp, `${this.spWith()}: FREQ ${id}: skipping`);
      return;
    }
    this.ctx.log.debug('sp-process-freq-queueing', lesp, `${this.spWith()}: FREQ ${id}: queuing`);
    const existing = this.queue.find((f) => f.id === id);
    if (existing) {
      existing.offset = offset;
    } else {
      let at = this.queue.length;
      for (let i = 0; i < this.queue.length; i++) {
        if (this.queue[i].nice > nice) {
          at = i;
          break;
        }
      }
      this.queue.splice(at, 0, { id, hash, offset, nice });
    }
    this.wake();
  }

  private async onDone(id: string): Promise<void> {
    const lesp: LogFields = [...this.les(), ['Type', 'done'], ['Pkt', id], ['XX', 'tx']];
    this.ctx.log.debug('sp-done', lesp, `${this.spWith()}: DONE: removing ${id}`);
    this.dropRequest(id);
    await this.closeTx(id);
    try {
      await this.ctx.spool.removePacket(this.node.idB32, 'tx', id);
    } catch (err) {
      this.ctx.log.error('sp-done', lesp, err, `${this.spWith()}: DONE: removing ${id}`);
      return;
    }
    this.ctx.log.info('sp-done', lesp, `Packet ${id} is sent`);
  }

  private async onFile(id: string, hash: Uint8Array, offset: number, data: Uint8Array): Promise<void> {
    const { ctx } = this;
    const lesp: [string, LogValue][] = [...this.les(), ['Type', 'file'], ['XX', 'rx'], ['Pkt', id], ['Size', data.length]];
    const got = `Got packet ${id} (${iBytes(data.length)})`;
    const info = this.infosTheir.get(id);
    if (info === undefined) {
      ctx.log.error('sp-file-open', lesp, 'unknown file', `${got}: unknown file`);
      return;
    }
    const full = info.size;
    lesp.push(['FullSize', full]);
    if (offset + data.length > full) {
      ctx.log.error('sp-file-write', lesp, `chunk at ${offset} of ${data.length} bytes goes past the announced size`, `${got}: writing`);
      return;
    }
    const rxDir = ctx.spool.queueDir(this.node.idB32, 'rx');
    const final = path.join(rxDir, id);
    const part = final + PART_SUFFIX;
    let rx = this.rxFiles.get(id);
    if (rx === undefined) {
      let fd: number;
      try {
        fd = fs.openSync(part, C.O_RDWR | C.O_CREAT, 0o666);
      } catch (err) {
        ctx.log.error('sp-file-open', lesp, err, `${got}: opening part`);
        throw err;
      }
      rx = { fd, hasher: this.p.noCK ? null : { mth: new MTH({ size: full, offset }), offset } };
      this.rxFiles.set(id, rx);
    }
    try {
      // Positioned synchronous writes: into the page cache, cheaper than the thread pool round trip.
      for (let done = 0; done < data.length; ) done += fs.writeSync(rx.fd, data, done, data.length - done, offset + done);
    } catch (err) {
      ctx.log.error('sp-file-write', lesp, err, `${got}: writing`);
      await this.closeRx(id);
      throw err;
    }
    if (rx.hasher !== null) {
      if (rx.hasher.offset === offset) {
        rx.hasher.mth.update(data);
        rx.hasher.offset += data.length;
      } else {
        ctx.log.error('sp-file-offset-differs', lesp, 'offset differs', `${got}: deleting hasher`);
        rx.hasher = null;
      }
    }
    const ourSize = offset + data.length;
    lesp[lesp.length - 2] = ['Size', ourSize];
    this.progress('Rx', id, ourSize, full, offset);
    if (ourSize !== full) return;
    const msg = `Got packet ${id} ${full > 0 ? Math.floor((100 * ourSize) / full) : 100}% (${iBytes(ourSize)} / ${iBytes(full)})`;
    if (!syncDisabled(ctx.spool.noSync)) {
      try {
        await new Promise<void>((resolve, reject) => fs.fsync(rx!.fd, (err) => (err ? reject(err) : resolve())));
      } catch (err) {
        ctx.log.error('sp-file-sync', lesp, err, `${msg}: syncing`);
        await this.closeRx(id);
        return;
      }
    }
    const hasher = rx.hasher;
    await this.closeRx(id);
    if (hasher !== null && hasher.mth.prefixSize === 0) {
      if (base32Encode(hasher.mth.digest()) !== id) {
        ctx.log.error('sp-file-bad-checksum', lesp, 'checksum mismatch', msg);
        return;
      }
      try {
        await fsp.rename(part, final);
        await fsyncDir(rxDir, ctx.spool.noSync);
      } catch (err) {
        ctx.log.error('sp-file-rename', lesp, err, `${msg}: renaming`);
        return;
      }
      ctx.log.info('sp-file-done', lesp, `${msg}: done`);
      this.queueDone(hash);
      this.infosTheir.delete(id);
      if (!ctx.spool.noHdr) await writeHdrFrom(ctx, this.node, final, id);
      return;
    }
    try {
      await fsp.rename(part, final + NOCK_SUFFIX);
      await fsyncDir(rxDir, ctx.spool.noSync);
    } catch (err) {
      ctx.log.error('sp-file-rename', lesp, err, `${msg}: renaming`);
      return;
    }
    ctx.log.info('sp-file-downloaded', lesp, `${msg}: downloaded`);
    this.infosTheir.delete(id);
    if (!this.p.noCK) {
      this.check(id, hasher?.mth ?? null);
    }
  }

  private async closeRx(id: string): Promise<void> {
    const f = this.rxFiles.get(id);
    if (!f) return;
    this.rxFiles.delete(id);
    closeQuietly(f.fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/** Fill in a FILE packet whose chunk of `n` bytes already sits at SP_FILE_OVERHEAD (zero padding after it). */
function fileInPlace(pkt: Uint8Array, hash: Uint8Array, offset: number, n: number): Uint8Array {
  const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  dv.setUint32(0, SpType.File);
  pkt.set(hash, 4);
  dv.setBigUint64(36, BigInt(offset));
  dv.setUint32(44, n);
  const end = SP_FILE_OVERHEAD + n;
  const padded = end + ((4 - (n % 4)) % 4);
  pkt.fill(0, end, padded);
  return pkt.subarray(0, padded);
}

function exists(p: string): boolean {
  try {
    fs.statSync(p);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** As the reference: the spool's filesystem has more than `want` bytes available. */
function enoughSpace(spool: string, want: number): boolean {
  try {
    const s = fs.statfsSync(spool);
    return s.bavail * s.bsize > want;
  } catch {
    return true;
  }
}
