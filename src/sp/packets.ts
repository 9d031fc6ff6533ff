/**
 * Sync protocol packets. A payload (the plaintext of one Noise message) is a
 * concatenation of packets, each an XDR uint32 type followed by its body:
 *
 *   INFO 0  nice uint32 (1..255) ‖ size uint64 ‖ hash 32 bytes
 *   FREQ 1  hash 32 bytes ‖ offset uint64
 *   FILE 2  hash 32 bytes ‖ offset uint64 ‖ variable opaque chunk
 *   DONE 3  hash 32 bytes
 *   HALT 4  (no body)
 *   PING 5  (no body)
 *
 * The type numbers are the reference's (sp.go numbers them from 0 in the
 * order INFO, FREQ, FILE, DONE, HALT, PING). A payload holds at most
 * 64 KiB - 256 B = 65280 bytes; the first payload of each side is padded
 * with HALTs (see padWithHalts).
 */
import { PacketError } from '../errors.js';

export const SP_MAX_PAYLOAD = 65280;
const SP_HEAD_SIZE = 4;
export const MTH_SIZE = 32;

enum SpType {
  Info = 0,
  Freq = 1,
  File = 2,
  Done = 3,
  Halt = 4,
  Ping = 5,
}

/** Whole packet sizes, header included. */
const SP_INFO_SIZE = SP_HEAD_SIZE + 4 + 8 + MTH_SIZE; // 48
const SP_FREQ_SIZE = SP_HEAD_SIZE + MTH_SIZE + 8; // 44
const SP_DONE_SIZE = SP_HEAD_SIZE + MTH_SIZE; // 36
/** A FILE packet without its chunk: header, hash, offset, chunk length. */
export const SP_FILE_OVERHEAD = SP_HEAD_SIZE + MTH_SIZE + 8 + 4; // 48
/** The largest FILE chunk that fits one payload (what the reference reads per packet). */
export const SP_MAX_FILE_CHUNK = SP_MAX_PAYLOAD - SP_FILE_OVERHEAD; // 65232

export type SpPacket =
  | { t: 'halt' }
  | { t: 'ping' }
  | { t: 'info'; nice: number; size: bigint | number; hash: Uint8Array }
  | { t: 'freq'; hash: Uint8Array; offset: bigint | number }
  | { t: 'file'; hash: Uint8Array; offset: bigint | number; payload: Uint8Array }
  | { t: 'done'; hash: Uint8Array };

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function spPacketSize(p: SpPacket): number {
  switch (p.t) {
    case 'halt':
    case 'ping':
      return SP_HEAD_SIZE;
    case 'info':
      return SP_INFO_SIZE;
    case 'freq':
      return SP_FREQ_SIZE;
    case 'done':
      return SP_DONE_SIZE;
    case 'file':
      return SP_FILE_OVERHEAD + p.payload.length + pad4(p.payload.length);
  }
}

function checkHash(h: Uint8Array, t: string): void {
  if (h.length !== MTH_SIZE) throw new RangeError(`SP ${t}: hash must be ${MTH_SIZE} bytes, got ${h.length}`);
}

function u64(v: bigint | number, what: string): bigint {
  const b = BigInt(v);
  if (b < 0n || b > 0xffffffffffffffffn) throw new RangeError(`SP: ${what} ${v} is not a uint64`);
  return b;
}

/** Encode packets into one buffer (concatenated, in order). */
export function encodeSpPackets(pkts: readonly SpPacket[]): Uint8Array {
  const out = new Uint8Array(pkts.reduce((a, p) => a + spPacketSize(p), 0));
  const dv = new DataView(out.buffer);
  let off = 0;
  for (const p of pkts) {
    switch (p.t) {
      case 'halt':
        dv.setUint32(off, SpType.Halt);
        off += 4;
        break;
      case 'ping':
        dv.setUint32(off, SpType.Ping);
        off += 4;
        break;
      case 'info':
        if (!Number.isInteger(p.nice) || p.nice < 0 || p.nice > 255) throw new RangeError(`SP INFO: niceness ${p.nice} is outside 0..255`);
        checkHash(p.hash, 'INFO');
        dv.setUint32(off, SpType.Info);
        dv.setUint32(off + 4, p.nice);
        dv.setBigUint64(off + 8, u64(p.size, 'size'));
        out.set(p.hash, off + 16);
        off += SP_INFO_SIZE;
        break;
      case 'freq':
        checkHash(p.hash, 'FREQ');
        dv.setUint32(off, SpType.Freq);
        out.set(p.hash, off + 4);
        dv.setBigUint64(off + 36, u64(p.offset, 'offset'));
        off += SP_FREQ_SIZE;
        break;
      case 'file':
        checkHash(p.hash, 'FILE');
        dv.setUint32(off, SpType.File);
        out.set(p.hash, off + 4);
        dv.setBigUint64(off + 36, u64(p.offset, 'offset'));
        dv.setUint32(off + 44, p.payload.length);
        out.set(p.payload, off + SP_FILE_OVERHEAD);
        off += SP_FILE_OVERHEAD + p.payload.length + pad4(p.payload.length); // padding stays zero
        break;
      case 'done':
        checkHash(p.hash, 'DONE');
        dv.setUint32(off, SpType.Done);
        out.set(p.hash, off + 4);
        off += SP_DONE_SIZE;
        break;
      default:
        throw new RangeError(`SP: unknown packet kind ${(p as { t: unknown }).t}`);
    }
  }
  return out;
}

/**
 * Complete, in place, a FILE packet whose chunk of `n` bytes was read
 * straight into pkt[SP_FILE_OVERHEAD..]: its type, hash, offset and length
 * go in front, zero padding after it. Returns the packet, a view of `pkt`
 * (the chunk is never copied; the sender reuses `pkt` for every chunk).
 */
export function fileInPlace(pkt: Uint8Array, hash: Uint8Array, offset: number, n: number): Uint8Array {
  const dv = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
  dv.setUint32(0, SpType.File);
  pkt.set(hash, 4);
  dv.setBigUint64(36, BigInt(offset));
  dv.setUint32(44, n);
  const end = SP_FILE_OVERHEAD + n;
  const padded = end + pad4(n);
  pkt.fill(0, end, padded);
  return pkt.subarray(0, padded);
}

/** A decoded uint64 field (size, offset) as a number; past 2^53 - 1 it is a PacketError. */
export function spNumber(v: number | bigint): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new PacketError(`SP packet field ${String(v)} is out of range`);
  return n;
}

const TYPE_NAMES = ['INFO', 'FREQ', 'FILE', 'DONE', 'HALT', 'PING'];
/** Size of each type's fixed part, header included, indexed by type. */
const FIXED_SIZES = [SP_INFO_SIZE, SP_FREQ_SIZE, SP_FILE_OVERHEAD, SP_DONE_SIZE, SP_HEAD_SIZE, SP_HEAD_SIZE];

/**
 * Decode a payload into its packets. Sizes and offsets come back as bigint;
 * hashes and FILE chunks are views into `payload` (copy them to keep them
 * beyond its lifetime). An unknown type, a truncated packet or trailing
 * bytes that are not a packet throw a PacketError naming the offset.
 */
export function decodeSpPackets(payload: Uint8Array, what = 'SP payload'): SpPacket[] {
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const pkts: SpPacket[] = [];
  let off = 0;
  const need = (start: number, n: number, type: string) => {
    if (payload.length - start < n) {
      throw new PacketError(`${what}: ${type} packet at offset ${start} is truncated (needs ${n} bytes, ${payload.length - start} left)`);
    }
  };
  while (off < payload.length) {
    const start = off;
    if (payload.length - off < SP_HEAD_SIZE) {
      throw new PacketError(`${what}: ${payload.length - off} trailing bytes at offset ${off} are not a packet`);
    }
    const type = dv.getUint32(off);
    const name = TYPE_NAMES[type];
    if (name === undefined) throw new PacketError(`${what}: unknown packet type ${type} at offset ${off}`);
    need(start, FIXED_SIZES[type], name);
    off += SP_HEAD_SIZE;
    switch (type as SpType) {
      case SpType.Halt:
        pkts.push({ t: 'halt' });
        break;
      case SpType.Ping:
        pkts.push({ t: 'ping' });
        break;
      case SpType.Info: {
        const nice = dv.getUint32(off);
        if (nice > 255) throw new PacketError(`${what}: INFO packet at offset ${start} has niceness ${nice}, outside 0..255`);
        pkts.push({ t: 'info', nice, size: dv.getBigUint64(off + 4), hash: payload.subarray(off + 12, off + 12 + MTH_SIZE) });
        off += SP_INFO_SIZE - SP_HEAD_SIZE;
        break;
      }
      case SpType.Freq:
        pkts.push({ t: 'freq', hash: payload.subarray(off, off + MTH_SIZE), offset: dv.getBigUint64(off + 32) });
        off += SP_FREQ_SIZE - SP_HEAD_SIZE;
        break;
      case SpType.Done:
        pkts.push({ t: 'done', hash: payload.subarray(off, off + MTH_SIZE) });
        off += SP_DONE_SIZE - SP_HEAD_SIZE;
        break;
      case SpType.File: {
        const hash = payload.subarray(off, off + MTH_SIZE);
        const offset = dv.getBigUint64(off + 32);
        const len = dv.getUint32(off + 40);
        off += SP_FILE_OVERHEAD - SP_HEAD_SIZE;
        need(start, SP_FILE_OVERHEAD + len + pad4(len), name);
        pkts.push({ t: 'file', hash, offset, payload: payload.subarray(off, off + len) });
        off += len + pad4(len);
        break;
      }
    }
  }
  return pkts;
}

const HALT = encodeSpPackets([{ t: 'halt' }]);

/**
 * Pad a payload with HALTs up to SP_MAX_PAYLOAD (exactly 65280 bytes for a
 * payload of whole packets), as the manual says each side's first payload
 * must be, so that its size tells nothing about how many INFOs it holds. A
 * full payload is returned unchanged.
 *
 * (NNCP 8.8.2 itself stops about half way: its padding loop re-reads the
 * growing payload length in its bound, so 3 INFOs go out as 32712 bytes.
 * Receivers of either implementation accept any amount of padding.)
 */
export function padWithHalts(payload: Uint8Array): Uint8Array {
  if (payload.length > SP_MAX_PAYLOAD) throw new RangeError(`SP: a payload of ${payload.length} bytes exceeds ${SP_MAX_PAYLOAD}`);
  const halts = Math.floor((SP_MAX_PAYLOAD - payload.length) / SP_HEAD_SIZE);
  const out = new Uint8Array(payload.length + halts * SP_HEAD_SIZE);
  out.set(payload, 0);
  for (let off = payload.length; off < out.length; off += SP_HEAD_SIZE) out.set(HALT, off);
  return out;
}

/**
 * Group encoded packets into payloads of at most SP_MAX_PAYLOAD bytes,
 * keeping their order; a packet is never split. (The reference groups its
 * queued INFOs and replies this way.)
 */
export function groupPayloads(encoded: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let group: Uint8Array[] = [];
  let size = 0;
  const flush = () => {
    if (group.length === 0) return;
    const buf = new Uint8Array(size);
    let off = 0;
    for (const g of group) {
      buf.set(g, off);
      off += g.length;
    }
    out.push(buf);
    group = [];
    size = 0;
  };
  for (const e of encoded) {
    if (e.length > SP_MAX_PAYLOAD) throw new RangeError(`SP: a packet of ${e.length} bytes exceeds a payload's ${SP_MAX_PAYLOAD}`);
    if (size + e.length > SP_MAX_PAYLOAD) flush();
    group.push(e);
    size += e.length;
  }
  flush();
  return out;
}
