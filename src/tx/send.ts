/**
 * Queueing outgoing packets: encrypt (wrapping in transit layers for `via`
 * routes, innermost first), hash the result with MTH for its name, and
 * commit it atomically into the first hop's tx queue with its hdr/ file.
 */
import { base32Encode } from '../codec/base32.js';
import type { Config, Neighbour, SelfNode } from '../config/types.js';
import { MTH } from '../crypto/mth.js';
import { ConfigError, PigeonError } from '../errors.js';
import { encryptPacket } from '../packet/encrypted.js';
import { PktType, PlainHeader } from '../packet/header.js';
import type { Spool } from '../spool/spool.js';
import type { FillSource } from '../stream/fileread.js';
import { routeHops } from './route.js';

export interface TxContext {
  cfg: Config;
  spool: Spool;
}

export interface TxRequest {
  /** Final destination. */
  to: Neighbour;
  /** Plain header of the innermost packet. */
  plain: PlainHeader;
  /** Niceness of every encrypted layer. */
  nice: number;
  payload: AsyncIterable<Uint8Array> | FillSource;
  /** Pad the innermost layer so the packet queued is at least this long (bytes). */
  minSize?: number;
  /** Refuse a payload longer than this (bytes). */
  maxSize?: number;
  /** Relays to use instead of the neighbour's configured `via` (first hop first). */
  via?: Uint8Array[];
  /**
   * Called with the packet's id and first hop once it is complete in tmp/,
   * before it is committed to tx/ (to record something about it that must
   * exist whenever the packet does).
   */
  beforeCommit?: (pktId: string, hop: Neighbour) => Promise<void>;
  /** Layers inside the payload already (1 for an area message), counted when padding to minSize. */
  innerLayers?: number;
}

export interface TxResult {
  /** Packet id (Base32 MTH) in the first hop's tx queue. */
  pktId: string;
  /** The neighbour whose tx queue holds it. */
  hop: Neighbour;
  /** Plaintext bytes in the innermost layer, plain header included. */
  payloadSize: number;
  /** Bytes of the queued packet. */
  size: number;
}

function needSelf(cfg: Config): SelfNode {
  if (!cfg.self) throw new ConfigError(`${cfg.path}: no self section with private keys: cannot send`);
  return cfg.self;
}

/** Encrypt, route and queue one packet. Nothing appears in the spool on failure. */
export async function txPacket(ctx: TxContext, req: TxRequest): Promise<TxResult> {
  const self = needSelf(ctx.cfg);
  const hops = routeHops(ctx.cfg, req.to, req.via);
  const inner = encryptPacket({
    sender: self,
    recipient: hops[0],
    nice: req.nice,
    plain: req.plain,
    payload: req.payload,
    minSize: req.minSize,
    wrappers: hops.length + (req.innerLayers ?? 0),
    maxSize: req.maxSize,
    // Every layer's chunks are copied or written before the next is asked for.
    borrow: true,
  });
  let layer = inner;
  for (let i = 1; i < hops.length; i++) {
    layer = encryptPacket({
      sender: self,
      recipient: hops[i],
      nice: req.nice,
      plain: { type: PktType.Trns, nice: 0, path: hops[i - 1].id },
      payload: layer.stream,
      borrow: true,
    });
  }
  const hop = hops[hops.length - 1];
  const tmp = await ctx.spool.tmpFile();
  const mth = new MTH();
  try {
    for await (const chunk of layer.stream) {
      mth.update(chunk);
      await tmp.writeBorrowed(chunk);
    }
    const pktId = base32Encode(mth.digest());
    await req.beforeCommit?.(pktId, hop);
    await ctx.spool.commitPacket(tmp, hop.idB32, 'tx', pktId, layer.header);
    await ctx.spool.linkNeighbour(hop.idB32, hop.name);
    return { pktId, hop, payloadSize: inner.info.payloadSize, size: layer.info.totalSize };
  } catch (err) {
    await tmp.abort();
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new PigeonError('EIO', `spool ${ctx.spool.root}: no space left on device; nothing was queued`, { cause: err });
    }
    throw err;
  }
}
