/**
 * The XDR (RFC 4506) subset NNCP uses: unsigned int, unsigned hyper,
 * fixed-length opaque and variable-length opaque. Everything is big-endian and
 * padded to four bytes. Go's uint8 fields travel as 4-byte unsigned ints.
 */
import { PacketError } from '../errors.js';

const pad4 = (n: number) => (4 - (n % 4)) % 4;

export class XdrWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  u32(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`xdr: ${n} is not a uint32`);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return this.push(b);
  }

  u64(n: bigint | number): this {
    const v = BigInt(n);
    if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`xdr: ${n} is not a uint64`);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v);
    return this.push(b);
  }

  /** Fixed-length opaque of exactly `len` bytes (shorter input is zero-filled). */
  fixed(data: Uint8Array, len = data.length): this {
    if (data.length > len) throw new RangeError(`xdr: ${data.length} bytes do not fit a ${len}-byte field`);
    const b = new Uint8Array(len + pad4(len));
    b.set(data);
    return this.push(b);
  }

  /** Variable-length opaque: length, data, padding. */
  opaque(data: Uint8Array): this {
    this.u32(data.length);
    return this.fixed(data);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

export class XdrReader {
  offset: number;
  private view: DataView;
  constructor(private buf: Uint8Array, offset = 0, private what = 'XDR data') {
    this.offset = offset;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.offset + n > this.buf.length) {
      throw new PacketError(`${this.what} is truncated: need ${n} more bytes at offset ${this.offset}, have ${this.buf.length - this.offset}`);
    }
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset);
    this.offset += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.offset);
    this.offset += 8;
    return v;
  }

  fixed(len: number): Uint8Array {
    const total = len + pad4(len);
    this.need(total);
    const v = this.buf.subarray(this.offset, this.offset + len);
    this.offset += total;
    return v;
  }

  opaque(max = Infinity): Uint8Array {
    const len = this.u32();
    if (len > max) throw new PacketError(`${this.what}: opaque field of ${len} bytes exceeds its limit of ${max}`);
    return this.fixed(len);
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }
}
