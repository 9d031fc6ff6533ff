/**
 * Filespooler job files (fspl 1.2, header version 1), as observed from
 * `fspl prepare` and checked byte for byte in spec/fspl-interop.test.ts:
 *
 *   0  12  "*FILESPOOLER"
 *  12   2  version, big-endian: 1
 *  14   8  length L of the MessagePack body, big-endian
 *  22   4  CRC-32 (IEEE) of the body, big-endian
 *  26   4  CRC-32 of bytes 0..26, big-endian
 *  30   L  body: map { seq: u64, ctime: [secs u64, nanos u32],
 *              cmd_type: "NOP" | "Fail" | { Command: { params: [bytes...],
 *              env: [[name bytes, value bytes]...] } } }
 *          where bytes are arrays of small integers (serde's Vec<u8>) and
 *          env names are stored without their FSPL_SET_ prefix
 *  30+L    payload, to the end of the file (not checked by anything here)
 */
import { decodeMsgpack, MsgMap, MsgpackError, MsgWriter, type MsgValue } from './msgpack.js';

const MAGIC = new TextEncoder().encode('*FILESPOOLER');
const HEADER_VERSION = 1;
/** Bytes before the MessagePack body. */
export const FIXED_LEN = 30;
/** A larger body is refused as garbage rather than read into memory. */
const MAX_BODY = 16 << 20;

export type JobKind = 'Command' | 'NOP' | 'Fail';

export interface JobHeader {
  seq: bigint;
  ctimeSecs: bigint;
  ctimeNanos: number;
  kind: JobKind;
  /** Parameters from `prepare -- PARAMS` (Command jobs only). */
  params: Uint8Array[];
  /** FSPL_SET_ variables, names without the prefix, in environment order (Command jobs only). */
  env: [Uint8Array, Uint8Array][];
}

/** Why a header did not parse; queue scans skip such files, like fspl. */
export class JobFormatError extends Error {}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, reflected, as zlib). */
export function crc32(data: Uint8Array): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of data) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The complete header (fixed part and body) of a job. */
export function encodeJobHeader(h: JobHeader): Uint8Array {
  const w = new MsgWriter().map(3).str('seq').uint(h.seq).str('ctime').array(2).uint(h.ctimeSecs).uint(h.ctimeNanos).str('cmd_type');
  if (h.kind === 'Command') {
    w.map(1).str('Command').map(2).str('params').array(h.params.length);
    for (const p of h.params) w.byteSeq(p);
    w.str('env').array(h.env.length);
    for (const [k, v] of h.env) w.array(2).byteSeq(k).byteSeq(v);
  } else {
    w.str(h.kind);
  }
  const body = w.bytes();
  const out = new Uint8Array(FIXED_LEN + body.length);
  const dv = new DataView(out.buffer);
  out.set(MAGIC, 0);
  dv.setUint16(12, HEADER_VERSION);
  dv.setBigUint64(14, BigInt(body.length));
  dv.setUint32(22, crc32(body));
  dv.setUint32(26, crc32(out.subarray(0, 26)));
  out.set(body, FIXED_LEN);
  return out;
}

/** Check the fixed part; returns the body length. */
export function parseFixed(fixed: Uint8Array): number {
  if (fixed.length < FIXED_LEN) throw new JobFormatError(`truncated header (${fixed.length} of ${FIXED_LEN} bytes)`);
  for (let i = 0; i < MAGIC.length; i++) if (fixed[i] !== MAGIC[i]) throw new JobFormatError('not a Filespooler job (no *FILESPOOLER magic)');
  const dv = new DataView(fixed.buffer, fixed.byteOffset, FIXED_LEN);
  const version = dv.getUint16(12);
  if (version !== HEADER_VERSION) throw new JobFormatError(`header version ${version}; this reads version ${HEADER_VERSION}`);
  if (dv.getUint32(26) !== crc32(fixed.subarray(0, 26))) throw new JobFormatError('header CRC mismatch');
  const len = dv.getBigUint64(14);
  if (len > BigInt(MAX_BODY)) throw new JobFormatError(`header body of ${len} bytes is implausibly large`);
  return Number(len);
}

/** Check and decode the body that follows `fixed`. */
export function parseBody(fixed: Uint8Array, body: Uint8Array): JobHeader {
  const want = new DataView(fixed.buffer, fixed.byteOffset, FIXED_LEN).getUint32(22);
  if (crc32(body) !== want) throw new JobFormatError('header body CRC mismatch');
  let v: MsgValue;
  try {
    v = decodeMsgpack(body);
  } catch (err) {
    if (err instanceof MsgpackError) throw new JobFormatError(`header body: ${err.message}`);
    throw err;
  }
  if (!(v instanceof MsgMap)) throw new JobFormatError('header body is not a map');
  const ctime = v.get('ctime');
  if (!Array.isArray(ctime) || ctime.length !== 2) throw new JobFormatError('header ctime is not [secs, nanos]');
  const h: JobHeader = {
    seq: uint(v.get('seq'), 'seq'),
    ctimeSecs: uint(ctime[0], 'ctime secs'),
    ctimeNanos: Number(uint(ctime[1], 'ctime nanos')),
    kind: 'NOP',
    params: [],
    env: [],
  };
  const t = v.get('cmd_type');
  if (t === 'NOP' || t === 'Fail') {
    h.kind = t;
  } else if (t instanceof MsgMap && t.get('Command') instanceof MsgMap) {
    const c = t.get('Command') as MsgMap;
    h.kind = 'Command';
    h.params = list(c.get('params'), 'params').map((p) => bytes(p, 'param'));
    h.env = list(c.get('env'), 'env').map((e) => {
      if (!Array.isArray(e) || e.length !== 2) throw new JobFormatError('header env entry is not [name, value]');
      return [bytes(e[0], 'env name'), bytes(e[1], 'env value')];
    });
  } else {
    throw new JobFormatError('header cmd_type is not NOP, Fail or Command');
  }
  return h;
}

function uint(v: MsgValue | undefined, what: string): bigint {
  if ((typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n)) return BigInt(v);
  throw new JobFormatError(`header ${what} is not an unsigned integer`);
}

function list(v: MsgValue | undefined, what: string): MsgValue[] {
  if (!Array.isArray(v)) throw new JobFormatError(`header ${what} is not an array`);
  return v;
}

function bytes(v: MsgValue, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return new TextEncoder().encode(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 255)) return Uint8Array.from(v as number[]);
  throw new JobFormatError(`header ${what} is not a byte string`);
}

/**
 * Read a header through `read(n)`, which returns exactly n bytes or fewer
 * at the end of the data. Returns the header and its length in bytes (the
 * payload starts there).
 */
export async function readJobHeader(read: (n: number) => Promise<Uint8Array>): Promise<{ header: JobHeader; length: number }> {
  const fixed = Uint8Array.prototype.slice.call(await read(FIXED_LEN));
  const len = parseFixed(fixed);
  const body = await read(len);
  if (body.length < len) throw new JobFormatError(`truncated header body (${body.length} of ${len} bytes)`);
  return { header: parseBody(fixed, body), length: FIXED_LEN + len };
}
