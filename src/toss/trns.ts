/**
 * trns packets: the payload is an encrypted packet for the node named in
 * the path. It is queued unchanged (same bytes, so the same packet id: its
 * MTH) in that node's tx queue, with its hdr/ file; or, when we reach that
 * node through relays of our own (`via`), wrapped in one more transit layer
 * for the last of them, as the reference does. The bytes stream into a
 * temporary file that is committed only once the carrying packet has been
 * read and verified to its end.
 */
import { base32Encode } from '../codec/base32.js';
import { nodeById, type Neighbour } from '../config/types.js';
import { MTH } from '../crypto/mth.js';
import { iBytes } from '../format.js';
import { formatNice } from '../nice.js';
import { decodeEncHeader, ENC_HEADER_SIZE, PktType } from '../packet/header.js';
import { Progress } from '../progress.js';
import { prepend, takeHead } from '../stream/head.js';
import { txPacket } from '../tx/send.js';
import {
  checkAbort,
  drain,
  path32,
  TossFailure,
  tossingPrefix,
  withFields,
  type Outcome,
  type Tossing,
} from './common.js';

export async function tossTrns(t: Tossing): Promise<Outcome> {
  const { ctx, opts } = t;
  const nextId = path32(t.plain);
  const nextB32 = base32Encode(nextId);
  const fields = withFields(t.fields, ['Type', 'trns'], ['Dst', nextB32]);
  const prefix = `${tossingPrefix(t, 'trns')}: ${nextB32}`;
  const node = nodeById(ctx.cfg, nextId);
  if (!node) throw new TossFailure('rx-unknown', fields, 'unknown node', prefix);
  ctx.log.debug('rx-tx', fields, prefix);

  const { head, rest } = await takeHead(t.body, ENC_HEADER_SIZE).catch((err) => {
    throw new TossFailure('rx', fields, err, `${prefix}: txing`);
  });
  try {
    decodeEncHeader(head, `transit payload of ${t.pktName}`);
  } catch (err) {
    await rest.return(undefined);
    throw new TossFailure('rx', fields, err, `${prefix}: txing`);
  }
  const inner = prepend(head, rest);

  if (opts.dryRun) {
    try {
      await drain(inner, opts.signal);
    } catch (err) {
      throw new TossFailure('rx', fields, err, `${prefix}: txing`);
    }
  } else if (node.via.length === 0) {
    await queueAsIs(t, node, head, inner, fields, prefix);
  } else {
    // We reach the next hop through relays: wrap for the last of them.
    const lastVia = nodeById(ctx.cfg, node.via[node.via.length - 1]);
    if (!lastVia) throw new TossFailure('rx', fields, `relay ${base32Encode(node.via[node.via.length - 1])} of ${node.name} is unknown`, `${prefix}: txing`);
    try {
      await txPacket(ctx, {
        to: lastVia,
        via: node.via.slice(0, -1),
        plain: { type: PktType.Trns, nice: 0, path: node.id },
        nice: t.nice,
        payload: inner,
      });
    } catch (err) {
      throw new TossFailure('rx', fields, err, `${prefix}: txing`);
    }
  }
  ctx.log.info('rx', fields, `Got transitional packet from ${t.origin.name} to ${node.name} (${iBytes(t.size)})`);
  return 'done';
}

/** Queue the carried packet byte for byte in `node`'s tx queue under its MTH. */
async function queueAsIs(t: Tossing, node: Neighbour, header: Uint8Array, inner: AsyncIterable<Uint8Array>, fields: Tossing['fields'], prefix: string): Promise<void> {
  const { ctx, opts } = t;
  const txFields: Tossing['fields'] = [
    ['Type', 'trns'],
    ['Node', node.idB32],
    ['Nice', t.nice],
    ['Size', t.size],
  ];
  const txMsg = `Transitional packet to ${node.name} (${iBytes(t.size)}) (nice ${formatNice(t.nice)})`;
  ctx.log.debug('tx', txFields, txMsg);
  let tmp;
  try {
    tmp = await ctx.spool.tmpFile();
  } catch (err) {
    throw new TossFailure('rx', fields, err, `${prefix}: txing`);
  }
  const mth = new MTH();
  const progress = new Progress({ enabled: ctx.progress, label: `Tx trns ${node.idB32}`, total: t.size });
  try {
    for await (const chunk of inner) {
      checkAbort(opts.signal);
      mth.update(chunk);
      progress.add(chunk.length);
      await tmp.writeBorrowed(chunk);
    }
    progress.finish();
    const pktId = base32Encode(mth.digest());
    await ctx.spool.commitPacket(tmp, node.idB32, 'tx', pktId, header);
    await ctx.spool.linkNeighbour(node.idB32, node.name);
  } catch (err) {
    await tmp.abort();
    ctx.log.error('tx', txFields, err, txMsg);
    throw new TossFailure('rx', fields, err, `${prefix}: txing`);
  }
  ctx.log.info('tx', txFields, txMsg);
}
