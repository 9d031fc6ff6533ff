/**
 * File requests (manual: nncp-freq): the plain header's path is the file
 * wanted from the remote's freq.path, its niceness the one the reply file
 * should travel with; the payload is the name the file should get in our
 * incoming directory.
 */
import path from 'node:path';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { PigeonError } from '../errors.js';
import { PktType } from '../packet/header.js';
import { once } from '../stream/blockreader.js';
import { cleanRelPath, logTxFailure } from './file.js';
import { txPacket, TxResult } from './send.js';

export interface TxFreqOptions {
  to: Neighbour;
  /** Path relative to the remote's freq.path. */
  src: string;
  /** Name for the reply in our incoming directory. */
  dst: string;
  nice: number;
  replyNice: number;
  minSize?: number;
  via?: Uint8Array[];
}

const utf8 = new TextEncoder();

/** The target of `freq`, NODE:SRC, and its DST (default: SRC's last element). */
export function parseFreqTarget(target: string, dst?: string): { name: string; src: string; dst: string } {
  const colon = target.indexOf(':');
  if (colon < 0) throw new PigeonError('EUSAGE', `${target}: expected NODE:SRC (a colon after the node name)`);
  const src = target.slice(colon + 1);
  return { name: target.slice(0, colon), src, dst: dst ?? path.posix.basename(src) };
}

function freqFields(o: TxFreqOptions, src: string, dst: string, pkt: string) {
  return [
    ['Type', 'freq'],
    ['Node', o.to.idB32],
    ['Nice', o.nice],
    ['ReplyNice', o.replyNice],
    ['Src', src],
    ['Dst', dst],
    ['Pkt', pkt],
  ] as const;
}

export async function txFreq(ctx: Context, o: TxFreqOptions): Promise<TxResult> {
  const dst = cleanRelPath(o.dst, 'destination');
  const src = cleanRelPath(o.src, 'source', "the remote's freq.path");
  const msg = `File request from ${o.to.name}:${src} to ${dst} is sent`;
  try {
    const res = await txPacket(ctx, {
      to: o.to,
      plain: { type: PktType.Freq, nice: o.replyNice, path: utf8.encode(src) },
      nice: o.nice,
      payload: once(utf8.encode(dst)),
      minSize: o.minSize,
      via: o.via,
    });
    ctx.log.info('tx', freqFields(o, src, dst, res.pktId), msg);
    return res;
  } catch (err) {
    logTxFailure(ctx, freqFields(o, src, dst, ''), err, msg);
    throw err;
  }
}
