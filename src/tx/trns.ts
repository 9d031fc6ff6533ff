/**
 * Wrapping an existing encrypted packet in transit layers by hand (manual:
 * nncp-trns). The packet, addressed to R, is put inside a trns packet for
 * the last relay of `via` (whose plain path is R's id), itself wrapped for
 * the relays before it, and queued for the first relay. The original file
 * is left where it is.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import { nodeById } from '../config/types.js';
import { node, type Context } from '../context.js';
import { ConfigError, PigeonError } from '../errors.js';
import { decodeEncHeader, ENC_HEADER_SIZE, PktType } from '../packet/header.js';
import { Progress } from '../progress.js';
import { readReused } from '../stream/fileread.js';
import { txPacket, TxResult } from './send.js';

export interface TxTrnsOptions {
  /** Path of the encrypted packet. */
  pktPath: string;
  /** Relays, first hop first; undefined: the recipient's configured via. */
  via?: Uint8Array[];
  nice: number;
}

export interface TxTrnsResult extends TxResult {
  /** Final recipient of the wrapped packet. */
  recipient: Neighbour;
}

/**
 * The packet nncp-trns names: an existing file, else NODE:PKT in our spool's
 * tx queue for NODE.
 */
export async function trnsPacketPath(ctx: Context, arg: string): Promise<string> {
  if (await stat(arg).then(() => true, () => false)) return arg;
  const parts = arg.split(':');
  if (parts.length !== 2) throw new PigeonError('EUSAGE', `${arg}: neither an existing file nor NODE:PKT`);
  const n = node(ctx, parts[0]);
  return ctx.spool.packetPath(n.idB32, 'tx', path.basename(parts[1]));
}

export async function txTrns(ctx: Context, o: TxTrnsOptions): Promise<TxTrnsResult> {
  let fh;
  try {
    fh = await open(o.pktPath, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PigeonError(code === 'ENOENT' ? 'ENOTFOUND' : 'EIO', `packet ${o.pktPath}: ${code === 'ENOENT' ? 'no such file' : code}`, { cause: err });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PigeonError('EUSAGE', `packet ${o.pktPath}: not a regular file`);
    const head = new Uint8Array(ENC_HEADER_SIZE);
    const { bytesRead } = await fh.read(head, 0, ENC_HEADER_SIZE, 0);
    const header = decodeEncHeader(head.subarray(0, bytesRead), `packet ${o.pktPath}`);
    const recipient = nodeById(ctx.cfg, header.recipient);
    if (!recipient) throw new ConfigError(`packet ${o.pktPath} is addressed to ${base32Encode(header.recipient)}, which is not in neigh of ${ctx.cfg.path}`);
    const via = o.via ?? recipient.via;
    if (via.length === 0) {
      const why = o.via ? 'the -via list is empty' : `${recipient.name} has no via configured`;
      throw new PigeonError('EUSAGE', `packet ${o.pktPath}: no relay to send it through (${why}): pass -via NODE[,NODE…]`);
    }
    const lastId = base32Encode(via[via.length - 1]);
    const last = ctx.cfg.neighbours.get(lastId);
    if (!last) throw new ConfigError(`relay ${lastId} is not in neigh of ${ctx.cfg.path}`);
    const name = path.basename(o.pktPath);
    const progress = new Progress({ enabled: ctx.progress, label: `Tx ${name}`, total: st.size });
    ctx.log.debug('tx', [['Node', last.idB32], ['Nice', o.nice], ['Size', st.size]], `Tx trns packet to ${last.name} nice: ${o.nice}`);
    const res = await txPacket(ctx, {
      to: last,
      plain: { type: PktType.Trns, nice: 0, path: recipient.id },
      nice: o.nice,
      payload: progress.track(readReused(fh, { start: 0 })),
      via: via.slice(0, -1),
    });
    return { ...res, recipient };
  } finally {
    await fh.close();
  }
}
