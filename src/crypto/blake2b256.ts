/**
 * BLAKE2b-256 (RFC 7693, unkeyed, 32-byte digest) of a whole message: node
 * ids and area ids (of 32-byte public keys) and plain header hashes, a
 * few hashes per run of short messages.
 *
 * Those run at start-up, before anything is compiled: every command checks
 * each neighbour's id against its signing key when it reads the
 * configuration. @noble/hashes' BLAKE2b, written for throughput, took some
 * 2 ms there for three ids (its 64-bit helpers are calls the interpreter
 * pays for one by one); this straight-line version of the same arithmetic
 * in 32-bit halves takes a fraction of that. @noble/hashes stays the oracle
 * (spec/keys.test.ts); Balloon hashing (balloon.ts) has its own fast path.
 */

/** The IV as 32-bit halves, low word first. */
const IV = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
  0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);

/** BLAKE2b's message schedule (RFC 7693): the word order of each of the 10 distinct rounds (rounds 10 and 11 repeat 0 and 1). */
export const BLAKE2B_SIGMA: readonly (readonly number[])[] = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

/** The schedule of all 12 rounds, as indexes of 32-bit halves (word × 2). */
const SIGMA = Uint8Array.from(Array.from({ length: 12 }, (_, r) => BLAKE2B_SIGMA[r % 10]).flat().map((w) => w * 2));

const BLOCK = 128;

/** v[a] += v[b] + m[x] (64-bit, in halves). */
function add3(v: Uint32Array, a: number, b: number, m: Uint32Array, x: number): void {
  let lo = v[a] + v[b];
  let hi = v[a + 1] + v[b + 1] + (lo > 0xffffffff ? 1 : 0);
  lo >>>= 0;
  const lo2 = lo + m[x];
  hi += m[x + 1] + (lo2 > 0xffffffff ? 1 : 0);
  v[a] = lo2;
  v[a + 1] = hi;
}

/** v[a] += v[b] (64-bit, in halves). */
function add2(v: Uint32Array, a: number, b: number): void {
  const lo = v[a] + v[b];
  v[a + 1] = v[a + 1] + v[b + 1] + (lo > 0xffffffff ? 1 : 0);
  v[a] = lo;
}

/** v[d] = (v[d] ^ v[a]) rotated right by `r` (one of 32, 24, 16, 63). */
function xorRot(v: Uint32Array, d: number, a: number, r: number): void {
  const xl = v[d] ^ v[a];
  const xh = v[d + 1] ^ v[a + 1];
  if (r === 32) {
    v[d] = xh;
    v[d + 1] = xl;
  } else if (r === 63) {
    v[d] = (xl << 1) | (xh >>> 31);
    v[d + 1] = (xh << 1) | (xl >>> 31);
  } else {
    v[d] = (xl >>> r) | (xh << (32 - r));
    v[d + 1] = (xh >>> r) | (xl << (32 - r));
  }
}

function mix(v: Uint32Array, a: number, b: number, c: number, d: number, m: Uint32Array, x: number, y: number): void {
  add3(v, a, b, m, x);
  xorRot(v, d, a, 32);
  add2(v, c, d);
  xorRot(v, b, c, 24);
  add3(v, a, b, m, y);
  xorRot(v, d, a, 16);
  add2(v, c, d);
  xorRot(v, b, c, 63);
}

/** Compress one 128-byte block (as 32 little-endian words in `m`) into `h`; `t` bytes hashed so far, this block included. */
function compress(h: Uint32Array, m: Uint32Array, v: Uint32Array, t: number, last: boolean): void {
  v.set(h, 0);
  v.set(IV, 16);
  v[24] ^= t >>> 0;
  v[25] ^= Math.floor(t / 0x100000000);
  if (last) {
    v[28] = ~v[28];
    v[29] = ~v[29];
  }
  for (let r = 0; r < 12 * 16; r += 16) {
    mix(v, 0, 8, 16, 24, m, SIGMA[r], SIGMA[r + 1]);
    mix(v, 2, 10, 18, 26, m, SIGMA[r + 2], SIGMA[r + 3]);
    mix(v, 4, 12, 20, 28, m, SIGMA[r + 4], SIGMA[r + 5]);
    mix(v, 6, 14, 22, 30, m, SIGMA[r + 6], SIGMA[r + 7]);
    mix(v, 0, 10, 20, 30, m, SIGMA[r + 8], SIGMA[r + 9]);
    mix(v, 2, 12, 22, 24, m, SIGMA[r + 10], SIGMA[r + 11]);
    mix(v, 4, 14, 16, 26, m, SIGMA[r + 12], SIGMA[r + 13]);
    mix(v, 6, 8, 18, 28, m, SIGMA[r + 14], SIGMA[r + 15]);
  }
  for (let i = 0; i < 16; i++) h[i] ^= v[i] ^ v[i + 16];
}

/** BLAKE2b with a 32-byte digest and no key, of all of `msg`. */
export function blake2b256(msg: Uint8Array): Uint8Array {
  const h = IV.slice();
  h[0] ^= 0x01010020; // parameter block: digest length 32, key length 0, fanout 1, depth 1
  const block = new Uint8Array(BLOCK);
  const m = new Uint32Array(32);
  const v = new Uint32Array(32);
  const words = (): void => {
    for (let i = 0, j = 0; i < 32; i++, j += 4) m[i] = block[j] | (block[j + 1] << 8) | (block[j + 2] << 16) | (block[j + 3] << 24);
  };
  let off = 0;
  // Every block but the last one; the last (1 to 128 bytes, or none for an empty message) is padded with zeros.
  for (; msg.length - off > BLOCK; off += BLOCK) {
    block.set(msg.subarray(off, off + BLOCK));
    words();
    compress(h, m, v, off + BLOCK, false);
  }
  block.fill(0);
  block.set(msg.subarray(off));
  words();
  compress(h, m, v, msg.length, true);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const w = h[i];
    out[4 * i] = w;
    out[4 * i + 1] = w >>> 8;
    out[4 * i + 2] = w >>> 16;
    out[4 * i + 3] = w >>> 24;
  }
  return out;
}
