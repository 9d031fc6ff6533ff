/**
 * The MessagePack subset a Filespooler job header uses (it is written by
 * Rust's rmp_serde): maps and arrays, unsigned and signed integers, strings
 * and byte strings. The encoder always picks the shortest form, as rmp
 * does, so a header encoded here is byte-identical to fspl's. The decoder
 * accepts every width of each type (another encoder may choose differently)
 * and refuses floats, extensions and anything truncated.
 */

/** A decoded value. Integers beyond 2^53 stay bigint; maps keep their key order. */
export type MsgValue = number | bigint | string | Uint8Array | boolean | null | MsgValue[] | MsgMap;
export class MsgMap extends Map<string, MsgValue> {}

export class MsgpackError extends Error {}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Builds an encoding piece by piece. */
export class MsgWriter {
  private parts: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  private head(small: number, smallMax: number, c8: number | null, c16: number, c32: number, n: number): this {
    if (n <= smallMax) return this.push(Uint8Array.of(small | n));
    if (c8 !== null && n <= 0xff) return this.push(Uint8Array.of(c8, n));
    if (n <= 0xffff) return this.push(Uint8Array.of(c16, n >> 8, n & 0xff));
    const b = new Uint8Array(5);
    b[0] = c32;
    new DataView(b.buffer).setUint32(1, n);
    return this.push(b);
  }

  /** An unsigned integer (up to 2^64-1), shortest form. */
  uint(v: number | bigint): this {
    const n = BigInt(v);
    if (n < 0n || n > 0xffffffffffffffffn) throw new RangeError(`msgpack uint out of range: ${n}`);
    if (n < 0x80n) return this.push(Uint8Array.of(Number(n)));
    if (n <= 0xffn) return this.push(Uint8Array.of(0xcc, Number(n)));
    if (n <= 0xffffn) return this.push(Uint8Array.of(0xcd, Number(n >> 8n), Number(n & 0xffn)));
    const big = n > 0xffffffffn;
    const b = new Uint8Array(big ? 9 : 5);
    const dv = new DataView(b.buffer);
    b[0] = big ? 0xcf : 0xce;
    if (big) dv.setBigUint64(1, n);
    else dv.setUint32(1, Number(n));
    return this.push(b);
  }

  str(s: string): this {
    const b = enc.encode(s);
    this.head(0xa0, 31, 0xd9, 0xda, 0xdb, b.length);
    return this.push(b);
  }

  array(len: number): this {
    return this.head(0x90, 15, null, 0xdc, 0xdd, len);
  }

  map(len: number): this {
    return this.head(0x80, 15, null, 0xde, 0xdf, len);
  }

  /** Bytes the way serde writes a Vec<u8>: an array of small integers. */
  byteSeq(b: Uint8Array): this {
    this.array(b.length);
    for (const x of b) this.uint(x);
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}

/** Decode exactly one value filling `buf`. */
export function decodeMsgpack(buf: Uint8Array): MsgValue {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const need = (n: number): number => {
    if (pos + n > buf.length) throw new MsgpackError(`truncated at byte ${pos}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u64 = (at: number): number | bigint => {
    const v = dv.getBigUint64(at);
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const i64 = (at: number): number | bigint => {
    const v = dv.getBigInt64(at);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const raw = (n: number): Uint8Array => buf.subarray(need(n), pos);
  const text = (n: number): string => {
    try {
      return dec.decode(raw(n));
    } catch {
      throw new MsgpackError(`invalid UTF-8 string at byte ${pos - n}`);
    }
  };
  const value = (depth: number): MsgValue => {
    if (depth > 32) throw new MsgpackError('nested too deeply');
    const t = buf[need(1)];
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0xa0 && t <= 0xbf) return text(t & 0x1f);
    if (t >= 0x90 && t <= 0x9f) return list(t & 0x0f, depth);
    if (t >= 0x80 && t <= 0x8f) return map(t & 0x0f, depth);
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return raw(buf[need(1)]);
      case 0xc5: return raw(dv.getUint16(need(2)));
      case 0xc6: return raw(dv.getUint32(need(4)));
      case 0xcc: return buf[need(1)];
      case 0xcd: return dv.getUint16(need(2));
      case 0xce: return dv.getUint32(need(4));
      case 0xcf: return u64(need(8));
      case 0xd0: return dv.getInt8(need(1));
      case 0xd1: return dv.getInt16(need(2));
      case 0xd2: return dv.getInt32(need(4));
      case 0xd3: return i64(need(8));
      case 0xd9: return text(buf[need(1)]);
      case 0xda: return text(dv.getUint16(need(2)));
      case 0xdb: return text(dv.getUint32(need(4)));
      case 0xdc: return list(dv.getUint16(need(2)), depth);
      case 0xdd: return list(dv.getUint32(need(4)), depth);
      case 0xde: return map(dv.getUint16(need(2)), depth);
      case 0xdf: return map(dv.getUint32(need(4)), depth);
      default: throw new MsgpackError(`unsupported type byte 0x${t.toString(16)} at byte ${pos - 1}`);
    }
  };
  const list = (n: number, depth: number): MsgValue[] => {
    if (n > buf.length - pos) throw new MsgpackError(`array of ${n} longer than the data`);
    const out: MsgValue[] = [];
    for (let i = 0; i < n; i++) out.push(value(depth + 1));
    return out;
  };
  const map = (n: number, depth: number): MsgMap => {
    if (n > buf.length - pos) throw new MsgpackError(`map of ${n} longer than the data`);
    const out = new MsgMap();
    for (let i = 0; i < n; i++) {
      const k = value(depth + 1);
      if (typeof k !== 'string') throw new MsgpackError('map key is not a string');
      out.set(k, value(depth + 1));
    }
    return out;
  };
  const v = value(0);
  if (pos !== buf.length) throw new MsgpackError(`${buf.length - pos} bytes after the value`);
  return v;
}
