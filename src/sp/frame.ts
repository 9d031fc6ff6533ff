/**
 * The sync protocol's envelope: every Noise message travels as XDR
 *
 *   magic "NNCPS" 0 0 1 (8-byte fixed opaque) ‖ length (uint32) ‖ message ‖ pad to 4
 *
 * The reference's reader accepts a message length of up to 1 << 17 bytes
 * (131072 waits for the body, 131073 is refused at once: observed against
 * nncp-daemon 8.8.2), but no conforming peer sends more than a Noise
 * message's 65535 bytes (the largest is the IK first message with a full
 * first payload: 32 + 48 + 65280 + 16), so that is our default limit. An
 * oversize length is refused from the header alone, before any of the body
 * is read.
 */
import type { Readable } from 'node:stream';
import { PacketError } from '../errors.js';
import { bytesEqual } from '../codec/bytes.js';
import { describeForeignMagic, MAGIC_SP } from '../packet/magic.js';
import { NOISE_MAX_MSG } from './noise.js';

/** Magic and length. */
export const FRAME_HEAD_SIZE = 12;
/** Our default limit on a frame's message: the largest Noise message. */
export const SP_MAX_FRAME = NOISE_MAX_MSG;

const pad4 = (n: number) => (4 - (n % 4)) % 4;

export function encodeFrame(noiseMsg: Uint8Array): Uint8Array {
  if (noiseMsg.length > 0xffffffff) throw new RangeError('SP frame: message too long');
  const out = new Uint8Array(FRAME_HEAD_SIZE + noiseMsg.length + pad4(noiseMsg.length));
  out.set(MAGIC_SP.bytes, 0);
  new DataView(out.buffer).setUint32(8, noiseMsg.length);
  out.set(noiseMsg, FRAME_HEAD_SIZE);
  return out;
}

/** The whole frame's size for a message of `len` bytes (head and padding included). */
export const framedSize = (len: number): number => FRAME_HEAD_SIZE + len + pad4(len);

/**
 * Frame the message already in place at out[FRAME_HEAD_SIZE..][0..len]:
 * write the head and zero the padding; the frame is out[0..framedSize(len)].
 */
export function frameInPlace(out: Uint8Array, len: number): Uint8Array {
  const total = framedSize(len);
  if (out.length < total) throw new RangeError(`SP frame: ${out.length} bytes of room for a ${total}-byte frame`);
  out.set(MAGIC_SP.bytes, 0);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(8, len);
  out.fill(0, FRAME_HEAD_SIZE + len, total);
  return out.subarray(0, total);
}

/**
 * Reads frames from a byte stream. `next()` gives the Noise message of the
 * next frame, or null at a clean end of stream (between frames). A wrong
 * magic, an oversize length or a stream ending inside a frame throws a
 * PacketError naming `what` (the peer or its address).
 *
 * The reader pulls from the source's async iterator without ever calling
 * its `return()`, so a Readable is not destroyed by the reader itself.
 * Calls to next() must not overlap.
 */
export class FrameReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private chunks: Uint8Array[] = [];
  private have = 0;
  private ended = false;
  /** Bytes consumed as whole frames so far (the reference counts these as received). */
  bytesRead = 0;
  /** Where nextView() assembles a frame that spans several chunks (grown on demand, reused). */
  private assembly: Uint8Array | null = null;
  /** A frame's head when it spans chunks (peek). */
  private readonly head = new Uint8Array(FRAME_HEAD_SIZE);

  constructor(
    src: AsyncIterable<Uint8Array> | Readable,
    private readonly maxSize: number = SP_MAX_FRAME,
    /** Who is at the other end, in error messages. */
    public what: string = 'peer',
  ) {
    this.it = (src as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  }

  async next(): Promise<Uint8Array | null> {
    return this.read(false);
  }

  /**
   * As next(), but the message may be a view of a buffer this reader
   * reuses: valid only until the next call (of either method). A frame that
   * spans several chunks of the stream is assembled there instead of in a
   * new buffer per frame.
   */
  async nextView(): Promise<Uint8Array | null> {
    return this.read(true);
  }

  private async read(reuse: boolean): Promise<Uint8Array | null> {
    if (!(await this.fill(1))) return null;
    if (!(await this.fill(8))) throw this.truncated('magic number');
    const magic = this.peek(8);
    if (!bytesEqual(magic, MAGIC_SP.bytes)) {
      const hex = Buffer.from(magic).toString('hex');
      throw new PacketError(`${this.what}: not an NNCP sync protocol frame (${describeForeignMagic(magic)}: ${hex}); garbage on the link or not an NNCP peer`);
    }
    if (!(await this.fill(FRAME_HEAD_SIZE))) throw this.truncated('length');
    const head = this.peek(FRAME_HEAD_SIZE);
    const len = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(8);
    if (len > this.maxSize) {
      throw new PacketError(`${this.what}: sync protocol frame of ${len} bytes exceeds the limit of ${this.maxSize} bytes; dropping the connection`);
    }
    const total = FRAME_HEAD_SIZE + len + pad4(len);
    if (!(await this.fill(total))) throw this.truncated(`${len}-byte message`);
    const frame = this.take(total, reuse);
    this.bytesRead += total;
    return frame.subarray(FRAME_HEAD_SIZE, FRAME_HEAD_SIZE + len);
  }

  private truncated(part: string): PacketError {
    return new PacketError(`${this.what}: the connection ended inside a sync protocol frame (in its ${part}, ${this.have} bytes left over)`);
  }

  /** Buffer at least n bytes; false when the source ends first. */
  private async fill(n: number): Promise<boolean> {
    while (this.have < n) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      if (chunk.length === 0) continue;
      this.chunks.push(chunk);
      this.have += chunk.length;
    }
    return true;
  }

  /** The first n (at most FRAME_HEAD_SIZE) buffered bytes, without consuming them (a copy of only those when they span chunks). */
  private peek(n: number): Uint8Array {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const out = this.head.subarray(0, n);
    for (let off = 0, i = 0; off < n; i++) {
      const k = Math.min(this.chunks[i].length, n - off);
      out.set(this.chunks[i].subarray(0, k), off);
      off += k;
    }
    return out;
  }

  /** Consume the first n buffered bytes (no copy when one chunk holds them; with `reuse`, else into the assembly buffer). */
  private take(n: number, reuse: boolean): Uint8Array {
    let out: Uint8Array;
    const first = this.chunks[0];
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      if (reuse) {
        if (this.assembly === null || this.assembly.length < n) this.assembly = new Uint8Array(Math.max(n, FRAME_HEAD_SIZE + this.maxSize + 3));
        out = this.assembly.subarray(0, n);
      } else {
        out = new Uint8Array(n);
      }
      let off = 0;
      let i = 0;
      while (off < n) {
        const c = this.chunks[i];
        const k = Math.min(c.length, n - off);
        out.set(c.subarray(0, k), off);
        off += k;
        if (k === c.length) i++;
        else this.chunks[i] = c.subarray(k);
      }
      this.chunks.splice(0, i);
    }
    this.have -= n;
    return out;
  }
}

