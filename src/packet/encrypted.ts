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
 * block (IPAD), then keyed-BLAKE3 XOF output (OPAD).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { XdrReader, XdrWriter } from '../codec/xdr.js';
import { base32Encode } from '../codec/base32.js';
import { AuthError, PacketError } from '../errors.js';
import { blake3DeriveKey, blake3Sum256, Blake3Xof } from '../crypto/blake3.js';
import { ed25519Sign, ed25519Verify, x25519, x25519Keypair } from '../crypto/ecc.js';
import { BlockReader } from '../stream/blockreader.js';
import { reclaim } from '../stream/reclaim.js';
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
import { MAGIC_ENC, sameBytes } from './magic.js';

export const BLOCK_SIZE = 128 * 1024;
export const TAG_SIZE = 16;
export const CT_BLOCK_SIZE = BLOCK_SIZE + TAG_SIZE;
/** XDR of the SIZE structure: two unsigned hypers. */
export const SIZE_STRUCT_SIZE = 16;

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
export function sizeWithTags(size: number): number {
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

function nonceFor(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(Math.floor(counter / 0x100000000), 4);
  n.writeUInt32BE(counter >>> 0, 8);
  return n;
}

/** Seal one block; returns ciphertext and tag as two buffers (no copy). */
function seal(key: Buffer, counter: number, ad: Uint8Array, pt: Uint8Array): [Buffer, Buffer] {
  const c = createCipheriv('chacha20-poly1305', key, nonceFor(counter), { authTagLength: TAG_SIZE });
  c.setAAD(ad, { plaintextLength: pt.length });
  const body = c.update(pt);
  c.final();
  reclaim(body.length);
  return [body, c.getAuthTag()];
}

/** Plaintext of a ciphertext block, or null when its tag does not verify under `key`. */
function open(key: Buffer, counter: number, ad: Uint8Array, ct: Uint8Array): Buffer | null {
  if (ct.length < TAG_SIZE) return null;
  const d = createDecipheriv('chacha20-poly1305', key, nonceFor(counter), { authTagLength: TAG_SIZE });
  d.setAAD(ad, { plaintextLength: ct.length - TAG_SIZE });
  d.setAuthTag(ct.subarray(ct.length - TAG_SIZE));
  const body = d.update(ct.subarray(0, ct.length - TAG_SIZE));
  reclaim(body.length);
  try {
    d.final();
  } catch {
    return null;
  }
  return body;
}

export interface EncryptOptions {
  sender: Sender;
  recipient: Recipient;
  nice: number;
  /** The plain packet header that precedes the payload inside the encryption. */
  plain: PlainHeader;
  payload: AsyncIterable<Uint8Array>;
  /** Pad so that the outermost of `wrappers` layers is at least this long. */
  minSize?: number;
  wrappers?: number;
  /** Refuse payloads (plain header included) longer than this. */
  maxSize?: number;
  /** For reproducible tests only: the ephemeral X25519 private key. */
  ephemeralPrv?: Uint8Array;
}

export interface EncryptResult {
  /** The 172-byte encrypted header (what hdr/ files hold). */
  header: Uint8Array;
  /** Ciphertext chunks: header, blocks, OPAD. */
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
    const block = Buffer.allocUnsafe(BLOCK_SIZE);
    block.set(plainHeader);
    let fill = plainHeader.length;
    let counter = 0;
    let size = plainHeader.length;
    for await (const chunk of opts.payload) {
      size += chunk.length;
      if (size > maxSize) throw new PacketError(`payload of more than ${maxSize} bytes is too big for this packet (maxsize)`);
      let off = 0;
      while (off < chunk.length) {
        if (fill === 0 && chunk.length - off >= BLOCK_SIZE) {
          // Whole block straight from the source: no copy.
          const [ct, tag] = seal(keys.full, counter++, ad, chunk.subarray(off, off + BLOCK_SIZE));
          total += ct.length + TAG_SIZE;
          yield ct;
          yield tag;
          off += BLOCK_SIZE;
          continue;
        }
        const take = Math.min(BLOCK_SIZE - fill, chunk.length - off);
        block.set(chunk.subarray(off, off + take), fill);
        fill += take;
        off += take;
        if (fill === BLOCK_SIZE) {
          const [ct, tag] = seal(keys.full, counter++, ad, block);
          total += ct.length + TAG_SIZE;
          yield ct;
          yield tag;
          fill = 0;
        }
      }
    }
    if (fill === BLOCK_SIZE) throw new Error('unreachable: full block left unsealed');

    // The tail: SIZE ‖ remaining payload ‖ IPAD, sealed under key=size,
    // spilling into one more key=full block when it does not fit.
    const padSize = padSizeFor(size, opts.minSize ?? 0, opts.wrappers ?? 1);
    const sizeStruct = new XdrWriter().u64(size).u64(padSize).bytes();
    const tail = Buffer.alloc(Math.max(BLOCK_SIZE, fill + SIZE_STRUCT_SIZE)); // zeroed: IPAD for free
    tail.set(sizeStruct, 0);
    block.copy(tail, SIZE_STRUCT_SIZE, 0, fill);
    let tailLen = fill + SIZE_STRUCT_SIZE;
    let padLeft = padSize;
    let lastKey = keys.size;
    if (tailLen > BLOCK_SIZE) {
      const [ct, tag] = seal(keys.size, counter++, ad, tail.subarray(0, BLOCK_SIZE));
      total += ct.length + TAG_SIZE;
      yield ct;
      yield tag;
      tail.copy(tail, 0, BLOCK_SIZE, tailLen);
      tailLen -= BLOCK_SIZE;
      tail.fill(0, tailLen, BLOCK_SIZE);
      lastKey = keys.full;
    }
    const ipad = Math.min(padLeft, BLOCK_SIZE - tailLen);
    padLeft -= ipad;
    const [ct, tag] = seal(lastKey, counter++, ad, tail.subarray(0, tailLen + ipad));
    total += ct.length + TAG_SIZE;
    yield ct;
    yield tag;
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

export interface DecryptOptions {
  self: SelfKeys;
  /** Finds the sender's keys by node id; undefined for strangers. */
  lookup: (id: Uint8Array) => KnownSender | undefined;
  input: AsyncIterable<Uint8Array>;
  /** Name of the packet in error messages (a path, "stdin", a packet id). */
  what?: string;
  /** Skip the signature check (only for inspecting foreign packets). */
  noVerify?: boolean;
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

/** Read and authenticate the header, then decrypt the blocks as they stream in. */
export async function decryptPacket(opts: DecryptOptions): Promise<DecryptResult> {
  const what = opts.what ?? 'packet';
  const reader = new BlockReader(opts.input);
  const headerBytes = await reader.read(ENC_HEADER_SIZE);
  const header = decodeEncHeader(headerBytes.slice(), what);
  if (!sameBytes(header.recipient, opts.self.id)) {
    throw new AuthError(`${what}: addressed to node ${base32Encode(header.recipient)}, not to us (${base32Encode(opts.self.id)})`);
  }
  const sender = opts.lookup(header.sender);
  const tbs = encodeEncTbs(header);
  if (!opts.noVerify) {
    if (!sender) throw new AuthError(`${what}: unknown sender ${base32Encode(header.sender)}: add it to neigh in the configuration to accept its packets`);
    if (!ed25519Verify(sender.signPub, tbs, header.signature)) {
      throw new AuthError(`${what}: bad header signature for sender ${sender.name ?? base32Encode(header.sender)}: the packet is forged or corrupt`);
    }
  }
  const ad = blake3Sum256(tbs);
  const keys = deriveKeys(x25519(opts.self.exchPrv, header.exchPub));
  const info = { payloadSize: 0, padSize: 0 };

  async function* generate(): AsyncGenerator<Uint8Array> {
    let counter = 0;
    let emitted = 0;
    let sizeKnown = false;
    let payloadSize = 0;
    let padSize = 0;
    let ipad = 0;
    const truncated = () => new PacketError(`${what} is truncated: it ends inside block ${counter}`);
    for (;;) {
      const ct = await reader.read(CT_BLOCK_SIZE);
      if (ct.length === 0) throw truncated();
      if (!sizeKnown) {
        const full = ct.length === CT_BLOCK_SIZE ? open(keys.full, counter, ad, ct) : null;
        if (full) {
          counter++;
          emitted += full.length;
          yield full;
          continue;
        }
        const pt = open(keys.size, counter, ad, ct);
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
      const pt = open(keys.full, counter, ad, ct);
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
        if (!sameBytes(got, want)) throw new PacketError(`${what}: outer padding is not what the sender's key makes: the packet is corrupt`);
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

/** Split decrypted plaintext into its plain header and the payload after it. */
export async function openPlain(
  plaintext: AsyncIterable<Uint8Array>,
  what = 'packet',
): Promise<{ plain: PlainHeader; body: AsyncGenerator<Uint8Array> }> {
  const reader = new BlockReader(plaintext);
  const head = await reader.read(PLAIN_HEADER_SIZE);
  if (head.length < PLAIN_HEADER_SIZE) {
    // Drain so that integrity errors surface before the format complaint.
    while (!(await reader.atEnd())) await reader.read(BLOCK_SIZE);
    throw new PacketError(`${what}: decrypted payload of ${head.length} bytes is shorter than a plain packet header`);
  }
  const plain = decodePlainHeader(head.slice(), what);
  async function* body(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const b = await reader.read(BLOCK_SIZE);
      if (b.length === 0) return;
      yield b;
    }
  }
  return { plain, body: body() };
}

/** A random 32-byte value (ephemeral keys in tests, tmp names). */
export function random32(): Uint8Array {
  return randomBytes(32);
}
