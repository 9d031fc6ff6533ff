/**
 * ChaCha20-Poly1305 for NNCP's blocks, writing into buffers the caller
 * owns. Two engines with one interface:
 *
 * - the native addon (src/native.ts): OpenSSL's cipher from inside the running
 *   node, no allocation per block, and batches that run on libuv's thread
 *   pool while the main thread goes on;
 * - node:crypto, used when the addon is missing or PIGEON_NATIVE=0: the
 *   same results, synchronously, with one allocation and one copy per block.
 *
 * Nonces are the block counter, big-endian, in the last 8 of 12 bytes.
 * A ciphertext block is BODY ‖ TAG(16). Batches are `n` blocks of
 * `blockLen` plaintext bytes each, back to back on both sides.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { nativeFallbackReason, nativeModule, type NativeModule } from '../native.js';
import { reclaim } from '../stream/reclaim.js';

const AEAD_TAG = 16;

export interface Aead {
  /** 'native' (the addon) or 'node:crypto'. */
  readonly engine: 'native' | 'node:crypto';
  /** Open one block: `pt` receives ct.length-16 bytes; false when the tag does not verify. */
  open(key: Uint8Array, counter: number, ad: Uint8Array, ct: Uint8Array, pt: Uint8Array): boolean;
  /** Seal one block: `ct` receives pt.length+16 bytes. */
  seal(key: Uint8Array, counter: number, ad: Uint8Array, pt: Uint8Array, ct: Uint8Array): void;
  /** Open `n` whole blocks; resolves to how many verified before the first that did not. */
  openBatch(key: Uint8Array, counter: number, ad: Uint8Array, ct: Uint8Array, pt: Uint8Array, blockLen: number, n: number): Promise<number>;
  /** Seal `n` whole blocks. */
  sealBatch(key: Uint8Array, counter: number, ad: Uint8Array, pt: Uint8Array, ct: Uint8Array, blockLen: number, n: number): Promise<void>;
}

function nonceFor(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(Math.floor(counter / 0x100000000), 4);
  n.writeUInt32BE(counter >>> 0, 8);
  return n;
}

/** ChaCha20-Poly1305 open through node:crypto with any 12-byte nonce: the plaintext, or null when the tag does not verify. */
function nodeOpenWithNonce(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ct: Uint8Array): Buffer | null {
  if (ct.length < AEAD_TAG) return null;
  const bodyLen = ct.length - AEAD_TAG;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG });
  d.setAAD(ad, { plaintextLength: bodyLen });
  d.setAuthTag(ct.subarray(bodyLen));
  const body = d.update(ct.subarray(0, bodyLen));
  try {
    d.final();
  } catch {
    return null;
  }
  return body;
}

/** ChaCha20-Poly1305 seal through node:crypto with any 12-byte nonce: `ct` receives ciphertext ‖ tag. */
function nodeSealWithNonce(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array, ct: Uint8Array): void {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: AEAD_TAG });
  c.setAAD(ad, { plaintextLength: pt.length });
  ct.set(c.update(pt));
  c.final();
  ct.set(c.getAuthTag(), pt.length);
}

/** The node:crypto engine (also the reference the native one is tested against, with noble). */
export const nodeAead: Aead = {
  engine: 'node:crypto',
  open(key, counter, ad, ct, pt) {
    const body = nodeOpenWithNonce(key, nonceFor(counter), ad, ct);
    if (body === null) return false;
    pt.set(body);
    reclaim(body.length); // node:crypto's fresh buffer per block is garbage now
    return true;
  },
  seal(key, counter, ad, pt, ct) {
    nodeSealWithNonce(key, nonceFor(counter), ad, pt, ct);
    reclaim(pt.length);
  },
  async openBatch(key, counter, ad, ct, pt, blockLen, n) {
    const ctLen = blockLen + AEAD_TAG;
    for (let i = 0; i < n; i++) {
      if (!this.open(key, counter + i, ad, ct.subarray(i * ctLen, (i + 1) * ctLen), pt.subarray(i * blockLen))) return i;
    }
    return n;
  },
  async sealBatch(key, counter, ad, pt, ct, blockLen, n) {
    const ctLen = blockLen + AEAD_TAG;
    for (let i = 0; i < n; i++) this.seal(key, counter + i, ad, pt.subarray(i * blockLen, (i + 1) * blockLen), ct.subarray(i * ctLen));
  },
};

function nativeAead(mod: NativeModule): Aead {
  return {
    engine: 'native',
    open: (key, counter, ad, ct, pt) => mod.open(key, counter, ad, ct, pt),
    seal: (key, counter, ad, pt, ct) => mod.seal(key, counter, ad, pt, ct),
    openBatch: (key, counter, ad, ct, pt, blockLen, n) =>
      new Promise((resolve, reject) => mod.openBatch(key, counter, ad, ct, pt, blockLen, n, (err, done) => (err ? reject(err) : resolve(done)))),
    sealBatch: (key, counter, ad, pt, ct, blockLen, n) =>
      new Promise((resolve, reject) => mod.sealBatch(key, counter, ad, pt, ct, blockLen, n, (err) => (err ? reject(err) : resolve()))),
  };
}

let chosen: Aead | undefined;

let selfTestFailure = '';

/** The native engine must agree with node:crypto on one block both ways, or it is not used. */
function agreesWithNode(engine: Aead): boolean {
  const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
  const ad = new Uint8Array(32).map((_, i) => 255 - i);
  const pt = new Uint8Array(1000).map((_, i) => i & 0xff);
  const a = new Uint8Array(pt.length + AEAD_TAG);
  const b = new Uint8Array(pt.length + AEAD_TAG);
  const back = new Uint8Array(pt.length);
  try {
    engine.seal(key, 2 ** 33 + 5, ad, pt, a);
    nodeAead.seal(key, 2 ** 33 + 5, ad, pt, b);
    return Buffer.from(a).equals(Buffer.from(b)) && engine.open(key, 2 ** 33 + 5, ad, b, back) && Buffer.from(back).equals(Buffer.from(pt));
  } catch {
    return false;
  }
}

/** The fastest engine available (decided once per process). */
export function aead(): Aead {
  if (chosen) return chosen;
  const mod = nativeModule();
  chosen = nodeAead;
  if (mod) {
    const native = nativeAead(mod);
    if (agreesWithNode(native)) chosen = native;
    else selfTestFailure = 'the native addon disagrees with node:crypto on a test block (rebuild it: npm run build)';
  }
  return chosen;
}

/**
 * The engine for a few single blocks: the one chosen if aead() has run,
 * else node:crypto, without loading the addon (a small packet's one or two
 * blocks cost less than mapping it).
 */
export function aeadForFewBlocks(): Aead {
  return chosen ?? nodeAead;
}

/** Why the native engine is not in use ('' when it is). */
export function aeadFallbackReason(): string {
  aead();
  return selfTestFailure || nativeFallbackReason();
}

/**
 * One message with any 12-byte nonce (Noise's are little-endian), into one
 * new buffer: with the native engine no other allocation, no cipher object.
 */
export function chachaOpenWithNonce(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ct: Uint8Array): Uint8Array | null {
  const mod = aead().engine === 'native' ? nativeModule() : null;
  if (!mod) return nodeOpenWithNonce(key, nonce, ad, ct);
  if (ct.length < AEAD_TAG) return null;
  const pt = new Uint8Array(ct.length - AEAD_TAG);
  return mod.open(key, nonce, ad, ct, pt) ? pt : null;
}

/**
 * Open one message with any 12-byte nonce into `pt` (at least ct.length-16
 * bytes, not overlapping `ct`): false when the tag does not verify. With the
 * native engine nothing is allocated.
 */
export function chachaOpenInto(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, ct: Uint8Array, pt: Uint8Array): boolean {
  if (ct.length < AEAD_TAG || pt.length < ct.length - AEAD_TAG) return false;
  const mod = aead().engine === 'native' ? nativeModule() : null;
  if (mod) return mod.open(key, nonce, ad, ct, pt);
  const body = nodeOpenWithNonce(key, nonce, ad, ct);
  if (body === null) return false;
  pt.set(body);
  return true;
}

/** Seal one message with any 12-byte nonce into `ct` (at least pt.length+16 bytes, not overlapping `pt`): ciphertext ‖ tag. */
export function chachaSealInto(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array, ct: Uint8Array): void {
  if (ct.length < pt.length + AEAD_TAG) throw new RangeError(`ChaCha20-Poly1305: ${ct.length} bytes of room for a ${pt.length}-byte message and its tag`);
  const mod = aead().engine === 'native' ? nativeModule() : null;
  if (mod) mod.seal(key, nonce, ad, pt, ct);
  else nodeSealWithNonce(key, nonce, ad, pt, ct);
}

/** Seal one message with any 12-byte nonce: ciphertext ‖ tag in one new buffer. */
export function chachaSealWithNonce(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, pt: Uint8Array): Uint8Array {
  const out = new Uint8Array(pt.length + AEAD_TAG);
  chachaSealInto(key, nonce, ad, pt, out);
  return out;
}
