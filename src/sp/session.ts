/**
 * One online session of NNCP's synchronization protocol (manual: Sync), the
 * same for caller and daemon: a protocol state machine over an established
 * Noise transport, modelled on ssh2's Protocol. It reaches the network only
 * through SessionTransport and the disk only through the spool
 * (src/spool/partial.ts: receiving into .part, reading tx/ packets). Checks
 * run on the CheckQueue its owner hands in; TxWatch announces packets
 * queued mid-session; Outbox holds the peer's requests. Both directions run
 * at once:
 *
 *   - our first payload carries INFO for each of our tx packets for the
 *     peer with niceness <= ours (none with -rx), the rest follows first
 *     thing in the transport phase, then INFOs of packets queued meanwhile;
 *   - on INFO: a packet we already have in rx/ or rx/seen/ is answered with
 *     DONE, one waiting in .nock is left alone, otherwise FREQ from the size
 *     of its .part (resume), when the spool has room for the rest and for
 *     everything else requested and not yet received. At most
 *     MAX_PEER_INFOS packets of the peer are taken per session (the rest
 *     waits for the next one; one log line); a repeated INFO is ignored;
 *   - on FREQ: the packet is queued for sending (most urgent first); FILE
 *     chunks are sent whenever nothing else waits (INFO/FREQ/DONE first);
 *   - on FILE: only for a packet we requested, and only at the current end
 *     of its .part (the resume offset, then growing): bytes before the end
 *     are dropped as already received, a chunk beyond it is refused (one
 *     log line per packet), so a peer cannot make a sparse file. A
 *     complete file becomes rx/<PKT> and DONE goes to the peer once its MTH
 *     matched (hashed as it arrived; a resumed one goes through .nock and a
 *     background check) and it is durable there: complete files are
 *     fsynced, renamed and their directory fsynced in groups, in the
 *     background (rxfinish.ts), while the next payloads are handled; with
 *     -nock it stays .nock for `check -nock`. A
 *     file that fails its checksum (in-stream, or the check of its .nock:
 *     corrupted on disk) is discarded and fetched again from the start,
 *     once per session;
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
 * (Longer than 600 lines: the handlers share the session's state; the
 * sending half already lives in outbox.ts, and the receiving half
 * (want/unwant, onFile, finishRx, refetch) is the next to split off.)
 *
 * Log records use the reference's Who values and fields (sp-infos-tx,
 * sp-info, sp-file-done, sp-done, ...), so nncp-log shows them the same.
 * What a peer can make us log over and over (bad FILEs, INFO records past
 * the first INFO_LOG_BURST) goes through a per-session LogLimiter.
 */
import { base32Encode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import type { MTH } from '../crypto/mth.js';
import { iBytes } from '../format.js';
import type { LogFields, LogValue } from '../log/log.js';
import { formatNice } from '../nice.js';
import { Partials, type Finished, type PartialReceive } from '../spool/partial.js';
import { TransferBars } from './bars.js';
import { logHdrError, type CheckQueue } from './checkqueue.js';
import { LogLimiter } from './loglimit.js';
import { Outbox } from './outbox.js';
import { RxFinisher } from './rxfinish.js';
import { decodeSpPackets, encodeSpPackets, groupPayloads, SP_MAX_PAYLOAD, spNumber, type SpPacket } from './packets.js';
import type { Prepared } from './prepare.js';
import { idBytes, TxWatch } from './txwatch.js';

/** What a session needs from the Noise layer (src/sp/handshake.ts's SpTransport). */
export interface SessionTransport {
  /** The peer's first payload, from the handshake (processed first thing). */
  peerFirstPayload: Uint8Array;
  /** Resolves once the link took the payload; rejects when a write stays blocked for NNCPDEADLINE. */
  send(payload: Uint8Array): Promise<void>;
  /**
   * The next payload, or null at the end. It may be a view of a buffer the
   * transport reuses: valid until the next receive(). Whatever outlives the
   * handling of one payload (hashes of requests, ...) is copied.
   */
  receive(): Promise<Uint8Array | null>;
  close(): void;
  /** Bytes of whole frames so far, handshake included. */
  readonly rxBytes: number;
  readonly txBytes: number;
}

const PING_EVERY_MS = 60_000;
/** Deadlines are checked this often (the reference: every second). */
const TICK_MS = 250;
const SILENCE_MS = 2 * PING_EVERY_MS;

/** tx/ packets the peer confirmed removed at once at most (on the thread pool). */
const REMOVERS = 4;

/** While a payload of INFOs is processed, its replies (FREQ, DONE) go out this many at a time. */
const REPLY_BATCH = 64;

/** Packets of the peer one session takes at most (INFOs beyond are dropped; they come again next session). */
export const MAX_PEER_INFOS = 10_000;
/** sp-info* records (one per INFO) a session writes before it only counts them. */
export const INFO_LOG_BURST = 1000;
/** Records of any other kind a peer can provoke repeatedly (bad FILEs, failed DONEs) written per session. */
export const PEER_LOG_BURST = 20;

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
  /** Where received packets are checksummed in the background (owned by whoever runs sessions). */
  checks: CheckQueue;
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

/** What the peer announced to us. */
interface PeerInfo {
  nice: number;
  size: number;
}

/** A packet we asked the peer for (FREQ) and accept FILE chunks of. */
interface Wanted {
  hash: Uint8Array;
  size: number;
  /** Bytes of it not received yet (counted in `outstanding`). */
  left: number;
  /** A FILE beyond the end of the .part was refused (and logged) already. */
  refusedOffset?: boolean;
}

export class SpSession {
  private readonly ctx: Context;
  private readonly node: Neighbour;
  private readonly partials: Partials;
  private readonly spWith: string;
  private readonly infosTheir = new Map<string, PeerInfo>();
  /** Every packet the peer announced this session (at most MAX_PEER_INFOS). */
  private readonly announced = new Set<string>();
  private infosDropped = 0;
  private readonly wanted = new Map<string, Wanted>();
  /** Bytes requested and not received yet: free space must cover them and the next request. */
  private outstanding = 0;
  /** Packets discarded as corrupted and requested again this session. */
  private readonly refetched = new Set<string>();
  private readonly limiter: LogLimiter;
  /** The peer's requests and the packets being sent to it. */
  private readonly outbox: Outbox;
  /** Encoded control packets (INFO/FREQ/DONE) waiting to be sent before any FILE. */
  private control: Uint8Array[] = [];
  private pingPending = false;
  private readonly rxFiles = new Map<string, PartialReceive>();
  /** Complete packets being made durable in the background (their DONE goes out after). */
  private readonly finisher: RxFinisher;
  /** What finishing a received packet reports, by packet id, until it is finished. */
  /** Our packets the peer confirmed (DONE), waiting to be removed from tx/, and removals running. */
  private readonly toRemove: string[] = [];
  private removers = 0;
  /** Resolves when the last removal ended (null: none running). */
  private removing: Promise<void> | null = null;
  private removed: () => void = () => undefined;
  private readonly finishing = new Map<string, { hash: Uint8Array; lesp: LogFields; msg: string; full: number | undefined }>();
  private readonly bars: TransferBars;
  private readonly txWatch: TxWatch | null = null;

  private dead = false;
  private readonly deadWaiters = new Set<() => void>();
  private workWaiter: (() => void) | null = null;
  private readonly started = Date.now();
  private rxLastSeen: number;
  private rxLastNonPing: number;
  private txLastSeen: number;
  private txLastNonPing: number;
  private startedWorkers = false;
  /** The peer's first payload, decoded by start() and handled by run(). */
  private firstPkts: SpPacket[] | null = null;
  /** A payload is being handled (writing, fsyncing, renaming): not idleness. */
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
    this.partials = new Partials(p.ctx.spool);
    this.bars = new TransferBars(p.ctx.progress);
    this.finisher = new RxFinisher({ partials: this.partials, onFinished: (f) => this.onFinished(f) });
    this.spWith = `SP with ${p.node.name} (nice ${formatNice(p.nice)})`;
    this.limiter = new LogLimiter(p.ctx, () => this.les(), this.spWith, PEER_LOG_BURST).limit('sp-info', INFO_LOG_BURST);
    this.outbox = new Outbox({
      ctx: p.ctx,
      node: p.node,
      partials: this.partials,
      les: () => this.les(),
      spWith: this.spWith,
      onProgress: (id, size, full, initial) => this.bars.update('Tx', id, size, full, initial),
    });
    const now = Date.now();
    this.rxLastSeen = this.rxLastNonPing = this.txLastSeen = this.txLastNonPing = now;
    if (this.canTx) {
      this.txWatch = new TxWatch({
        ctx: p.ctx,
        node: p.node,
        nice: p.nice,
        seen: prep.seen,
        announce: (payloads) => {
          if (this.dead) return;
          this.control.push(...payloads);
          this.wake();
        },
        onError: (err) => this.ctx.log.error('sp-queue-dir-watch', this.les(), err, `${this.spWith}: scanning tx`),
      });
    }
  }

  private get canTx(): boolean {
    return !this.p.listOnly && this.p.xx !== 'rx';
  }

  private les(): [string, LogValue][] {
    return [['Node', this.node.idB32], ['Nice', this.p.nice]];
  }

  // ---- life cycle ----

  /**
   * Queue our remaining INFOs and decode the peer's first payload (throws
   * when it is malformed; the caller then drops the connection). Its
   * packets are handled once run() starts, while our sending runs, so the
   * FREQs for a long list of INFOs go out as they are made.
   */
  async start(): Promise<void> {
    for (const pl of this.prep.infoPayloads.slice(1)) this.control.push(pl);
    const first = this.tr.peerFirstPayload;
    try {
      this.firstPkts = this.decode(first);
    } catch (err) {
      this.ctx.log.error('sp-process', this.les(), err, `${this.spWith}: processing first payload (${iBytes(first.length)})`);
      this.kill();
      this.closeFiles();
      this.prep.release();
      throw err;
    }
    this.startedWorkers = true;
  }

  /** The peer's first payload, handled before anything else it sends. */
  private async handleFirst(): Promise<void> {
    const pkts = this.firstPkts ?? [];
    this.firstPkts = null;
    const size = this.tr.peerFirstPayload.length;
    this.processing = true;
    try {
      await this.handle(pkts);
    } catch (err) {
      if (!this.dead) this.ctx.log.error('sp-process', this.les(), err, `${this.spWith}: processing first payload (${iBytes(size)})`);
      this.kill();
      throw err;
    } finally {
      this.processing = false;
    }
  }

  /** Run until the session ends (start() first); locks are released and files closed on return. */
  async run(): Promise<SessionResult> {
    const ticker = setInterval(() => this.tick(), TICK_MS);
    try {
      if (!this.startedWorkers) await this.start();
      const receiving = async (): Promise<void> => {
        await this.handleFirst();
        if (!this.p.noCK) void this.checkOldNoCK();
        this.txWatch?.start();
        await this.receiveLoop();
      };
      await Promise.all([receiving(), this.sendLoop()]);
    } catch {
      // logged where it happened
    } finally {
      clearInterval(ticker);
      this.kill();
      // Packets complete on disk are still made durable and placed (their DONE can no longer go out: the next session's INFO gets it).
      await this.finisher.drain();
      await this.removing;
    }
    this.limiter.flush();
    if (this.infosDropped > 0) {
      this.ctx.log.info('sp-info-limit', [...this.les(), ['Pkts', this.infosDropped]], `${this.spWith}: ${this.infosDropped} INFOs over the limit of ${MAX_PEER_INFOS} were dropped`);
    }
    const durationSec = Math.floor((Date.now() - this.started) / 1000);
    const ok = this.outbox.drained && this.rxFiles.size === 0;
    this.closeFiles();
    this.prep.release();
    const { rxBytes, txBytes } = this.tr;
    const rxDur = Math.floor((this.rxLastSeen - this.started) / 1000);
    const txDur = Math.floor((this.txLastSeen - this.started) / 1000);
    const speed = (bytes: number, sec: number): number => (sec > 0 ? Math.floor(bytes / sec) : bytes);
    return { ok, durationSec, rxBytes, txBytes, rxSpeed: speed(rxBytes, rxDur), txSpeed: speed(txBytes, txDur) };
  }

  private closeFiles(): void {
    this.outbox.close();
    for (const id of [...this.rxFiles.keys()]) this.closeRx(id);
    this.bars.finishAll();
  }

  /** End the session: close the link, stop watching tx/ and wake everything that waits. */
  kill(): void {
    if (this.dead) return;
    this.dead = true;
    this.txWatch?.stop();
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

  /** Deadlines, PING and the tx watch's polling. */
  private tick(): void {
    if (this.dead) return;
    const now = Date.now();
    const od = this.p.onlineDeadline * 1000;
    // Time spent on a payload (writing, fsyncing and renaming a finished packet) is not idleness.
    // Nor is a background check whose DONE the peer is waiting for.
    if (!this.processing && this.checking === 0 && this.finisher.size === 0 && now - this.rxLastNonPing >= od && now - this.txLastNonPing >= od) {
      this.ctx.log.debug('sp-deadline', this.les(), `${this.spWith}: online deadline reached`);
      return this.kill();
    }
    if (this.p.maxOnlineTime > 0 && now - this.started >= this.p.maxOnlineTime * 1000) {
      this.ctx.log.debug('sp-deadline', this.les(), `${this.spWith}: maximal online time reached`);
      return this.kill();
    }
    if (!this.processing && this.finisher.size === 0 && now - this.rxLastSeen >= SILENCE_MS) return this.kill();
    if (now - this.txLastSeen >= PING_EVERY_MS && !this.pingPending) {
      this.pingPending = true;
      this.wake();
    }
    this.txWatch?.tick(now);
  }

  // ---- background checks ----

  /** .nock files left by an earlier session: checksum them and tell the peer (as the reference does at start). */
  private async checkOldNoCK(): Promise<void> {
    for (const id of await this.partials.nocks(this.node.idB32, this.p.nice)) this.check(id, null, this.infosTheir.get(id)?.size);
  }

  /**
   * Checksum rx/<id>.nock in the background; DONE to the peer when good,
   * discarded and fetched again when corrupted (`size`: its full size, when
   * the peer announced it this session).
   */
  private check(id: string, rest: MTH | null, size: number | undefined): void {
    this.checking++;
    this.p.checks.add({
      ctx: this.ctx,
      partials: this.partials,
      node: this.node,
      pktId: id,
      rest,
      onGood: () => this.queueDone(idBytes(id)),
      onBad: () => this.refetch(id, size),
      onEnd: () => {
        this.checking--;
      },
    });
  }

  /**
   * A received copy failed its checksum: discard it and, once per session,
   * ask the peer for the whole packet again (else the next session does,
   * when the peer announces it again).
   */
  private async refetch(id: string, size: number | undefined): Promise<void> {
    const lesp: LogFields = [...this.les(), ['XX', 'rx'], ['Pkt', id]];
    try {
      await this.partials.discard(this.node.idB32, id);
    } catch (err) {
      this.ctx.log.error('sp-file-refetch', lesp, err, `Packet ${id}: removing its corrupted copy`);
      return;
    }
    const now = size !== undefined && !this.dead && !this.refetched.has(id) && !this.p.listOnly && this.p.xx !== 'tx';
    if (!now) {
      this.ctx.log.info('sp-file-refetch', lesp, `Packet ${id}: corrupted copy discarded; it is fetched again in a later session`);
      return;
    }
    this.refetched.add(id);
    this.ctx.log.info('sp-file-refetch', [...lesp, ['Size', size]], `Packet ${id}: corrupted copy discarded; fetching it again`);
    const hash = idBytes(id);
    this.want(id, hash, size, 0);
    this.queueControl([encodeSpPackets([{ t: 'freq', hash, offset: 0 }])]);
  }

  /** Accept FILE chunks of the packet from `offset` on. */
  private want(id: string, hash: Uint8Array, size: number, offset: number): void {
    this.unwant(id);
    const left = Math.max(0, size - offset);
    this.wanted.set(id, { hash: Uint8Array.from(hash), size, left }); // not a view keeping its payload alive
    this.outstanding += left;
  }

  /** Take no more FILE chunks of the packet; what was not received of it is no longer reserved. */
  private unwant(id: string): void {
    const w = this.wanted.get(id);
    if (w === undefined) return;
    this.wanted.delete(id);
    this.outstanding -= w.left;
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

  /** PING when due, else control packets, else FILE chunks of the most urgent request; sleeps when there is nothing. */
  private async sendLoop(): Promise<void> {
    while (!this.dead) {
      let payload: Uint8Array | null;
      let ping = false;
      if (this.pingPending) {
        this.pingPending = false;
        payload = encodeSpPackets([{ t: 'ping' }]);
        ping = true;
      } else if (this.control.length > 0) {
        payload = this.takeControl();
      } else if (this.outbox.pending) {
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

  /**
   * The queued control payloads that fit one payload, joined (in order): a
   * DONE per received packet, or INFOs and FREQs queued piecemeal, go out
   * together rather than one frame each.
   */
  private takeControl(): Uint8Array {
    const first = this.control.shift()!;
    let size = first.length;
    let n = 0;
    while (n < this.control.length && size + this.control[n].length <= SP_MAX_PAYLOAD) size += this.control[n++].length;
    if (n === 0) return first;
    const out = new Uint8Array(size);
    out.set(first, 0);
    let off = first.length;
    for (const c of this.control.splice(0, n)) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }

  /** Send one payload; a failure (the link broke, or a write stayed blocked for NNCPDEADLINE) ends the session. */
  private async send(payload: Uint8Array, ping: boolean): Promise<void> {
    try {
      await this.tr.send(payload);
    } catch (err) {
      if (!this.dead) this.ctx.log.error('sp-sending', this.les(), err, `${this.spWith}: sending ${iBytes(payload.length)}`);
      return this.kill();
    }
    this.txLastSeen = Date.now();
    if (!ping) this.txLastNonPing = this.txLastSeen;
  }

  /**
   * The next FILE packets for the most urgent requests (after the -txrate
   * pause), or null when there is nothing to send after all. Small packets
   * share a payload, except under -txrate (which counts payloads).
   */
  private async nextFileChunk(): Promise<Uint8Array | null> {
    if (this.p.txRate > 0) await this.sleep(1000 / this.p.txRate);
    return this.dead ? null : this.outbox.nextPayload(this.p.txRate === 0);
  }

  // ---- receiving ----

  private async receiveLoop(): Promise<void> {
    while (!this.dead) {
      let payload: Uint8Array | null;
      try {
        payload = await this.tr.receive();
      } catch (err) {
        if (!this.dead) this.ctx.log.error('sp-recv-wait', this.les(), err, `${this.spWith}: waiting for payload`);
        break;
      }
      if (payload === null || this.dead) break;
      this.rxLastSeen = Date.now();
      this.processing = true;
      try {
        await this.process(payload);
      } catch (err) {
        if (!this.dead) this.ctx.log.error('sp-recv-process', this.les(), err, `${this.spWith}: payload (${iBytes(payload.length)}): processing`);
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
    await this.handle(this.decode(payload));
  }

  private decode(payload: Uint8Array): SpPacket[] {
    try {
      return decodeSpPackets(payload);
    } catch (err) {
      this.ctx.log.error('sp-process-unmarshal', this.les(), err, `${this.spWith}: unmarshaling header`);
      throw err;
    }
  }

  private async handle(pkts: SpPacket[]): Promise<void> {
    const replies: Uint8Array[] = [];
    let infosGot = false;
    for (const pkt of pkts) {
      if (pkt.t !== 'ping') this.rxLastNonPing = this.rxLastSeen;
      switch (pkt.t) {
        case 'halt':
          this.ctx.log.debug('sp-process-halt', [...this.les(), ['Type', 'halt']], `${this.spWith}: got HALT`);
          this.outbox.clear();
          break;
        case 'ping':
          this.ctx.log.debug('sp-process-ping', [...this.les(), ['Type', 'ping']], `${this.spWith}: got PING`);
          break;
        case 'info':
          if (await this.onInfo(pkt.hash, pkt.nice, spNumber(pkt.size), replies)) infosGot = true;
          // The peer can start sending before the rest of a long payload of INFOs is answered.
          if (replies.length >= REPLY_BATCH) this.queueControl(replies.splice(0));
          break;
        case 'freq':
          this.onFreq(base32Encode(pkt.hash), pkt.hash, spNumber(pkt.offset));
          break;
        case 'file':
          await this.onFile(base32Encode(pkt.hash), spNumber(pkt.offset), pkt.payload);
          break;
        case 'done':
          this.onDone(base32Encode(pkt.hash));
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
      if (this.limiter.allow('sp-info')) {
        this.ctx.log.info('sp-infos-rx', [['XX', 'rx'], ['Node', this.node.idB32], ['Pkts', n], ['Size', size]], `${this.node.name} has got for us: ${n} packets, ${iBytes(size)}`);
      }
    }
    if (replies.length > 0) this.queueControl(replies);
  }

  /**
   * INFO: answer with DONE (have it), nothing (.nock, too nice, no room) or
   * FREQ from the resume offset. False when the INFO was ignored (too nice,
   * -tx, repeated, over MAX_PEER_INFOS).
   */
  private async onInfo(hash: Uint8Array, nice: number, size: number, replies: Uint8Array[]): Promise<boolean> {
    const { ctx, p } = this;
    const tooNice = !p.listOnly && nice > p.nice;
    if (!tooNice && (p.listOnly || p.xx !== 'tx') && this.announced.size >= MAX_PEER_INFOS) {
      // Cheap: a flood past the limit costs no string, no record, no disk access.
      if (this.infosDropped++ === 0) {
        ctx.log.info('sp-info-limit', [...this.les(), ['Limit', MAX_PEER_INFOS]], `${this.spWith}: the peer announced more than ${MAX_PEER_INFOS} packets; the rest wait for the next session`);
      }
      return false;
    }
    const id = base32Encode(hash);
    const lesp: [string, LogValue][] = [...this.les(), ['Type', 'info'], ['Pkt', id], ['Size', size], ['PktNice', nice]];
    const what = (): string => `${this.spWith}: INFO ${id} (${iBytes(size)}) nice ${formatNice(nice)}`;
    const debug = (who: string, why: string): void => {
      if (ctx.log.debugOn) ctx.log.debug(who, lesp, `${what()}: ${why}`);
    };
    if (tooNice) {
      debug('sp-process-info-too-nice', 'too nice');
      return false;
    }
    debug('sp-process-info-got', 'received');
    if (!p.listOnly && p.xx === 'tx') return false;
    if (this.announced.has(id)) {
      debug('sp-process-info-again', 'announced before, ignored');
      return false;
    }
    this.announced.add(id);
    this.infosTheir.set(id, { nice, size });
    const log = this.limiter.allow('sp-info');
    const msg = `Packet ${id} (${iBytes(size)}) (nice ${formatNice(nice)})`;
    const have = await this.partials.holding(this.node.idB32, id);
    if (have === 'packet' || have === 'seen' || have === 'quarantined') {
      // A quarantined packet (it failed verification here before) is not
      // fetched again: the same name is the same bytes. DONE frees the
      // sender's copy; ours waits in rx/quarantine/ for a person.
      if (log) ctx.log.info(`sp-info-${have === 'packet' ? 'done' : have}`, lesp, `${msg}: already ${have === 'packet' ? 'done' : have === 'seen' ? 'seen' : 'here, in quarantine'}`);
      if (!p.listOnly) replies.push(encodeSpPackets([{ t: 'done', hash }]));
      return true;
    }
    if (have === 'nock') {
      if (log) ctx.log.info('sp-info-nock', lesp, `${msg}: still not checksummed`);
      return true;
    }
    let offset = await this.partials.resumeOffset(this.node.idB32, id);
    if (offset > size) {
      // Longer than the packet: not a part of it. Start afresh.
      await this.partials.discard(this.node.idB32, id);
      offset = 0;
    }
    // Room for the rest of this one and of everything requested before it.
    if (!(await this.partials.roomFor(this.outstanding + size - offset))) {
      if (log) ctx.log.info('sp-info-no-space', lesp, `${msg}: not enough space`);
      return true;
    }
    if (log) ctx.log.info('sp-info', [...lesp, ['Offset', offset]], `${msg}: ${size > 0 ? Math.floor((100 * offset) / size) : 0}%`);
    if (!p.listOnly && (p.onlyPkts === undefined || p.onlyPkts.has(id))) {
      this.want(id, hash, size, offset);
      replies.push(encodeSpPackets([{ t: 'freq', hash, offset }]));
    }
    return true;
  }

  /** FREQ: queue the packet for sending (by niceness), or move a queued request to the new offset. */
  private onFreq(id: string, hash: Uint8Array, offset: number): void {
    const lesp: LogFields = [...this.les(), ['Type', 'freq'], ['Pkt', id], ['Offset', offset]];
    const nice = this.prep.seen.get(id);
    if (nice === undefined) {
      this.ctx.log.debug('sp-process-freq-unknown', lesp, `${this.spWith}: FREQ ${id}: unknown`);
      return;
    }
    // As the reference: with -pkts, requests for the listed packets are not served.
    if (this.p.onlyPkts !== undefined && this.p.onlyPkts.has(id)) {
      this.ctx.log.debug('sp-process-freq-skip', lesp, `${this.spWith}: FREQ ${id}: skipping`);
      return;
    }
    this.ctx.log.debug('sp-process-freq-queueing', lesp, `${this.spWith}: FREQ ${id}: queuing`);
    this.outbox.request(id, hash, offset, nice);
    this.wake();
  }

  /** DONE: the peer has our packet; remove our tx copy (in the background, REMOVERS at a time: the frame loop goes on). */
  private onDone(id: string): void {
    this.outbox.drop(id);
    this.toRemove.push(id);
    while (this.removers < REMOVERS && this.toRemove.length > 0) {
      this.removers++;
      this.removing ??= new Promise<void>((resolve) => {
        this.removed = resolve;
      });
      void this.removeDone();
    }
  }

  private async removeDone(): Promise<void> {
    for (let id = this.toRemove.shift(); id !== undefined; id = this.toRemove.shift()) {
      const lesp: LogFields = [...this.les(), ['Type', 'done'], ['Pkt', id], ['XX', 'tx']];
      this.ctx.log.debug('sp-done', lesp, `${this.spWith}: DONE: removing ${id}`);
      try {
        await this.ctx.spool.removePacket(this.node.idB32, 'tx', id, { pooled: true });
      } catch (err) {
        this.ctx.log.error('sp-done', lesp, err, `${this.spWith}: DONE: removing ${id}`);
        continue;
      }
      this.ctx.log.info('sp-done', lesp, `Packet ${id} is sent`);
    }
    if (--this.removers === 0) {
      this.removing = null;
      this.removed();
    }
  }

  /**
   * FILE: write the chunk at the end of the packet's .part (what it repeats
   * of the bytes before the end is dropped; a chunk beyond the end is
   * refused); the last one finishes the packet.
   */
  private async onFile(id: string, offset: number, data: Uint8Array): Promise<void> {
    const { ctx } = this;
    const lesp: [string, LogValue][] = [...this.les(), ['Type', 'file'], ['XX', 'rx'], ['Pkt', id], ['Size', data.length]];
    const got = `Got packet ${id} (${iBytes(data.length)})`;
    const want = this.wanted.get(id);
    if (want === undefined) {
      const why = this.infosTheir.has(id) ? 'not requested' : 'unknown file';
      if (this.limiter.allow('sp-file-open')) ctx.log.error('sp-file-open', lesp, why, `${got}: ${why}`);
      return;
    }
    const full = want.size;
    lesp.push(['FullSize', full]);
    if (offset + data.length > full) {
      if (this.limiter.allow('sp-file-write')) ctx.log.error('sp-file-write', lesp, `chunk at ${offset} of ${data.length} bytes goes past the announced size`, `${got}: writing`);
      return;
    }
    let rx = this.rxFiles.get(id);
    if (rx === undefined) {
      try {
        rx = await this.partials.openPooled(this.node.idB32, id, full, await this.partials.resumeOffset(this.node.idB32, id), { hash: !this.p.noCK });
      } catch (err) {
        ctx.log.error('sp-file-open', lesp, err, `${got}: opening part`);
        throw err;
      }
      this.rxFiles.set(id, rx);
    }
    const end = rx.end;
    if (offset > end) {
      if (!want.refusedOffset && this.limiter.allow('sp-file-offset')) {
        ctx.log.error('sp-file-offset', [...lesp, ['Offset', offset]], `chunk at ${offset}, beyond the ${end} bytes received`, `${got}: refused, only the next bytes are taken`);
      }
      want.refusedOffset = true;
      return;
    }
    const fresh = data.subarray(end - offset);
    if (fresh.length === 0 && end < full) return; // a repeat of bytes we have
    try {
      rx.write(end, fresh);
    } catch (err) {
      ctx.log.error('sp-file-write', lesp, err, `${got}: writing`);
      this.closeRx(id);
      throw err;
    }
    want.left -= fresh.length;
    this.outstanding -= fresh.length;
    const ourSize = end + fresh.length;
    lesp[lesp.length - 2] = ['Size', ourSize];
    this.bars.update('Rx', id, ourSize, full, offset);
    if (ourSize === full) await this.finishRx(rx, want.hash, lesp, `Got packet ${id} ${full > 0 ? Math.floor((100 * ourSize) / full) : 100}% (${iBytes(ourSize)} / ${iBytes(full)})`);
  }

  /**
   * The last chunk arrived: a packet whose in-stream checksum mismatched is
   * discarded and fetched again; any other goes to the finisher (fsync,
   * then rx/<PKT>, or .nock when it was not checksummed as it came) while
   * the next payloads are handled. Waits only when the finisher is full.
   */
  private async finishRx(rx: PartialReceive, hash: Uint8Array, lesp: LogFields, msg: string): Promise<void> {
    const id = rx.pktId;
    const full = this.wanted.get(id)?.size;
    this.unwant(id);
    this.rxFiles.delete(id); // the finisher closes it
    if (rx.verdict() === 'bad') {
      rx.close();
      this.ctx.log.error('sp-file-bad-checksum', lesp, 'checksum mismatch', msg);
      await this.refetch(id, full);
      return;
    }
    this.finishing.set(id, { hash, lesp, msg, full });
    await this.finisher.add(rx);
  }

  /** A received packet is durable in rx/ (DONE to the peer, then its hdr/ file) or .nock (checked in the background unless -nock), or failed. */
  private async onFinished(f: Finished): Promise<void> {
    const { ctx } = this;
    const id = f.rx.pktId;
    const it = this.finishing.get(id);
    if (it === undefined) return;
    this.finishing.delete(id);
    const { hash, lesp, msg, full } = it;
    if (f.failed !== undefined) {
      if (f.failed === 'sync') ctx.log.error('sp-file-sync', lesp, f.err, `${msg}: syncing`);
      else ctx.log.error('sp-file-rename', lesp, f.err, `${msg}: renaming`);
      return;
    }
    this.infosTheir.delete(id);
    if (f.placed === 'packet') {
      ctx.log.info('sp-file-done', lesp, `${msg}: done`);
      this.queueDone(hash);
      await f.rx.writeHdr().catch((err) => logHdrError(ctx, this.node, id, err));
      return;
    }
    ctx.log.info('sp-file-downloaded', lesp, `${msg}: downloaded`);
    if (!this.p.noCK) this.check(id, f.rest, full);
  }

  private closeRx(id: string): void {
    const f = this.rxFiles.get(id);
    if (!f) return;
    this.rxFiles.delete(id);
    f.close();
  }
}
