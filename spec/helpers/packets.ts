/**
 * Packets for tests: queued by pigeon's library in a lab node's spool,
 * carried from one node's tx queue to the next hop's rx queue (as xfer
 * would), or faked (a real encrypted header, random body, named by its MTH)
 * for code that never decrypts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Decode, base32Encode } from '../../src/codec/base32.js';
import { findNode } from '../../src/config/types.js';
import type { Context } from '../../src/context.js';
import { MTH } from '../../src/crypto/mth.js';
import { encodeEncHeader, PktType, type PlainHeader } from '../../src/packet/header.js';
import { once } from '../../src/stream/blockreader.js';
import { txPacket } from '../../src/tx/send.js';
import type { Lab } from './nncp.js';

/** `data` in pieces of 100,000 bytes. */
export async function* chunks(data: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += 100_000) yield data.slice(i, i + 100_000);
}

/**
 * `data` in pieces whose sizes cycle through `sizes`, each a fresh buffer
 * overwritten once the consumer asks for the next: as stdin's reused
 * buffers behave, so a reader that keeps a view too long sees garbage.
 */
export async function* pieces(data: Uint8Array, sizes: readonly number[] = [100_000]): AsyncGenerator<Uint8Array> {
  let i = 0;
  for (let off = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length];
    const buf = Buffer.from(data.subarray(off, off + n));
    yield buf;
    buf.fill(0xee);
    off += n;
  }
}

/** A plain header of `type` whose path is `p` (text or bytes). */
export function plainOf(type: PktType, p: string | Uint8Array, nice = 100): PlainHeader {
  return { type, nice, path: typeof p === 'string' ? new TextEncoder().encode(p) : p };
}

/** Queue a packet in lab node `from` for `to` and carry it into the first hop's rx queue. Returns its id and path there. */
export async function sendPacket(l: Lab, from: string, to: string, plain: PlainHeader, payload: Uint8Array = new Uint8Array(0), nice = 96): Promise<{ id: string; rxPath: string }> {
  const fctx = l.ctx[from];
  const res = await txPacket(fctx, { to: findNode(fctx.cfg, to), plain, nice, payload: chunks(payload) });
  return { id: res.pktId, rxPath: carry(l, from, res.hop.idB32, res.pktId) };
}

/** Move packet `id` from `from`'s tx queue for hop `hopId` into the hop's rx queue (its tx hdr/ file goes). */
export function carry(l: Lab, from: string, hopId: string, id: string): string {
  const src = l.ctx[from].spool.packetPath(hopId, 'tx', id);
  const hop = Object.values(l.nodes).find((n) => n.idB32 === hopId)!;
  const dst = l.ctx[hop.name].spool.packetPath(l.nodes[from].idB32, 'rx', id);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.renameSync(src, dst);
  fs.rmSync(l.ctx[from].spool.hdrPath(hopId, 'tx', id), { force: true });
  return dst;
}

/** Queue file NAME (`size` random bytes) from ctx's node to `to`; returns its packet id and content. */
export async function queueFile(ctx: Context, to: string, name: string, size: number, nice = 224): Promise<{ id: string; data: Buffer }> {
  const data = randomBytes(size);
  const r = await txPacket(ctx, { to: findNode(ctx.cfg, to), plain: plainOf(PktType.File, name, nice), nice, payload: once(data) });
  return { id: r.pktId, data };
}

/** A fake packet from `sender` to `recipient` (Base32 ids): header + `bodyLen` random bytes, named by its MTH. */
export function fakePacket(sender: string, recipient: string, nice: number, bodyLen = 1000): { id: string; data: Buffer } {
  const hdr = encodeEncHeader({ nice, sender: base32Decode(sender)!, recipient: base32Decode(recipient)!, exchPub: randomBytes(32), signature: randomBytes(64) });
  const data = Buffer.concat([hdr, randomBytes(bodyLen)]);
  return { id: base32Encode(new MTH().update(data).digest()), data };
}
