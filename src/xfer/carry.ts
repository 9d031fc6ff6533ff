/**
 * `pigeon carry DIR`: one run per visit of a removable medium, in place of
 * the five-step script (xfer -rx; ack 4>>acks; toss -seen; xfer -keep -tx
 * -mkdir; rm -pkt < acks), and loss-proof where that script is not.
 *
 *   1. rx: every packet on DIR/<our id>/<SENDER>/ from a known neighbour
 *      (only -node ones) is checked and imported, as xfer -rx does (same
 *      judgements, same log records), and removed from the medium. A packet
 *      seen before (rx/seen/) is ACKed again, not only dropped: the ACK that
 *      should have freed it at its sender was lost (or never made).
 *   2. toss with -seen and -gen-ack: every tossed packet (ACKs excepted) is
 *      ACKed to the neighbour it came from; an incoming ACK removes our
 *      packet from tx/. With -notoss, the imported packets are ACKed at once
 *      instead (they wait in rx/ for a toss).
 *   3. tx: every selected neighbour's queue is written to DIR/<N>/<our id>/
 *      (directories made), as xfer -tx -keep -mkdir does: our packets stay
 *      in tx/ until their ACK comes back, while the automatic ACK packets
 *      (marked in tx/ack/) leave tx/ once they are safely on the medium.
 *
 * Every step is one of the crash-safe pieces (xfer, toss, the spool's
 * atomic writes): a run killed anywhere and run again finishes the job,
 * with at worst one more ACK of a packet (harmless: it finds nothing left
 * to remove). Kill points of its own (PIGEON_KILLPOINT): carry-received
 * (after 1), carry-tossed (after 2); those of xfer, toss and ack apply
 * inside (xfer-rx-reacked, toss-acked, xfer-tx-*, xfer-tx-ack-dequeued).
 *
 * The medium keeps the reference's layout, so nncp-xfer reads what carry
 * writes and the other way round; packets on it for other nodes are left
 * alone.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { errCode, errorLine } from '../errors.js';
import { killpoint } from '../killpoint.js';
import { PktType } from '../packet/header.js';
import { isId } from '../spool/spool.js';
import { tossAll, type TossOptions } from '../toss/toss.js';
import { autoAck, plainTypeOf } from '../tx/ack.js';
import { judgeCopy } from './medium.js';
import { xferRx, xferTx, type XferOptions } from './xfer.js';

export interface CarryOptions {
  /** The medium's root directory. */
  dir: string;
  /** Only these neighbours (default: all). */
  nodes?: Neighbour[];
  /** Largest niceness carried and tossed (default 255). */
  nice?: number;
  rxOnly?: boolean;
  txOnly?: boolean;
  /** Do not toss: ACK the imported packets right away, leave them in rx/. */
  noToss?: boolean;
  /** Look only: count what a run would do, change nothing. */
  dryRun?: boolean;
  /** Stops the toss between packets. */
  signal?: AbortSignal;
}

export interface CarryResult {
  ok: boolean;
  /** Packets taken in from the medium. */
  in: number;
  /** Packets written to the medium. */
  out: number;
  /** ACKs queued for our neighbours. */
  acknowledged: number;
  /** Our tx packets their ACKs freed. */
  freed: number;
  /** Packets (if any) tossed. */
  tossed: number;
  dryRun: boolean;
}

/** The nodes to visit one by one: the selected ones, or `undefined` (everyone) once. */
function each(nodes: Neighbour[] | undefined): (Neighbour | undefined)[] {
  return nodes && nodes.length > 0 ? nodes : [undefined];
}

export async function carry(ctx: Context, o: CarryOptions): Promise<CarryResult> {
  if (!ctx.cfg.self) throw new Error('carry needs our own node (self) in the configuration');
  if (o.dryRun) return survey(ctx, o);
  const res: CarryResult = { ok: true, in: 0, out: 0, acknowledged: 0, freed: 0, tossed: 0, dryRun: false };
  const onAckSent = () => void res.acknowledged++;
  const base: XferOptions = { dir: o.dir, nice: o.nice };

  if (!o.txOnly) {
    const onImported = o.noToss
      ? async (sender: Neighbour, pktId: string) => {
          const type = await plainTypeOf(ctx, ctx.spool.packetPath(sender.idB32, 'rx', pktId));
          if (type === PktType.Ack) return;
          await autoAck(ctx, sender, pktId);
          onAckSent();
        }
      : undefined;
    for (const node of each(o.nodes)) {
      const rx = await xferRx(ctx, { ...base, node, ackSeen: () => true, onImported, onAckSent });
      res.in += rx.packets.length;
      res.ok &&= rx.ok;
    }
    killpoint('carry-received');
    if (!o.noToss) {
      const opts: TossOptions = { nice: o.nice, doSeen: true, genAck: true, signal: o.signal, onAckSent, onAckFreed: () => void res.freed++ };
      for (const node of each(o.nodes)) {
        const t = await tossAll(ctx, { ...opts, node });
        res.tossed += t.tossed;
        res.ok &&= t.ok;
      }
      killpoint('carry-tossed');
    }
  }
  if (!o.rxOnly) {
    for (const node of each(o.nodes)) {
      const tx = await xferTx(ctx, { ...base, node, keep: true, mkdir: true });
      res.out += tx.packets.length;
      res.ok &&= tx.ok;
    }
  }
  return res;
}

/** -dryrun: what would be taken in (new packets for us) and written out (queued packets not on the medium yet). */
async function survey(ctx: Context, o: CarryOptions): Promise<CarryResult> {
  const self = ctx.cfg.self!;
  const res: CarryResult = { ok: true, in: 0, out: 0, acknowledged: 0, freed: 0, tossed: 0, dryRun: true };
  const maxNice = o.nice ?? 255;
  const nodes = o.nodes && o.nodes.length > 0 ? o.nodes : [...ctx.cfg.neighbours.values()];
  for (const node of nodes) {
    if (!o.txOnly) {
      const dir = path.join(o.dir, self.idB32, node.idB32);
      let names: string[] = [];
      try {
        names = await fsp.readdir(dir);
      } catch (err) {
        if (errCode(err) !== 'ENOENT' && errCode(err) !== 'ENOTDIR') {
          ctx.log.error('carry-dryrun', [['Dir', dir]], errorLine(err), `Carry: reading ${dir}`);
          res.ok = false;
        }
      }
      for (const name of names.filter(isId)) {
        if (await ctx.spool.isSeen(node.idB32, name)) res.acknowledged++;
        else res.in++;
      }
    }
    if (!o.rxOnly && node.idB32 !== self.idB32) {
      const dst = path.join(o.dir, node.idB32, self.idB32);
      for (const job of await ctx.spool.list(node.idB32, 'tx', { nice: maxNice })) {
        if ((await judgeCopy(path.join(dst, job.id), job)) !== 'verified') res.out++;
      }
    }
  }
  return res;
}

/** The one line a run ends with. */
export function carrySummary(r: CarryResult): string {
  if (r.dryRun) return `carry (dry run): would take in ${r.in}, write out ${r.out}; ${r.acknowledged} seen before (ACKed again unless ACKs)`;
  return `carry: in ${r.in}, out ${r.out}, acknowledged ${r.acknowledged}, freed ${r.freed}`;
}
