/**
 * Sending to a multicast area (manual: Multicast areas, Encrypted area
 * packet), as `file … area:AREA:DST` and `exec area:AREA …` do: the packet
 * is encrypted from us to the area's key (the "area message"), wrapped in a
 * plain area packet whose path is the area id, and queued to our own node;
 * tossing it then forwards it to the area's subscribers. The message is
 * marked as seen by us (Spool.markAreaSeen: SPOOL/SELF/area/AREA/MSGHASH,
 * MSGHASH being packet/header.ts's areaMsgHash of the message's encrypted
 * header), so that it is not delivered back to us, and a "tx-area" record
 * is logged.
 */
import { findNode, type AreaConfig, type Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { ConfigError } from '../errors.js';
import { iBytes } from '../format.js';
import { formatNice } from '../nice.js';
import { encryptPacket } from '../packet/encrypted.js';
import { areaMsgHash, PktType, type PlainHeader } from '../packet/header.js';
import type { FillSource } from '../stream/fileread.js';
import { txPacket, type TxResult } from './send.js';

export interface AreaTxRequest {
  area: AreaConfig;
  /** Plain header of the message (file, exec…). */
  plain: PlainHeader;
  nice: number;
  payload: AsyncIterable<Uint8Array> | FillSource;
  minSize?: number;
  maxSize?: number;
  /** Size announced in the tx-area record (the reference's estimate; 0 when unknown). */
  expectedSize?: number;
}

export interface AreaTxResult extends TxResult {
  /** The area message id. */
  msgHash: string;
}

/** Our own node as a neighbour (where area packets are queued). */
export function selfNeighbour(ctx: Context): Neighbour {
  const self = ctx.cfg.self;
  if (!self) throw new ConfigError(`${ctx.cfg.path}: no self section with private keys: cannot send`);
  const n = ctx.cfg.neighbours.get(self.idB32);
  if (!n) throw new ConfigError(`${ctx.cfg.path}: neigh has no entry for our own node (self): cannot send to areas`);
  return n;
}

/** Find an area by name; a one-line error naming it otherwise. */
function findArea(ctx: Context, name: string): AreaConfig {
  const area = ctx.cfg.areas.get(name);
  if (!area) throw new ConfigError(`unknown area ${name}: not in areas of ${ctx.cfg.path}`);
  return area;
}

/**
 * Where a command sends: "NODE" (a neighbour's name or id) or "area:AREA"
 * (the area, with our own node as `to`).
 */
export function recipient(ctx: Context, name: string): { to: Neighbour; area?: AreaConfig } {
  if (!name.startsWith('area:')) return { to: findNode(ctx.cfg, name) };
  const area = findArea(ctx, name.slice('area:'.length));
  return { to: selfNeighbour(ctx), area };
}

export async function txArea(ctx: Context, req: AreaTxRequest): Promise<AreaTxResult> {
  const { area } = req;
  const self = ctx.cfg.self;
  if (!self) throw new ConfigError(`${ctx.cfg.path}: no self section with private keys: cannot send`);
  if (!area.prv || !area.pub) throw new ConfigError(`area ${area.name} has no encryption keys (pub and prv) in ${ctx.cfg.path}: cannot send to it`);
  const to = selfNeighbour(ctx);
  const message = encryptPacket({
    sender: self,
    recipient: { id: area.id, exchPub: area.pub },
    nice: req.nice,
    plain: req.plain,
    payload: req.payload,
    maxSize: req.maxSize,
    borrow: true, // txPacket copies each chunk into its own encryption before asking for the next
  });
  const res = await txPacket(ctx, {
    to,
    plain: { type: PktType.Area, nice: 0, path: area.id },
    nice: req.nice,
    payload: message.stream,
    minSize: req.minSize,
    maxSize: req.maxSize,
    innerLayers: 1,
  });
  const msgHash = areaMsgHash(message.header);
  await ctx.spool.markAreaSeen(self.idB32, area.idB32, msgHash);
  const size = req.expectedSize ?? 0;
  ctx.log.info(
    'tx-area',
    [
      ['Node', to.idB32],
      ['Nice', req.nice],
      ['Size', size],
      ['Area', area.idB32],
      ['AreaMsg', msgHash],
    ],
    `Tx area packet to ${to.name} (source ${iBytes(size)}) nice: ${formatNice(req.nice)}, area ${area.name}: ${msgHash}`,
  );
  return { ...res, payloadSize: message.info.payloadSize, msgHash };
}
