/**
 * ack packets: the sender confirms it received our packet whose id is the
 * path; our copy in its tx queue (and its hdr/ file) can go. An id we no
 * longer have is fine (already removed). The acknowledgement is read and
 * verified to its end before anything is removed.
 */
import { promises as fsp } from 'node:fs';
import { errCode } from '../errors.js';
import { drain, path32B32, TossFailure, withFields, type Outcome, type Tossing } from './common.js';

export async function tossAck(t: Tossing): Promise<Outcome> {
  const { ctx, opts, origin } = t;
  const acked = path32B32(t.plain);
  const fields = withFields(t.fields, ['Type', 'ack'], ['Pkt', acked]);
  const prefix = `Tossing ack ${origin.name}/${t.pktName}: ${acked}`;
  ctx.log.debug('rx-ack', fields, prefix);
  try {
    await drain(t.body, opts.signal);
  } catch (err) {
    throw new TossFailure('rx-ack', fields, err, prefix);
  }
  if (!origin.isArea) {
    const pktPath = ctx.spool.packetPath(origin.idB32, 'tx', acked);
    let present = true;
    try {
      await fsp.lstat(pktPath);
    } catch (err) {
      if (errCode(err) !== 'ENOENT') throw new TossFailure('rx-ack', fields, err, `${prefix}: removing packet`);
      present = false;
    }
    if (!present) {
      ctx.log.debug('rx-ack', fields, `${prefix}: already disappeared`);
    } else if (!opts.dryRun) {
      try {
        await ctx.spool.removePacket(origin.idB32, 'tx', acked);
        opts.onAckFreed?.(origin.idB32, acked);
      } catch (err) {
        throw new TossFailure('rx-ack', fields, err, `${prefix}: removing packet`);
      }
    }
  }
  ctx.log.info('rx', fields, `Got ACK packet from ${origin.name} of ${acked}`);
  return 'done';
}
