/**
 * One-block BLAKE2b-256 (RFC 7693) for Balloon hashing: a message of at most
 * 128 bytes, hashed in one compression with no allocation per call.
 *
 * Balloon makes millions of such hashes (7.4 million for one eblob at NNCP's
 * defaults). BLAKE2b is 64-bit arithmetic, which JavaScript numbers do in
 * 32-bit halves at about 5 µs a block on this machine; WebAssembly has i64
 * and does it in a fraction of that. So this file writes a tiny WebAssembly
 * module, byte by byte, at first use: two exported functions over one
 * exported memory, the compression fully unrolled (12 rounds of 8 G).
 * Nothing is loaded from disk and no binary is checked in: the bytes below
 * are the whole of it.
 *
 * `compress(msgAt, len, outAt)` hashes a message the caller laid out in the
 * memory (zero-padded to 128 bytes); `pair(c0, c1, aAt, bAt, len, outAt)`
 * hashes an 8-byte counter and two 32-byte blocks already in the memory,
 * Balloon's common case, without copying them. The digest is 32 bytes at
 * `outAt`. WebAssembly
 * memory is little-endian, as BLAKE2b's words are. @noble/hashes is the
 * oracle in spec/cfgenc.test.ts.
 */

import { BLAKE2B_SIGMA } from './blake2b256.js';

const IV = [
  0x6a09e667f3bcc908n, 0xbb67ae8584caa73bn, 0x3c6ef372fe94f82bn, 0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n, 0x9b05688c2b3e6c1fn, 0x1f83d9abfb41bd6bn, 0x5be0cd19137e2179n,
];
/** Parameter block word 0 for a 32-byte digest, no key, fanout 1, depth 1. */
const PARAM0 = 0x01010020n;
const MASK64 = (1n << 64n) - 1n;

// WebAssembly opcodes used below.
const OP = {
  end: 0x0b,
  localGet: 0x20,
  localSet: 0x21,
  i64Load: 0x29,
  i64Store: 0x37,
  i64Const: 0x42,
  i64Add: 0x7c,
  i64Or: 0x84,
  i64Xor: 0x85,
  i64Shl: 0x86,
  i64Rotr: 0x8a,
  i64ExtendI32U: 0xad,
} as const;
const I32 = 0x7f;
const I64 = 0x7e;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 64-bit pattern (given as an unsigned BigInt). */
function sleb64(x: bigint): number[] {
  let n = BigInt.asIntN(64, x);
  const out: number[] = [];
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Buffer.from(s, 'latin1')];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/**
 * A function body: load the message (`kind`), compress, store the digest.
 * compress(msgAt, len, outAt): the message is the 128 bytes at msgAt.
 * pair(c0, c1, aAt, bAt, len, outAt): the message is the 8 bytes c0 ‖ c1
 * (two little-endian words), then 32 bytes at aAt, then 32 bytes at bAt,
 * then zeros; every load happens before the store, so outAt may be aAt or
 * bAt.
 */
function functionBody(kind: 'compress' | 'pair'): number[] {
  const params = kind === 'compress' ? 3 : 6;
  const LEN = kind === 'compress' ? 1 : 4;
  const OUT = kind === 'compress' ? 2 : 5;
  // Locals after the params: v0…v15, then (pair) the counter word m0.
  const V = (i: number) => params + i;
  const M0 = params + 16;
  const c: number[] = [];
  const get = (l: number) => c.push(OP.localGet, l);
  const set = (l: number) => c.push(OP.localSet, l);
  const k64 = (x: bigint) => c.push(OP.i64Const, ...sleb64(x));
  const load = (base: number, offset: number) => { get(base); c.push(OP.i64Load, 3, ...uleb(offset)); }; // align 2^3
  // Message words are read from memory where they are used (fewer live
  // values than 16 more locals: less spilling). Returns false for a word
  // known to be zero, whose addition is left out.
  const word = (x: number): boolean => {
    if (kind === 'compress') load(0, 8 * x);
    else if (x === 0) get(M0);
    else if (x <= 4) load(2, 8 * (x - 1));
    else if (x <= 8) load(3, 8 * (x - 5));
    else return false;
    return true;
  };

  if (kind === 'pair') {
    get(0); c.push(OP.i64ExtendI32U); get(1); c.push(OP.i64ExtendI32U); k64(32n); c.push(OP.i64Shl, OP.i64Or); set(M0);
  }
  const h0 = IV.map((x, i) => (i === 0 ? x ^ PARAM0 : x));
  for (let i = 0; i < 8; i++) { k64(h0[i]); set(V(i)); }
  for (let i = 0; i < 8; i++) {
    if (i === 4) {
      k64(IV[4]); get(LEN); c.push(OP.i64ExtendI32U, OP.i64Xor); // t = len
    } else if (i === 6) {
      k64(IV[6] ^ MASK64); // final block flag
    } else {
      k64(IV[i]);
    }
    set(V(8 + i));
  }
  const g = (a: number, b: number, cc: number, d: number, x: number, y: number) => {
    const addInto = (dst: number, src: number, msg?: number) => {
      get(V(dst)); get(V(src)); c.push(OP.i64Add);
      if (msg !== undefined && word(msg)) c.push(OP.i64Add);
      set(V(dst));
    };
    const xorRot = (dst: number, src: number, r: number) => {
      get(V(dst)); get(V(src)); c.push(OP.i64Xor); k64(BigInt(r)); c.push(OP.i64Rotr); set(V(dst));
    };
    addInto(a, b, x); xorRot(d, a, 32);
    addInto(cc, d); xorRot(b, cc, 24);
    addInto(a, b, y); xorRot(d, a, 16);
    addInto(cc, d); xorRot(b, cc, 63);
  };
  for (let r = 0; r < 12; r++) {
    const s = BLAKE2B_SIGMA[r % 10];
    g(0, 4, 8, 12, s[0], s[1]);
    g(1, 5, 9, 13, s[2], s[3]);
    g(2, 6, 10, 14, s[4], s[5]);
    g(3, 7, 11, 15, s[6], s[7]);
    g(0, 5, 10, 15, s[8], s[9]);
    g(1, 6, 11, 12, s[10], s[11]);
    g(2, 7, 8, 13, s[12], s[13]);
    g(3, 4, 9, 14, s[14], s[15]);
  }
  for (let i = 0; i < 4; i++) {
    get(OUT);
    k64(h0[i]); get(V(i)); c.push(OP.i64Xor); get(V(8 + i)); c.push(OP.i64Xor);
    c.push(OP.i64Store, 3, ...uleb(8 * i));
  }
  c.push(OP.end);
  const locals = [1, ...uleb(kind === 'pair' ? 17 : 16), I64]; // one group of i64
  const body = [...locals, ...c];
  return [...uleb(body.length), ...body];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const types = [2, 0x60, 3, I32, I32, I32, 0, 0x60, 6, I32, I32, I32, I32, I32, I32, 0]; // (i32×3) -> (), (i32×6) -> ()
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, types),
    ...section(3, [2, 0, 1]), // function 0 of type 0, function 1 of type 1
    ...section(5, [1, 0x00, 1]), // one memory, at least 1 page, no maximum
    ...section(7, [3, ...name('compress'), 0x00, 0, ...name('pair'), 0x00, 1, ...name('mem'), 0x02, 0]),
    ...section(10, [2, ...functionBody('compress'), ...functionBody('pair')]),
  ];
  return Uint8Array.from(bytes);
}

let compiled: WebAssembly.Module | undefined;

/** A fresh instance: its own memory (one 64 KiB page to start), compress() and pair(). */
export interface Blake2bBlock {
  memory: WebAssembly.Memory;
  compress: (msgAt: number, len: number, outAt: number) => void;
  pair: (c0: number, c1: number, aAt: number, bAt: number, len: number, outAt: number) => void;
}

export function blake2bBlock(): Blake2bBlock {
  compiled ??= new WebAssembly.Module(moduleBytes());
  const inst = new WebAssembly.Instance(compiled, {});
  return {
    memory: inst.exports.mem as WebAssembly.Memory,
    compress: inst.exports.compress as Blake2bBlock['compress'],
    pair: inst.exports.pair as Blake2bBlock['pair'],
  };
}
