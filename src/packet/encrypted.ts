/**
 * Encrypted packets (manual: Encrypted), streamed in constant memory.
 *
 *   HEADER | BLOCK 0 | BLOCK 1 | … | OPAD
 *
 * The plaintext stream is PLAIN HEADER ‖ PAYLOAD. It is cut into 128 KiB
 * blocks sealed with ChaCha20-Poly1305 under key=full; the block holding the
 * SIZE structure (payload and padding sizes) starts a block and is sealed
 * under key=size. Nonces count blocks (big-endian in 12 bytes); the AD is
 * BLAKE3-256 of the signed header part. Padding is zeros inside the last
 * block (IPAD), then keyed-BLAKE3 XOF output (OPAD). openPlain() splits
 * the plaintext into its plain header and payload.
 *
 * Longer than 600 lines on purpose: the encryptor and the decryptor share
 * the key schedule, the block layout and the batch-slot machinery, which
 * would otherwise have to be exported for each other.
 */
import { XdrReader, XdrWriter } from '../codec/xdr.js';
import { base32Encode } from '../codec/base32.js';
import { AuthError, PacketError } from '../errors.js';
import { blake3DeriveKey, blake3Sum256, Blake3Xof } from '../crypto/blake3.js';
import { ed25519Sign, ed25519Verify, x25519, x25519Keypair } from '../crypto/ecc.js';
import { bytesEqual } from '../codec/bytes.js';
import { BlockReader } from '../stream/blockreader.js';
import { takeHead } from '../stream/head.js';
import { bufferPoolEnabled } from '../stream/pool.js';
import { isFillSource, readFd, type FillSource } from '../stream/fileread.js';
import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs';
import { aead, aeadForFewBlocks, type Aead } from '../crypto/aead.js';
import {
  decodeEncHeader,
  decodePlainHeader,
  ENC_HEADER_SIZE,
  encodeEncHeader,
  encodeEncTbs,
  encodePlainHeader,
  EncHeader,
  PLAIN_HEADER_SIZE,
  PlainHeader,
} from './header.js';
import { MAGIC_ENC } from './magic.js';

const BLOCK_SIZE = 128 * 1024;
export const TAG_SIZE = 16;
export const CT_BLOCK_SIZE = BLOCK_SIZE + TAG_SIZE;
/** XDR of the SIZE structure: two unsigned hypers. */
export const SIZE_STRUCT_SIZE = 16;

/**
 * Blocks opened per batch (the first batch of a packet is one block, so
 * that reading a packet's type costs one block), and batches read and
 * opened ahead of the consumer. Measured on 1 GiB tosses: fewer, larger
 * batches beat more, smaller ones (each batch is a few thread-pool hops).
 */
const BATCH_BLOCKS = 16;
const SLOTS = 2;

interface Slot {
  ct: Buffer;
  pt: Buffer;
}

/**
 * Slot buffers of finished packets, kept for the next packet (a toss run
 * opens many) once the pool is on (stream/pool.ts): up to 2 * SLOTS slots
 * (a decryption's first batch has its own, smaller one: takeFirstSlot).
 */
const slotPool: Slot[] = [];

function takeSlot(): Slot {
  return slotPool.pop() ?? { ct: Buffer.allocUnsafeSlow(BATCH_BLOCKS * CT_BLOCK_SIZE), pt: Buffer.allocUnsafeSlow(BATCH_BLOCKS * BLOCK_SIZE) };
}

function giveSlots(slots: Slot[]): void {
  if (!bufferPoolEnabled()) return;
  for (const s of slots) if (slotPool.length < 2 * SLOTS) slotPool.push(s);
}

/**
 * A decryption's first batch is one block: it gets a slot of one block
 * (kept, with the pool on, up to FIRST_POOL of them: a toss decrypts a few
 * small packets at once), so that a small packet, all in that block,
 * takes no batch slot at all.
 */
const FIRST_POOL = 16;
const firstPool: Slot[] = [];

function takeFirstSlot(): Slot {
  return firstPool.pop() ?? { ct: Buffer.allocUnsafeSlow(CT_BLOCK_SIZE), pt: Buffer.allocUnsafeSlow(BLOCK_SIZE) };
}

function giveFirstSlot(slot: Slot): void {
  if (bufferPoolEnabled() && firstPool.length < FIRST_POOL) firstPool.push(slot);
}

/** First block and block count of batch j. */
function batchSpan(j: number): [number, number] {
  return j === 0 ? [0, 1] : [1 + (j - 1) * BATCH_BLOCKS, BATCH_BLOCKS];
}

const MAGIC_TEXT = String.fromCharCode(...MAGIC_ENC.bytes);
const CTX_FULL = `${MAGIC_TEXT} FULL`;
const CTX_SIZE = `${MAGIC_TEXT} SIZE`;
const CTX_PAD = `${MAGIC_TEXT} PAD`;

export interface Sender {
  id: Uint8Array;
  signPrv: Uint8Array;
}
export interface Recipient {
  id: Uint8Array;
  exchPub: Uint8Array;
}

/** Ciphertext length of `size` plaintext bytes plus the SIZE structure. */
function sizeWithTags(size: number): number {
  const s = size + SIZE_STRUCT_SIZE;
  return s + Math.floor(s / BLOCK_SIZE) * TAG_SIZE + (s % BLOCK_SIZE !== 0 ? TAG_SIZE : 0);
}

/**
 * Padding that makes the outermost of `wrappers` layers reach `minSize`,
 * given `sizePayload` plaintext bytes (plain header included) in the
 * innermost one. Only the innermost layer is padded.
 */
export function padSizeFor(sizePayload: number, minSize: number, wrappers: number): number {
  let expected = sizePayload - PLAIN_HEADER_SIZE;
  for (let i = 0; i < wrappers; i++) expected = ENC_HEADER_SIZE + sizeWithTags(PLAIN_HEADER_SIZE + expected);
  return Math.max(0, minSize - expected);
}

/** Encrypted size of a packet carrying `dataSize` payload bytes after its plain header. */
export function encryptedSize(dataSize: number, padSize = 0): number {
  return ENC_HEADER_SIZE + sizeWithTags(PLAIN_HEADER_SIZE + dataSize + padSize);
}

interface Keys {
  full: Buffer;
  size: Buffer;
  shared: Uint8Array;
}

function deriveKeys(shared: Uint8Array): Keys {
  return {
    full: Buffer.from(blake3DeriveKey(CTX_FULL, shared)),
    size: Buffer.from(blake3DeriveKey(CTX_SIZE, shared)),
    shared,
  };
}

function padXof(shared: Uint8Array): Blake3Xof {
  return new Blake3Xof(blake3DeriveKey(CTX_PAD, shared));
}


export interface EncryptOptions {
  sender: Sender;
  recipient: Recipient;
  nice: number;
  /** The plain packet header that precedes the payload inside the encryption. */
  plain: PlainHeader;
  /** Chunks, or a FillSource read straight into the buffers that are sealed (no copy). */
  payload: AsyncIterable<Uint8Array> | FillSource;
  /** Pad so that the outermost of `wrappers` layers is at least this long. */
  minSize?: number;
  wrappers?: number;
  /** Refuse payloads (plain header included) longer than this. */
  maxSize?: number;
  /** For reproducible tests only: the ephemeral X25519 private key. */
  ephemeralPrv?: Uint8Array;
  /**
   * Hand out the sealed blocks as views of reused buffers, each valid only
   * until the next chunk is asked for (no allocation per chunk). Without it
   * every chunk is the consumer's to keep.
   */
  borrow?: boolean;
}

export interface EncryptResult {
  /** The 172-byte encrypted header (what hdr/ files hold). */
  header: Uint8Array;
  /** Ciphertext chunks: header, blocks, OPAD (with `borrow`, block chunks are views of reused buffers, valid until the next chunk is asked for). */
  stream: AsyncGenerator<Uint8Array>;
  /** Filled in when `stream` is exhausted. */
  info: { payloadSize: number; padSize: number; totalSize: number };
}

/** Streaming encryption of one packet layer. */
export function encryptPacket(opts: EncryptOptions): EncryptResult {
  const eph = x25519Keypair(opts.ephemeralPrv);
  const tbs = encodeEncTbs({ nice: opts.nice, sender: opts.sender.id, recipient: opts.recipient.id, exchPub: eph.pub });
  const header = encodeEncHeader({
    nice: opts.nice,
    sender: opts.sender.id,
    recipient: opts.recipient.id,
    exchPub: eph.pub,
    signature: ed25519Sign(opts.sender.signPrv, tbs),
  });
  const ad = blake3Sum256(tbs);
  const keys = deriveKeys(x25519(eph.prv, opts.recipient.exchPub));
  const plainHeader = encodePlainHeader(opts.plain);
  const info = { payloadSize: 0, padSize: 0, totalSize: 0 };
  const maxSize = opts.maxSize ?? Infinity;

  async function* generate(): AsyncGenerator<Uint8Array> {
    yield header;
    let total = header.length;
    // Chosen at the first whole batch: a payload that ends before one seals its few blocks without loading the addon.
    let engine: Aead | undefined;
    // Two slots: one filling with plaintext while the other is sealed on the thread pool.
    const slots = [takeSlot(), takeSlot()];
    let cur = 0;
    let fill = plainHeader.length;
    slots[cur].pt.set(plainHeader);
    let counter = 0;
    let size = plainHeader.length;
    const batchBytes = BATCH_BLOCKS * BLOCK_SIZE;
    type Pending = { slot: Slot; blocks: number; sealed: Promise<void> };
    let pending = null as Pending | null;
    /** Seal the first `blocks` blocks of the current slot; hand out the one sealed before. */
    async function* rotate(blocks: number): AsyncGenerator<Uint8Array> {
      const slot = slots[cur];
      const sealed = (engine ??= aead()).sealBatch(keys.full, counter, ad, slot.pt, slot.ct, BLOCK_SIZE, blocks);
      sealed.catch(() => {});
      counter += blocks;
      const prev = pending;
      pending = { slot, blocks, sealed };
      if (prev) yield* handOut(prev);
      cur ^= 1;
    }
    // A FillSource reads the next batch into a slot's plaintext as soon as that slot is sealed, while its ciphertext is out.
    const filler = isFillSource(opts.payload) ? opts.payload : null;
    let filled = false; // the filler came back short: nothing more to read
    let prefetch: Promise<number> | null = null;
    async function* handOut(p: Pending): AsyncGenerator<Uint8Array> {
      await p.sealed;
      if (filler && !filled) {
        prefetch = filler.fill(p.slot.pt, 0, batchBytes);
        prefetch.catch(() => {});
      }
      total += p.blocks * CT_BLOCK_SIZE;
      const view = p.slot.ct.subarray(0, p.blocks * CT_BLOCK_SIZE);
      yield opts.borrow ? view : Uint8Array.prototype.slice.call(view);
    }
    const grow = (n: number) => {
      size += n;
      if (size > maxSize) throw new PacketError(`payload of more than ${maxSize} bytes is too big for this packet (maxsize)`);
    };
    try {
      while (filler && !filled) {
        // After a rotation the slot to fill is the one just handed out, its read already started (handOut).
        const want = batchBytes - fill;
        const started = prefetch;
        prefetch = null;
        const n = await (started ?? filler.fill(slots[cur].pt, fill, want));
        filled = n < want;
        grow(n);
        fill += n;
        if (fill === batchBytes) {
          yield* rotate(BATCH_BLOCKS);
          fill = 0;
        }
      }
      for await (const chunk of filler ? [] : (opts.payload as AsyncIterable<Uint8Array>)) {
        grow(chunk.length);
        let off = 0;
        while (off < chunk.length) {
          const take = Math.min(batchBytes - fill, chunk.length - off);
          slots[cur].pt.set(chunk.subarray(off, off + take), fill);
          fill += take;
          off += take;
          if (fill === batchBytes) {
            yield* rotate(BATCH_BLOCKS);
            fill = 0;
          }
        }
      }
      // Whole blocks left in the current slot are sealed under key=full like the rest.
      const whole = Math.floor(fill / BLOCK_SIZE);
      const rem = fill - whole * BLOCK_SIZE;
      const last = slots[cur];
      if (whole > 0) {
        yield* rotate(whole);
      }
      if (pending) {
        yield* handOut(pending);
        pending = null;
      }
      const block = last.pt.subarray(whole * BLOCK_SIZE, whole * BLOCK_SIZE + rem);

      // The tail: SIZE ‖ remaining payload ‖ IPAD, sealed under key=size,
      // spilling into one more key=full block when it does not fit.
      const padSize = padSizeFor(size, opts.minSize ?? 0, opts.wrappers ?? 1);
      const sizeStruct = new XdrWriter().u64(size).u64(padSize).bytes();
      const tail = Buffer.alloc(Math.max(BLOCK_SIZE, rem + SIZE_STRUCT_SIZE)); // zeroed: IPAD for free
      tail.set(sizeStruct, 0);
      tail.set(block, SIZE_STRUCT_SIZE);
      let tailLen = rem + SIZE_STRUCT_SIZE;
      let padLeft = padSize;
      let lastKey = keys.size;
      const sealOne = (key: Buffer, pt: Uint8Array): Buffer => {
        const ct = Buffer.allocUnsafe(pt.length + TAG_SIZE);
        (engine ?? aeadForFewBlocks()).seal(key, counter++, ad, pt, ct);
        total += ct.length;
        return ct;
      };
      if (tailLen > BLOCK_SIZE) {
        yield sealOne(keys.size, tail.subarray(0, BLOCK_SIZE));
        tail.copy(tail, 0, BLOCK_SIZE, tailLen);
        tailLen -= BLOCK_SIZE;
        tail.fill(0, tailLen, BLOCK_SIZE);
        lastKey = keys.full;
      }
      const ipad = Math.min(padLeft, BLOCK_SIZE - tailLen);
      padLeft -= ipad;
      yield sealOne(lastKey, tail.subarray(0, tailLen + ipad));
      if (padLeft > 0) {
        const xof = padXof(keys.shared);
        while (padLeft > 0) {
          const n = Math.min(padLeft, 1 << 20);
          const chunk = xof.read(n);
          total += chunk.length;
          yield chunk;
          padLeft -= n;
        }
      }
      info.payloadSize = size;
      info.padSize = padSize;
      info.totalSize = total;
    } finally {
      if (pending) await pending.sealed.catch(() => {});
      if (prefetch) await (prefetch as Promise<number>).catch(() => 0);
      giveSlots(slots);
    }
  }

  return { header, stream: generate(), info };
}

export interface SelfKeys {
  id: Uint8Array;
  exchPrv: Uint8Array;
}

export interface KnownSender {
  id: Uint8Array;
  signPub: Uint8Array;
  name?: string;
}

/**
 * A packet in an open file: a FileHandle read from its start, a descriptor
 * of a regular file read from `start`, or a descriptor (stdin, a pipe)
 * read sequentially from where it is. `head` holds bytes already taken
 * from the front of it. The caller keeps and closes the file.
 */
export interface FileInput {
  file: FileHandle | number;
  head?: Uint8Array;
  /** With a descriptor: read it at offsets from here (a regular file), not sequentially. */
  start?: number;
}

export interface DecryptOptions {
  self: SelfKeys;
  /** Finds the sender's keys by node id; undefined for strangers. */
  lookup: (id: Uint8Array) => KnownSender | undefined;
  input: AsyncIterable<Uint8Array> | FileInput;
  /** Name of the packet in error messages (a path, "stdin", a packet id). */
  what?: string;
  /** Skip the signature check (only for inspecting foreign packets). */
  noVerify?: boolean;
  /**
   * Hand out plaintext chunks that are views of reused buffers, each valid
   * only until the next chunk is asked for (no allocation per chunk).
   * Without it every chunk is the consumer's to keep.
   */
  borrow?: boolean;
}

export interface DecryptResult {
  header: EncHeader;
  sender: KnownSender | undefined;
  /**
   * Verified plaintext (plain header ‖ payload). Every chunk comes from a
   * block whose tag verified; the stream throws if the packet turns out to be
   * truncated, padded wrongly or followed by garbage, so consumers must not
   * treat what they got as complete until it ends without error.
   */
  plaintext: AsyncGenerator<Uint8Array>;
  info: { payloadSize: number; padSize: number };
}

/** Sequential reads of the ciphertext into caller buffers. */
interface ByteSource {
  /** Fill buf[0, len) as far as the source goes: fewer bytes only at its end. */
  fill(buf: Uint8Array, len: number): Promise<number>;
  close(): Promise<void>;
  /** A read already came back short: the source is, as far as anyone can tell, at its end. */
  readonly ended: boolean;
}

/** How much of a packet file is read synchronously (fileSource). */
const SYNC_READ_BYTES = 256 << 10;

function fileSource(input: FileInput): ByteSource {
  const file = input.file;
  const fd = typeof file === 'number' ? file : file.fd;
  let pos: number | null = typeof file === 'number' ? (input.start ?? null) : 0;
  let head = input.head ?? new Uint8Array(0);
  // A file's first SYNC_READ_BYTES, and whatever is asked after a short
  // read (its end), are read synchronously: a small packet then costs no
  // thread-pool round trip at all, a big one two fewer (atomic.ts says why).
  let atEnd = false;
  const readAt = (buf: Uint8Array, off: number, len: number): Promise<number> => {
    if (pos === null) return readFd(fd, buf, off, len, pos);
    if (atEnd || pos + len <= SYNC_READ_BYTES) {
      const n = fs.readSync(fd, buf, off, len, pos);
      if (n < len) atEnd = true;
      return Promise.resolve(n);
    }
    if (typeof file === 'number') {
      return readFd(fd, buf, off, len, pos).then((n) => {
        if (n < len) atEnd = true;
        return n;
      });
    }
    return file.read(buf, off, len, pos).then((r) => {
      if (r.bytesRead < len) atEnd = true;
      return r.bytesRead;
    });
  };
  return {
    async fill(buf, len) {
      let have = 0;
      if (head.length > 0) {
        have = Math.min(head.length, len);
        buf.set(head.subarray(0, have));
        head = head.subarray(have);
      }
      while (have < len) {
        const n = await readAt(buf, have, len - have);
        if (n === 0) break;
        have += n;
        if (pos !== null) pos += n;
      }
      return have;
    },
    async close() {},
    get ended() {
      return atEnd;
    },
  };
}

function iterSource(input: AsyncIterable<Uint8Array>): ByteSource {
  const it = input[Symbol.asyncIterator]();
  let head: Uint8Array = new Uint8Array(0);
  let ended = false;
  return {
    async fill(buf, len) {
      let have = 0;
      while (have < len) {
        if (head.length === 0) {
          if (ended) break;
          const r = await it.next();
          if (r.done) {
            ended = true;
            break;
          }
          head = r.value;
          continue;
        }
        const take = Math.min(head.length, len - have);
        buf.set(head.subarray(0, take), have);
        head = head.subarray(take);
        have += take;
      }
      return have;
    },
    async close() {
      ended = true;
      await it.return?.();
    },
    get ended() {
      return ended;
    },
  };
}

function isFileInput(input: DecryptOptions['input']): input is FileInput {
  return (input as FileInput).file !== undefined;
}

/** Read and authenticate the header, then decrypt the blocks as they stream in. */
export async function decryptPacket(opts: DecryptOptions): Promise<DecryptResult> {
  const what = opts.what ?? 'packet';
  const src = isFileInput(opts.input) ? fileSource(opts.input) : iterSource(opts.input);
  const headerBytes = new Uint8Array(ENC_HEADER_SIZE);
  const got = await src.fill(headerBytes, ENC_HEADER_SIZE);
  let header: EncHeader;
  try {
    header = decodeEncHeader(headerBytes.subarray(0, got), what);
    if (!bytesEqual(header.recipient, opts.self.id)) {
      throw new AuthError(`${what}: addressed to node ${base32Encode(header.recipient)}, not to us (${base32Encode(opts.self.id)})`);
    }
  } catch (err) {
    await src.close();
    throw err;
  }
  const sender = opts.lookup(header.sender);
  const tbs = encodeEncTbs(header);
  if (!opts.noVerify) {
    let fault = '';
    if (!sender) fault = `${what}: unknown sender ${base32Encode(header.sender)}: add it to neigh in the configuration to accept its packets`;
    else if (!ed25519Verify(sender.signPub, tbs, header.signature)) {
      fault = `${what}: bad header signature for sender ${sender.name ?? base32Encode(header.sender)}: the packet is forged or corrupt`;
    }
    if (fault) {
      await src.close();
      throw new AuthError(fault);
    }
  }
  const ad = blake3Sum256(tbs);
  const keys = deriveKeys(x25519(opts.self.exchPrv, header.exchPub));
  const info = { payloadSize: 0, padSize: 0 };
  const engine = aead();
  const borrow = opts.borrow === true;

  interface Job {
    ct: Buffer;
    pt: Buffer;
    /** Ciphertext bytes read into ct. */
    read: Promise<number>;
    /** Whole blocks of ct that verified under key=full, in order from the first. */
    opened: Promise<number>;
    /** Bytes asked for: fewer came only if the packet ended. */
    want: number;
  }
  const firstSlot = takeFirstSlot();
  const slots: Slot[] = [];
  let readChain: Promise<unknown> = Promise.resolve();
  let scheduled = 0;
  /** Read batch j into its slot after the batch before it, and open its whole blocks. */
  const schedule = (): Job => {
    const j = scheduled++;
    const [first, count] = batchSpan(j);
    // Batch 0 (one block) in the first slot, then batch j in slots[(j - 1) % SLOTS], taken when first needed.
    if (j > 0 && slots.length < SLOTS && j > slots.length) slots.push(takeSlot());
    const slot = j === 0 ? firstSlot : slots[(j - 1) % SLOTS];
    const pt = borrow ? slot.pt : Buffer.allocUnsafeSlow(count * BLOCK_SIZE);
    const want = count * CT_BLOCK_SIZE;
    const read = readChain.then(() => src.fill(slot.ct, want));
    readChain = read.catch(() => 0);
    const opened = read.then((n) => {
      const whole = Math.floor(n / CT_BLOCK_SIZE);
      return whole === 0 ? 0 : engine.openBatch(keys.full, first, ad, slot.ct, pt, BLOCK_SIZE, whole);
    });
    // Batches read ahead may be abandoned (the packet ended, or failed): never an unhandled rejection.
    opened.catch(() => 0);
    return { ct: slot.ct, pt, read, opened, want };
  };

  async function* generate(): AsyncGenerator<Uint8Array> {
    const queue: Job[] = [schedule()];
    let counter = 0;
    let emitted = 0;
    let tail: Uint8Array;
    try {
      // The bulk: batches of key=full blocks, read and opened ahead on the thread pool.
      for (;;) {
        const job = queue.shift()!;
        const n = await job.read;
        const opened = await job.opened;
        if (opened > 0) {
          counter += opened;
          emitted += opened * BLOCK_SIZE;
          yield job.pt.subarray(0, opened * BLOCK_SIZE);
        }
        if (opened * CT_BLOCK_SIZE === n && n === job.want) {
          // The consumer is back, so this slot is free again: keep SLOTS batches under way.
          while (queue.length < SLOTS) queue.push(schedule());
          continue;
        }
        tail = job.ct.subarray(opened * CT_BLOCK_SIZE, n);
        break;
      }
      yield* finishTail(rawRest(tail, queue), counter, emitted);
    } finally {
      await Promise.allSettled(queue.map((j) => j.opened));
      await src.close();
      giveSlots(slots);
      giveFirstSlot(firstSlot);
    }
  }

  /** The ciphertext from the first block not yet opened: the rest of a slot, slots read ahead, then the source. */
  async function* rawRest(first: Uint8Array, queue: Job[]): AsyncGenerator<Uint8Array> {
    yield first;
    while (queue.length > 0) {
      const job = queue.shift()!;
      const n = await job.read;
      await job.opened.catch(() => 0); // nothing may still be reading this slot's ct
      yield job.ct.subarray(0, n);
    }
    // After a short read (a small packet, all in its first slot) only the
    // end of the file is left to see: no megabyte for that.
    const buf = Buffer.allocUnsafe(src.ended ? 4096 : 1 << 20);
    for (;;) {
      const n = await src.fill(buf, buf.length);
      if (n === 0) return;
      yield buf.subarray(0, n);
    }
  }

  /** The SIZE block, the block that may follow it, the padding, and the end of the packet, opened one by one. */
  async function* finishTail(raw: AsyncIterable<Uint8Array>, counter: number, emitted: number): AsyncGenerator<Uint8Array> {
    const reader = new BlockReader(raw);
    let sizeKnown = false;
    let payloadSize = 0;
    let padSize = 0;
    let ipad = 0;
    const truncated = () => new PacketError(`${what} is truncated: it ends inside block ${counter}`);
    const openWith = (key: Buffer, ct: Uint8Array): Buffer | null => {
      if (ct.length < TAG_SIZE) return null;
      const pt = Buffer.allocUnsafe(ct.length - TAG_SIZE);
      return engine.open(key, counter, ad, ct, pt) ? pt : null;
    };
    for (;;) {
      const ct = await reader.read(CT_BLOCK_SIZE);
      if (ct.length === 0) throw truncated();
      if (!sizeKnown) {
        const full = ct.length === CT_BLOCK_SIZE ? openWith(keys.full, ct) : null;
        if (full) {
          counter++;
          emitted += full.length;
          yield full;
          continue;
        }
        const pt = openWith(keys.size, ct);
        if (!pt) throw new PacketError(`${what}: block ${counter} fails authentication: the packet is corrupt or tampered with`);
        counter++;
        if (pt.length < SIZE_STRUCT_SIZE) throw new PacketError(`${what}: block ${counter - 1} is too short to hold the size structure`);
        const r = new XdrReader(pt, 0, what);
        const p = r.u64();
        const pad = r.u64();
        if (p > BigInt(Number.MAX_SAFE_INTEGER) || pad > BigInt(Number.MAX_SAFE_INTEGER) || Number(p) < emitted) {
          throw new PacketError(`${what}: size structure is inconsistent (payload ${p}, already read ${emitted})`);
        }
        payloadSize = Number(p);
        padSize = Number(pad);
        sizeKnown = true;
        const rest = pt.subarray(SIZE_STRUCT_SIZE);
        const take = Math.min(rest.length, payloadSize - emitted);
        if (take > 0) {
          emitted += take;
          yield rest.subarray(0, take);
        }
        ipad = checkZeros(rest.subarray(take), what);
        if (emitted === payloadSize) break;
        if (pt.length !== BLOCK_SIZE) throw new PacketError(`${what}: payload continues after a short size block`);
        continue;
      }
      // Past the size block: one more key=full block holds the payload's end.
      const pt = openWith(keys.full, ct);
      if (!pt) throw new PacketError(`${what}: block ${counter} fails authentication: the packet is corrupt or tampered with`);
      counter++;
      const take = Math.min(pt.length, payloadSize - emitted);
      emitted += take;
      yield pt.subarray(0, take);
      ipad += checkZeros(pt.subarray(take), what);
      if (emitted === payloadSize) break;
      if (pt.length !== BLOCK_SIZE) throw truncated();
    }
    if (ipad > padSize) throw new PacketError(`${what}: more zero padding inside the last block than its size structure declares`);
    let opad = padSize - ipad;
    if (opad > 0) {
      const xof = padXof(keys.shared);
      while (opad > 0) {
        const got = await reader.read(Math.min(opad, 1 << 20));
        if (got.length === 0) throw new PacketError(`${what} is truncated: ${opad} bytes of its outer padding are missing`);
        const want = xof.read(got.length);
        if (!bytesEqual(got, want)) throw new PacketError(`${what}: outer padding is not what the sender's key makes: the packet is corrupt`);
        opad -= got.length;
      }
    }
    if (!(await reader.atEnd())) throw new PacketError(`${what}: unexpected bytes after the end of the packet`);
    info.payloadSize = payloadSize;
    info.padSize = padSize;
  }

  return { header, sender, plaintext: generate(), info };
}

function checkZeros(b: Uint8Array, what: string): number {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) throw new PacketError(`${what}: non-zero byte in the padding`);
  return b.length;
}

/**
 * Split decrypted plaintext into its plain header and the payload, passing
 * the payload's chunks through as they come (no copy; borrowed chunks stay
 * borrowed). A plaintext too short for a header is read to its end first,
 * so that an integrity fault is what gets reported. The one split used by
 * toss, ack and everything else that opens a packet.
 */
export async function openPlain(
  plaintext: AsyncIterable<Uint8Array>,
  what = 'packet',
): Promise<{ plain: PlainHeader; body: AsyncGenerator<Uint8Array> }> {
  const { head, rest } = await takeHead(plaintext, PLAIN_HEADER_SIZE);
  if (head.length < PLAIN_HEADER_SIZE) {
    while (!(await rest.next()).done);
    throw new PacketError(`${what}: decrypted payload of ${head.length} bytes is shorter than a plain packet header`);
  }
  try {
    return { plain: decodePlainHeader(head, what), body: rest };
  } catch (err) {
    await rest.return(undefined);
    throw err;
  }
}
