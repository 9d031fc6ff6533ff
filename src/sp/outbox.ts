/**
 * The sending half of a session's FILE traffic: the peer's requests (FREQ),
 * most urgent first, the tx/ packets they opened, and the one FILE packet
 * every chunk is read straight into (src/spool/partial.ts's TxPacket). The
 * session decides when to send; this hands it the next chunk.
 */
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { iBytes } from '../format.js';
import type { LogFields, LogValue } from '../log/log.js';
import type { Partials, TxPacket } from '../spool/partial.js';
import { fileInPlace, SP_FILE_OVERHEAD, SP_MAX_PAYLOAD } from './packets.js';

/** A packet the peer requested from us. */
interface Freq {
  id: string;
  hash: Uint8Array;
  offset: number;
  nice: number;
}

/** A payload takes another FILE packet only while at least this many bytes of data still fit. */
const MIN_PACKED_CHUNK = 4096;

export interface OutboxOptions {
  ctx: Context;
  node: Neighbour;
  partials: Partials;
  /** The session's log fields (Node, Nice). */
  les(): [string, LogValue][];
  /** "SP with NAME (nice N)", for log lines. */
  spWith: string;
  /** `size` bytes of tx/<id> (of `full`) have been sent; `initial` where this request started. */
  onProgress(id: string, size: number, full: number, initial: number): void;
}

export class Outbox {
  private queue: Freq[] = [];
  private readonly files = new Map<string, TxPacket>();
  /** One FILE packet, rebuilt in place for every chunk (the transport has encrypted it before the next). */
  private readonly filePkt = new Uint8Array(SP_MAX_PAYLOAD);

  constructor(private readonly o: OutboxOptions) {}

  /** Requests wait. */
  get pending(): boolean {
    return this.queue.length > 0;
  }

  /** Nothing requested and nothing half-sent. */
  get drained(): boolean {
    return this.queue.length === 0 && this.files.size === 0;
  }

  /** Queue a request behind those at least as urgent; a repeated one moves to its new offset. */
  request(id: string, hash: Uint8Array, offset: number, nice: number): void {
    const existing = this.queue.find((f) => f.id === id);
    if (existing) {
      existing.offset = offset;
      return;
    }
    let at = this.queue.length;
    for (let i = 0; i < this.queue.length; i++) {
      if (this.queue[i].nice > nice) {
        at = i;
        break;
      }
    }
    // A copy: `hash` is a view of the received payload, whose buffer the transport reuses.
    this.queue.splice(at, 0, { id, hash: Uint8Array.from(hash), offset, nice });
  }

  /** Forget every request (HALT); packets being sent stay open. */
  clear(): void {
    this.queue = [];
  }

  /** Forget the request for `id` and close its packet (DONE). */
  drop(id: string): void {
    this.forget(id);
    this.closeFile(id);
  }

  /** Close every open packet. */
  close(): void {
    for (const id of [...this.files.keys()]) this.closeFile(id);
  }

  /**
   * FILE packets for the most urgent requests in one payload (a view of the
   * one reused buffer): with `pack`, one after another while a chunk of at
   * least MIN_PACKED_CHUNK bytes still fits, so many small packets travel
   * in one frame instead of one frame each (the receiver takes every packet
   * of a payload in order, as it does INFOs); without, one. Null when
   * nothing could be sent: every request tried had to be dropped.
   */
  nextPayload(pack: boolean): Uint8Array | null {
    let used = 0;
    while (this.queue.length > 0) {
      const room = SP_MAX_PAYLOAD - used - SP_FILE_OVERHEAD;
      if (used > 0 && room < MIN_PACKED_CHUNK) break;
      const pkt = this.next(used, room);
      if (pkt === null) continue;
      used += pkt.length;
      if (!pack) break;
    }
    return used === 0 ? null : this.filePkt.subarray(0, used);
  }

  /**
   * The next FILE packet of the most urgent request, of at most `maxChunk`
   * bytes of data, built at filePkt[at..] (and returned as a view of it), or
   * null when that request had to be dropped: its packet is gone (nncp-rm, a
   * DONE) or unreadable.
   */
  private next(at: number, maxChunk: number): Uint8Array | null {
    const q = this.queue[0];
    if (q === undefined) return null;
    const { ctx } = this.o;
    const fields = (): LogFields => [...this.o.les(), ['XX', 'tx'], ['Pkt', q.id], ['Size', q.offset]];
    let tx = this.files.get(q.id);
    if (tx === undefined) {
      try {
        tx = this.o.partials.openTx(this.o.node.idB32, q.id);
        this.files.set(q.id, tx);
      } catch (err) {
        // Gone meanwhile: drop the request rather than the session.
        ctx.log.error('sp-queue-open', fields(), err, `${this.o.spWith}: tx/${q.id} (${iBytes(q.offset)}): opening`);
        this.forget(q.id);
        return null;
      }
    }
    const pkt = this.filePkt.subarray(at);
    let n = 0;
    if (q.offset < tx.size) {
      try {
        n = tx.read(pkt, SP_FILE_OVERHEAD, Math.min(maxChunk, tx.size - q.offset), q.offset);
        if (n === 0) throw new Error('file ended early');
      } catch (err) {
        ctx.log.error('sp-file-read', fields(), err, `${this.o.spWith}: tx/${q.id} (${iBytes(q.offset)}): reading`);
        this.drop(q.id);
        return null;
      }
    }
    const payload = fileInPlace(pkt, q.hash, q.offset, n);
    const ourSize = q.offset + n;
    this.o.onProgress(q.id, ourSize, tx.size, q.offset);
    if (ourSize >= tx.size) {
      ctx.log.debug('sp-file-finished', [...this.o.les(), ['XX', 'tx'], ['Pkt', q.id], ['Size', ourSize], ['FullSize', tx.size]], `${this.o.spWith}: tx/${q.id} (${iBytes(ourSize)}): finished`);
      this.closeFile(q.id);
      this.queue.shift();
    } else {
      q.offset = ourSize;
    }
    return payload;
  }

  private forget(id: string): void {
    this.queue = this.queue.filter((f) => f.id !== id);
  }

  private closeFile(id: string): void {
    const f = this.files.get(id);
    if (!f) return;
    this.files.delete(id);
    f.close();
  }
}
