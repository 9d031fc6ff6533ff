/**
 * area packets (manual: Multicast areas, Encrypted area packet). The
 * payload is an encrypted packet addressed to the area; its message id
 * (MsgHash, packet/header.ts areaMsgHash) is the Base32 BLAKE2b-256 of that
 * packet's 172-byte header, the same on every node it reaches.
 *
 * One pass, as the reference's tosser does it:
 *  - for the first subscriber that has not yet seen the message (no
 *    SPOOL/SUB/area/AREA/MsgHash, Spool.isAreaSeen): unless it is whom we got the message from
 *    or its author, queue the area packet to it unchanged; mark it seen;
 *    ask to be called again (the packet is read afresh from its start);
 *  - when every subscriber has it: if we saw the message before
 *    (SPOOL/SELF/area/AREA/MsgHash), the packet is a duplicate and goes;
 *  - else, with the area's private key, open the inner packet (its author
 *    must be a known node unless the area allows unknown ones) and deliver
 *    it as a packet from the area (the area's incoming and exec); without
 *    the key we only relay. Then mark the message seen by us.
 */
import { base32Encode } from '../codec/base32.js';
import { nodeById } from '../config/types.js';
import { iBytes } from '../format.js';
import { decryptPacket, openPlain } from '../packet/encrypted.js';
import { areaMsgHash, decodeEncHeader, ENC_HEADER_SIZE, PktType } from '../packet/header.js';
import { prepend, takeHead } from '../stream/head.js';
import { txPacket } from '../tx/send.js';
import {
  drain,
  path32,
  pktSizeWithoutEnc,
  TossFailure,
  watchIntegrity,
  withFields,
  type Outcome,
  type Tossing,
} from './common.js';

/** Hand a decrypted inner packet to the per-type handlers. */
export type Deliver = (inner: Tossing) => Promise<Outcome>;

export async function tossArea(t: Tossing, deliver: Deliver): Promise<Outcome> {
  const { ctx, opts, origin } = t;
  const areaId = path32(t.plain);
  const areaB32 = base32Encode(areaId);
  let fields = withFields(t.fields, ['Type', 'area'], ['Area', areaB32]);
  const area = ctx.cfg.areasById.get(areaB32);
  const logMsg = `Tossing ${origin.name}/${t.pktName} (${iBytes(t.size)}): area ${area?.name ?? areaB32}`;
  if (!area) throw new TossFailure('rx-area-unknown', fields, 'unknown area', logMsg);

  const { head, rest } = await takeHead(t.body, ENC_HEADER_SIZE).catch((err) => {
    throw new TossFailure('rx-area-pkt-enc-read', fields, err, logMsg);
  });
  let author: string;
  try {
    author = base32Encode(decodeEncHeader(head, `area message in ${t.pktName}`).sender);
  } catch (err) {
    await rest.return(undefined);
    throw new TossFailure('rx-area-pkt-enc-read', fields, err, logMsg);
  }
  const msgHash = areaMsgHash(head);
  fields = withFields(fields, ['AreaMsg', msgHash]);
  ctx.log.debug('rx-area', fields, logMsg);

  for (const sub of area.subs) {
    const node = ctx.cfg.neighbours.get(sub);
    const name = node?.name ?? sub;
    const echoFields = withFields(fields, ['Echo', sub]);
    if (await ctx.spool.isAreaSeen(sub, areaB32, msgHash)) {
      ctx.log.debug('rx-area-echo-seen', echoFields, `${logMsg}: echo to: ${name}: already sent`);
      continue;
    }
    if (opts.dryRun) {
      ctx.log.info('rx-area-echo', echoFields, `${logMsg}: echoing to: ${name}`);
      continue;
    }
    if (sub !== origin.idB32 && sub !== author) {
      if (!node) throw new TossFailure('rx-area', echoFields, 'unknown node', `${logMsg}: echo to: ${name}`);
      ctx.log.info('rx-area-echo', echoFields, `${logMsg}: echo to: ${name}`);
      try {
        await txPacket(ctx, {
          to: node,
          plain: { type: PktType.Area, nice: t.plain.nice, path: t.plain.path },
          nice: t.nice,
          payload: prepend(head, rest),
        });
      } catch (err) {
        throw new TossFailure('rx-area', echoFields, err, `${logMsg}: echo to: ${name}`);
      }
    }
    try {
      await ctx.spool.markAreaSeen(sub, areaB32, msgHash);
    } catch (err) {
      throw new TossFailure('rx-area-touch', echoFields, err, `${logMsg}: echo to: ${name}`);
    }
    return 'repeat';
  }

  const selfId = ctx.cfg.self!.idB32;
  if (await ctx.spool.isAreaSeen(selfId, areaB32, msgHash)) {
    ctx.log.debug('rx-area-seen', fields, `${logMsg}: already seen`);
    return 'done';
  }

  const inner = prepend(head, rest);
  if (!area.prv) {
    ctx.log.debug('rx-area-no-prv', fields, `${logMsg}: no private key for decoding`);
    try {
      await drain(inner, opts.signal);
    } catch (err) {
      throw new TossFailure('rx-area-pkt-enc-read2', fields, err, logMsg);
    }
  } else {
    const known = ctx.cfg.neighbours.has(author);
    if (!known && !area.allowUnknown) {
      throw new TossFailure('rx-area-unknown', withFields(fields, ['Sender', author]), 'unknown sender', `${logMsg}: sender: ${author}`);
    }
    const innerName = `area/${areaB32}/${msgHash}`;
    let innerTossing: Tossing;
    try {
      const dec = await decryptPacket({
        self: { id: area.id, exchPrv: area.prv },
        lookup: (id) => nodeById(ctx.cfg, id),
        input: inner,
        what: `area message ${msgHash}`,
        noVerify: !known,
        borrow: true,
      });
      const { plain, body } = await openPlain(watchIntegrity(dec.plaintext, t.delivery), `area message ${msgHash}`);
      const size = pktSizeWithoutEnc(t.size);
      innerTossing = {
        ctx,
        opts,
        origin: { name: area.name, id: area.id, idB32: area.idB32, exec: area.exec, incoming: area.incoming, freq: {}, isArea: true },
        pktName: innerName,
        nice: t.nice,
        size,
        fields: withFields(fields, ['Size', size]),
        plain,
        body,
        delivery: t.delivery, // the carrier's record: its payload is delivered once
        run: t.run,
      };
    } catch (err) {
      throw new TossFailure('rx-area-pkt-enc-read2', fields, err, logMsg);
    }
    const outcome = await deliver(innerTossing);
    if (outcome !== 'done') return outcome;
  }
  if (!opts.dryRun) {
    try {
      await ctx.spool.markAreaSeen(selfId, areaB32, msgHash);
    } catch (err) {
      throw new TossFailure('rx-area-touch', fields, err, logMsg);
    }
  }
  return 'done';
}
