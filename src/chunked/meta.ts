/**
 * The .nncp.meta file of a chunked transfer (manual: Chunked files): XDR of
 *
 *   MAGIC "NNCPM\0\0\2" | FILESIZE u64 | CHUNKSIZE u64 | CHECKSUMS (u32 count, then 32-byte MTH each)
 *
 * Chunk i is DST.nncp.chunk<i>; all but the last hold exactly CHUNKSIZE bytes.
 */
import { XdrReader, XdrWriter } from '../codec/xdr.js';
import { PacketError } from '../errors.js';
import { MTH_SIZE } from '../crypto/mth.js';
import { bytesEqual } from '../codec/bytes.js';
import { describeForeignMagic, MAGIC_CHUNKED_META } from '../packet/magic.js';

export const META_SUFFIX = '.nncp.meta';
const CHUNK_SUFFIX = '.nncp.chunk';

export interface ChunkedMeta {
  /** Bytes of the whole reassembled file. */
  fileSize: number;
  /** Bytes of every chunk but the last. */
  chunkSize: number;
  /** MTH of each chunk, in order. */
  checksums: Uint8Array[];
}

/** Name of chunk `n` of `dst`. */
export function chunkName(dst: string, n: number): string {
  return `${dst}${CHUNK_SUFFIX}${n}`;
}

export function encodeMeta(m: ChunkedMeta): Uint8Array {
  const w = new XdrWriter().fixed(MAGIC_CHUNKED_META.bytes).u64(m.fileSize).u64(m.chunkSize).u32(m.checksums.length);
  for (const c of m.checksums) {
    if (c.length !== MTH_SIZE) throw new RangeError(`chunk checksum of ${c.length} bytes: an MTH is ${MTH_SIZE}`);
    w.fixed(c);
  }
  return w.bytes();
}

function safe(v: bigint, what: string, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new PacketError(`${what}: ${field} ${v} is out of range`);
  return Number(v);
}

/** Parse a meta file's bytes; `what` names it in errors. Trailing bytes are ignored, as the reference does. */
export function decodeMeta(buf: Uint8Array, what = 'chunked meta'): ChunkedMeta {
  const r = new XdrReader(buf, 0, what);
  const magic = r.fixed(8);
  if (!bytesEqual(magic, MAGIC_CHUNKED_META.bytes)) throw new PacketError(`${what}: ${describeForeignMagic(magic)}, not a chunked .meta v2 file`);
  const fileSize = safe(r.u64(), what, 'file size');
  const chunkSize = safe(r.u64(), what, 'chunk size');
  const n = r.u32();
  if (n * MTH_SIZE > r.remaining) throw new PacketError(`${what} is truncated: it announces ${n} checksums but holds ${Math.floor(r.remaining / MTH_SIZE)}`);
  const checksums: Uint8Array[] = [];
  for (let i = 0; i < n; i++) checksums.push(Uint8Array.from(r.fixed(MTH_SIZE)));
  if (n === 0) throw new PacketError(`${what}: lists no chunks`);
  const lastSize = fileSize - (n - 1) * chunkSize;
  if (lastSize < 0 || lastSize > chunkSize) {
    throw new PacketError(`${what}: file size ${fileSize} does not fit ${n} chunks of ${chunkSize} bytes`);
  }
  return { fileSize, chunkSize, checksums };
}

/** Expected size of chunk `i`: full chunks, then whatever remains in the last. */
export function expectedChunkSize(m: ChunkedMeta, i: number): number {
  const last = m.checksums.length - 1;
  if (i < last) return m.chunkSize;
  return m.fileSize - last * m.chunkSize;
}
