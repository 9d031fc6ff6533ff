/**
 * Balloon memory-hard password hashing over BLAKE2b-256, the key derivation
 * of NNCP's eblob (encrypted configuration).
 *
 * B(passwd, salt, s, t): a buffer of `s` 32-byte blocks is filled from the
 * passphrase, then mixed `t` times; each block is rehashed with its
 * predecessor and with 3 (delta) blocks chosen by hashing the salt and the
 * position. Every hash input starts with a 64-bit big-endian counter that
 * counts all hashes made so far. The result is the last block.
 *
 * H(passwd, salt, s, t, jobs) = BLAKE2b-256(passwd ‖ salt ‖ X) where X is the
 * XOR of B(passwd, salt ‖ u64be(i), s, t) for i = 0 … jobs−1 (jobs = 0 gives
 * X = 32 zero bytes).
 *
 * Cost: s·(1 + 7t) hashes per job, 7.4 million at NNCP's defaults. All but
 * the first are one 128-byte BLAKE2b block, so they go through
 * blake2b-block.ts (WebAssembly), in place in its memory, with no allocation
 * per hash; @noble/hashes does the few long inputs. Jobs run one after
 * another over one buffer: the memory held is the space cost (s·32 bytes)
 * plus 512 bytes of scratch, and it is wiped before returning.
 */
import { blake2b } from '@noble/hashes/blake2.js';
import { blake2bBlock } from './blake2b-block.js';

/** Number of pseudorandom neighbours hashed into each block per round. */
const DELTA = 3;
/** BLAKE2b-256 output, and the size of one balloon block. */
export const BLOCK_SIZE = 32;
const BLOCK_WORDS = BLOCK_SIZE / 4;

export interface BalloonCost {
  /** Space: number of 32-byte blocks. */
  s: number;
  /** Time: number of mixing rounds. */
  t: number;
  /** Independent jobs whose results are XORed. */
  p: number;
}

/** Limits we accept: s ≥ 1 (the reference panics on 0) and a buffer a Uint32Array can hold. */
export const MAX_SPACE_COST = Math.floor(2 ** 32 / BLOCK_SIZE) - 1;

/** Why these costs cannot be used, or undefined when they can. */
export function costFault(c: BalloonCost): string | undefined {
  const bad = (n: number) => !Number.isInteger(n) || n < 0 || n > 0xffffffff;
  if (bad(c.s) || c.s < 1) return `space cost ${c.s} must be a whole number of 32-byte blocks, at least 1`;
  if (c.s > MAX_SPACE_COST) return `space cost ${c.s} blocks (${c.s * BLOCK_SIZE} bytes) is more memory than pigeon can allocate (at most ${MAX_SPACE_COST} blocks)`;
  if (bad(c.t)) return `time cost ${c.t} must be a whole number of rounds (0 … 4294967295)`;
  if (bad(c.p)) return `parallelism ${c.p} must be a whole number of jobs (0 … 4294967295)`;
  return undefined;
}

// ------------------------------------------------------------- balloon

// Layout of the WebAssembly memory (byte offsets; word = 4 bytes).
const IDX_AT = 128; // message of the index hash (128 bytes)
const DIGEST_AT = 256; // index hash output (32 bytes)
const ZERO_AT = 288; // 32 zero bytes: the absent second block of an expand hash
const BUF_AT = 512; // the balloon buffer, s blocks
const PAGE = 65536;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Word `n` in the byte order that puts it big-endian in memory. */
function bswap(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0;
}

/** Write u64be(n) at word `at` (n < 2^53). */
function putU64(w: Uint32Array, at: number, n: number): void {
  w[at] = bswap(Math.floor(n / 0x100000000));
  w[at + 1] = bswap(n >>> 0);
}

/** The 32 bytes at word `at`, as a big-endian 256-bit number, modulo `s`. */
function modBigEndian(w: Uint32Array, at: number, s: number): number {
  let r = 0;
  for (let i = 0; i < 8; i++) {
    const x = w[at + i]; // bytes b0 b1 b2 b3 in memory order, b0 the least significant
    r = (r * 0x10000 + (((x & 0xff) << 8) | ((x >>> 8) & 0xff))) % s;
    r = (r * 0x10000 + (((x >>> 8) & 0xff00) | (x >>> 24))) % s;
  }
  return r;
}

/** Room for the balloon buffer and its scratch: one WebAssembly instance. */
class Arena {
  private readonly wasm = blake2bBlock();
  readonly w: Uint32Array;

  constructor(readonly s: number) {
    if (!LITTLE_ENDIAN) throw new Error('balloon hashing here needs a little-endian machine');
    const pages = Math.ceil((BUF_AT + s * BLOCK_SIZE) / PAGE);
    const have = this.wasm.memory.buffer.byteLength / PAGE;
    if (pages > have) this.wasm.memory.grow(pages - have);
    this.w = new Uint32Array(this.wasm.memory.buffer);
  }

  compress(msgAt: number, len: number, outAt: number): void {
    this.wasm.compress(msgAt, len, outAt);
  }

  /** Hash u64be(cnt) ‖ block at aAt ‖ block at bAt (len 72), or without b (len 40). */
  pair(cnt: number, aAt: number, bAt: number, len: number, outAt: number): void {
    this.wasm.pair(bswap(Math.floor(cnt / 0x100000000)), bswap(cnt >>> 0), aAt, bAt, len, outAt);
  }

  wipe(): void {
    this.w.fill(0);
  }
}

/**
 * One Balloon job, B(passwd, salt, s, t), in `arena` (whose buffer it
 * overwrites). Returns the last block, copied out.
 */
function balloonB(arena: Arena, passwd: Uint8Array, salt: Uint8Array, t: number): Uint32Array {
  const { w, s } = arena;
  const idx = IDX_AT >> 2, digest = DIGEST_AT >> 2, buf = BUF_AT >> 2;
  let cnt = 0;
  w.fill(0, 0, buf);

  // Expand: buf[0] = H(cnt ‖ passwd ‖ salt); buf[i] = H(cnt ‖ buf[i−1]).
  const first = new Uint8Array(8 + passwd.length + salt.length);
  new DataView(first.buffer).setBigUint64(0, BigInt(cnt++));
  first.set(passwd, 8);
  first.set(salt, 8 + passwd.length);
  new Uint8Array(w.buffer, BUF_AT, BLOCK_SIZE).set(blake2b(first, { dkLen: BLOCK_SIZE }));
  first.fill(0);
  for (let i = 1; i < s; i++) {
    arena.pair(cnt++, BUF_AT + (i - 1) * BLOCK_SIZE, ZERO_AT, 8 + BLOCK_SIZE, BUF_AT + i * BLOCK_SIZE);
  }

  // Mix. Index hash: cnt ‖ salt ‖ u64be(round) ‖ u64be(i) ‖ u64be(k), the
  // salt written once.
  new Uint8Array(w.buffer, IDX_AT + 8, salt.length).set(salt);
  const idxTail = idx + 2 + (salt.length >> 2);
  const idxLen = 8 + salt.length + 24;
  for (let round = 0; round < t; round++) {
    putU64(w, idxTail, round);
    for (let i = 0; i < s; i++) {
      const curAt = BUF_AT + i * BLOCK_SIZE;
      const prevAt = BUF_AT + (i === 0 ? s - 1 : i - 1) * BLOCK_SIZE;
      arena.pair(cnt++, prevAt, curAt, 8 + 2 * BLOCK_SIZE, curAt);
      putU64(w, idxTail + 2, i);
      for (let k = 0; k < DELTA; k++) {
        putU64(w, idx, cnt++);
        putU64(w, idxTail + 4, k);
        arena.compress(IDX_AT, idxLen, DIGEST_AT);
        const otherAt = BUF_AT + modBigEndian(w, digest, s) * BLOCK_SIZE;
        arena.pair(cnt++, curAt, otherAt, 8 + 2 * BLOCK_SIZE, curAt);
      }
    }
  }
  const last = buf + (s - 1) * BLOCK_WORDS;
  return w.slice(last, last + BLOCK_WORDS);
}

/** Job numbers from, from + step, … below `end`. */
export function* jobRange(from: number, end: number, step: number): Generator<number> {
  for (let i = from; i < end; i += step) yield i;
}

function checkSalt(salt: Uint8Array): void {
  if (salt.length % 4 !== 0 || salt.length > 80) throw new RangeError(`balloon salt of ${salt.length} bytes: expected a multiple of 4, at most 80`);
}

/**
 * XOR of B(passwd, salt ‖ u64be(i), s, t) over the given job numbers, run in
 * turn in one arena of s·32 bytes that is wiped before returning. The salt
 * must be a whole number of 4-byte words, at most 80 bytes (eblob's is 32),
 * so that every index hash is one block.
 */
export function balloonJobs(passwd: Uint8Array, salt: Uint8Array, cost: BalloonCost, jobs: Iterable<number>): Uint8Array {
  const fault = costFault(cost);
  if (fault) throw new RangeError(fault);
  checkSalt(salt);
  const x = new Uint32Array(BLOCK_WORDS);
  const jobSalt = new Uint8Array(salt.length + 8);
  jobSalt.set(salt);
  const dv = new DataView(jobSalt.buffer);
  let arena: Arena | undefined;
  try {
    for (const i of jobs) {
      arena ??= new Arena(cost.s);
      dv.setBigUint64(salt.length, BigInt(i));
      const last = balloonB(arena, passwd, jobSalt, cost.t);
      for (let j = 0; j < BLOCK_WORDS; j++) x[j] ^= last[j];
      last.fill(0);
    }
    return new Uint8Array(x.buffer);
  } finally {
    arena?.wipe();
  }
}

/** The last step of H: BLAKE2b-256(passwd ‖ salt ‖ XOR of the jobs). */
export function balloonFinish(passwd: Uint8Array, salt: Uint8Array, xor: Uint8Array): Uint8Array {
  return blake2b.create({ dkLen: BLOCK_SIZE }).update(passwd).update(salt).update(xor).digest();
}

/** H(passwd, salt, s, t, p), the eblob key, in this thread (jobs one after another). */
export function balloonH(passwd: Uint8Array, salt: Uint8Array, cost: BalloonCost): Uint8Array {
  const xor = balloonJobs(passwd, salt, cost, jobRange(0, cost.p, 1));
  try {
    return balloonFinish(passwd, salt, xor);
  } finally {
    xor.fill(0);
  }
}
