/**
 * Fixed-size packet headers.
 *
 * Plain header (276 bytes): magic, type, nice, path length, 255-byte path.
 * Encrypted header (172 bytes): magic, nice, sender, recipient, ephemeral
 * X25519 public key, Ed25519 signature over the preceding fields.
 * An area message's id is a hash of its encrypted header (areaMsgHash).
 */
import { blake2b256 } from '../crypto/blake2b256.js';
import { base32Encode } from '../codec/base32.js';
import { XdrReader, XdrWriter } from '../codec/xdr.js';
import { PacketError } from '../errors.js';
import { bytesEqual } from '../codec/bytes.js';
import { describeForeignMagic, MAGIC_ENC, MAGIC_PLAIN } from './magic.js';

/** Payload types; numbering starts at 1 on the wire. */
export enum PktType {
  File = 1,
  Freq = 2,
  Exec = 3,
  Trns = 4,
  ExecFat = 5,
  Area = 6,
  Ack = 7,
}

export const PKT_TYPE_NAMES: Record<PktType, string> = {
  [PktType.File]: 'file',
  [PktType.Freq]: 'freq',
  [PktType.Exec]: 'exec',
  [PktType.Trns]: 'trns',
  [PktType.ExecFat]: 'exec-fat',
  [PktType.Area]: 'area',
  [PktType.Ack]: 'ack',
};

export const MAX_PATH_SIZE = 255;
export const PLAIN_HEADER_SIZE = 8 + 4 + 4 + 4 + 256;
export const ENC_HEADER_SIZE = 8 + 4 + 32 + 32 + 32 + 64;
/** Unsigned part of the encrypted header: what is signed and hashed into the AD. */
const ENC_TBS_SIZE = ENC_HEADER_SIZE - 64;
export const NODE_ID_SIZE = 32;

export interface PlainHeader {
  type: PktType;
  nice: number;
  path: Uint8Array;
}

export interface EncHeader {
  nice: number;
  sender: Uint8Array;
  recipient: Uint8Array;
  exchPub: Uint8Array;
  signature: Uint8Array;
}

function checkNice(nice: number): void {
  if (!Number.isInteger(nice) || nice < 0 || nice > 255) throw new RangeError(`niceness ${nice} is outside 0..255`);
}

export function encodePlainHeader(h: PlainHeader): Uint8Array {
  if (h.path.length > MAX_PATH_SIZE) {
    throw new PacketError(`path of ${h.path.length} bytes is too long: a packet's path holds at most ${MAX_PATH_SIZE} bytes`);
  }
  checkNice(h.nice);
  return new XdrWriter().fixed(MAGIC_PLAIN.bytes).u32(h.type).u32(h.nice).u32(h.path.length).fixed(h.path, MAX_PATH_SIZE).bytes();
}

export function decodePlainHeader(buf: Uint8Array, what = 'plain packet'): PlainHeader {
  const r = new XdrReader(buf, 0, what);
  const magic = r.fixed(8);
  if (!bytesEqual(magic, MAGIC_PLAIN.bytes)) throw new PacketError(`${what}: ${describeForeignMagic(magic)}`);
  const type = r.u32();
  if (!(type in PKT_TYPE_NAMES)) throw new PacketError(`${what}: unknown packet type ${type}`);
  const nice = r.u32();
  const pathLen = r.u32();
  if (nice > 255 || pathLen > MAX_PATH_SIZE) throw new PacketError(`${what}: header fields out of range`);
  const path = Uint8Array.from(r.fixed(MAX_PATH_SIZE).subarray(0, pathLen));
  return { type, nice, path };
}

/** The signed (and AD-hashed) part of an encrypted header. */
export function encodeEncTbs(h: Omit<EncHeader, 'signature'>): Uint8Array {
  checkNice(h.nice);
  return new XdrWriter()
    .fixed(MAGIC_ENC.bytes)
    .u32(h.nice)
    .fixed(h.sender, NODE_ID_SIZE)
    .fixed(h.recipient, NODE_ID_SIZE)
    .fixed(h.exchPub, 32)
    .bytes();
}

export function encodeEncHeader(h: EncHeader): Uint8Array {
  const out = new Uint8Array(ENC_HEADER_SIZE);
  out.set(encodeEncTbs(h));
  out.set(h.signature, ENC_TBS_SIZE);
  return out;
}

export function decodeEncHeader(buf: Uint8Array, what = 'encrypted packet'): EncHeader {
  if (buf.length < ENC_HEADER_SIZE) {
    throw new PacketError(`${what} is truncated: ${buf.length} bytes, shorter than its ${ENC_HEADER_SIZE}-byte header`);
  }
  const r = new XdrReader(buf, 0, what);
  const magic = r.fixed(8);
  if (!bytesEqual(magic, MAGIC_ENC.bytes)) throw new PacketError(`${what}: ${describeForeignMagic(magic)}`);
  const nice = r.u32();
  if (nice > 255) throw new PacketError(`${what}: niceness ${nice} is out of range`);
  return {
    nice,
    sender: Uint8Array.from(r.fixed(32)),
    recipient: Uint8Array.from(r.fixed(32)),
    exchPub: Uint8Array.from(r.fixed(32)),
    signature: Uint8Array.from(r.fixed(64)),
  };
}

/**
 * An area message's id (MsgHash): Base32 BLAKE2b-256 of the message's
 * 172-byte encrypted header, the same on every node it reaches.
 */
export function areaMsgHash(header: Uint8Array): string {
  return base32Encode(blake2b256(header));
}
