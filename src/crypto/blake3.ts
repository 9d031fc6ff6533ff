/**
 * BLAKE3 primitives used by NNCP: plain 256-bit hash, keyed 256-bit hash,
 * derive-key, and a keyed XOF reader (the encrypted packet's pad stream).
 *
 * Two implementations sit behind one small interface:
 * - `native`: @napi-rs/blake-hash (Rust, SIMD), ~2 GiB/s on 128 KiB blocks.
 *   It has no XOF and returns only 32-byte outputs.
 * - `jit`: blake3-jit (pure JS with WASM SIMD), ~200 MiB/s, has a streaming XOF.
 *
 * The native binding ships prebuilt only for some platform/libc pairs; where
 * its `require` throws (other platforms, a missing optional package) we fall
 * back to blake3-jit so everything still works, only slower. XOF and
 * non-32-byte derive-key always go through blake3-jit. @noble/hashes is the
 * test oracle only (too slow for the data path).
 */
import { createRequire } from 'node:module';
import { createDeriveKey, createHasher, createKeyed, type Hasher as JitHasher, type XofReader } from 'blake3-jit';

const BLAKE3_KEY_LEN = 32;
const BLAKE3_OUT_LEN = 32;

/** An incremental 256-bit BLAKE3 hasher (plain or keyed), reusable after `reset()`. */
export interface Blake3Hasher256 {
  update(data: Uint8Array): void;
  /** The 32-byte digest of everything fed since creation or the last reset. */
  digest(): Uint8Array;
  reset(): void;
}

/** One BLAKE3 implementation. */
export interface Blake3Impl {
  readonly name: 'native' | 'jit';
  sum256(data: Uint8Array): Uint8Array;
  keyed256(key: Uint8Array, data: Uint8Array): Uint8Array;
  deriveKey256(context: string, material: Uint8Array): Uint8Array;
  newHasher(key?: Uint8Array): Blake3Hasher256;
}

// Shape of the parts of @napi-rs/blake-hash we use.
interface NativeHasher {
  update(input: Uint8Array): unknown;
  digestBuffer(): Buffer;
  reset(): void;
}
interface NativeModule {
  blake3(input: Uint8Array): Buffer;
  Blake3Hasher: {
    new (): NativeHasher;
    newKeyed(key: Buffer): NativeHasher;
    deriveKey(context: string, material: Uint8Array): Buffer;
  };
}

/** A plain Uint8Array over a Buffer's bytes (no copy), so `.slice()` copies as callers expect. */
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== BLAKE3_KEY_LEN) {
    throw new TypeError(`BLAKE3 key must be ${BLAKE3_KEY_LEN} bytes, got ${key instanceof Uint8Array ? key.length : typeof key}`);
  }
}

function makeNative(mod: NativeModule): Blake3Impl {
  const H = mod.Blake3Hasher;
  return {
    name: 'native',
    sum256: (data) => plain(mod.blake3(data)),
    keyed256: (key, data) => {
      const h = H.newKeyed(asBuffer(key));
      h.update(data);
      return plain(h.digestBuffer());
    },
    deriveKey256: (context, material) => plain(H.deriveKey(context, material)),
    newHasher: (key) => {
      const h = key === undefined ? new H() : H.newKeyed(asBuffer(key));
      return {
        update: (data) => { h.update(data); },
        digest: () => plain(h.digestBuffer()),
        reset: () => h.reset(),
      };
    },
  };
}

const jitImpl: Blake3Impl = {
  name: 'jit',
  sum256: (data) => createHasher().update(data).finalize(BLAKE3_OUT_LEN),
  keyed256: (key, data) => createKeyed(key).update(data).finalize(BLAKE3_OUT_LEN),
  deriveKey256: (context, material) => createDeriveKey(context).update(material).finalize(BLAKE3_OUT_LEN),
  newHasher: (key) => {
    const h: JitHasher = key === undefined ? createHasher() : createKeyed(key);
    return {
      update: (data) => { h.update(data); },
      digest: () => h.finalize(BLAKE3_OUT_LEN),
      reset: () => { h.reset(); },
    };
  },
};

/**
 * @napi-rs/blake-hash's own loader asks process.report.getReport() whether
 * libc is glibc or musl, which costs some 20M instructions at every start;
 * the platform's package is tried directly first (a musl build refuses to
 * load on glibc and the other way round), then that loader.
 */
function requireBlakeHash(): NativeModule {
  const req = createRequire(import.meta.url);
  if (process.platform === 'linux') {
    for (const libc of ['gnu', 'musl']) {
      try {
        return req(`@napi-rs/blake-hash-linux-${process.arch}-${libc}`) as NativeModule;
      } catch {
        // not installed, or not this libc
      }
    }
  }
  return req('@napi-rs/blake-hash') as NativeModule;
}

function loadNative(): Blake3Impl | undefined {
  if (process.env.PIGEON_BLAKE3 === 'jit') return undefined; // forced fallback (tests, debugging)
  try {
    const mod = requireBlakeHash();
    const impl = makeNative(mod);
    impl.sum256(new Uint8Array(1)); // a binding that loads but cannot run is no binding
    return impl;
  } catch {
    return undefined;
  }
}

/** The native binding is loaded at the first hash, not at import: a command that hashes nothing does not pay its dlopen. */
let impls: readonly Blake3Impl[] | undefined;
let inUse: Blake3Impl | undefined;

/** Every implementation available in this process, fastest first (tests compare them all). */
export function blake3Impls(): readonly Blake3Impl[] {
  if (!impls) {
    const nativeImpl = loadNative();
    impls = nativeImpl ? [nativeImpl, jitImpl] : [jitImpl];
  }
  return impls;
}

/** The implementation in use. */
export function blake3Impl(): Blake3Impl {
  return (inUse ??= blake3Impls()[0]);
}

/**
 * One-shot hashes of fewer bytes than this run on the JIT implementation
 * while the native one is not loaded yet, up to JIT_HASHES of them: mapping
 * the binding (some 5 ms) costs more than the JIT spends on a small
 * packet's few hashes, but not than it spends on a thousand packets'.
 */
const SMALL_ONE_SHOT = 64 * 1024;

/** Small hashes the JIT may take before the native implementation is loaded anyway (a toss of many small packets wants it). */
const JIT_HASHES = 64;
let jitHashes = 0;

/** The implementation for a one-shot hash of `len` bytes. */
function oneShotImpl(len: number): Blake3Impl {
  return len < SMALL_ONE_SHOT && inUse === undefined && ++jitHashes <= JIT_HASHES ? jitImpl : blake3Impl();
}

/** Plain BLAKE3, 32-byte output. */
export function blake3Sum256(data: Uint8Array): Uint8Array {
  return oneShotImpl(data.length).sum256(data);
}

/** Keyed BLAKE3 (32-byte key), 32-byte output. */
export function blake3Keyed256(key: Uint8Array, data: Uint8Array): Uint8Array {
  checkKey(key);
  return oneShotImpl(data.length).keyed256(key, data);
}

/**
 * BLAKE3 derive-key mode: `context` is encoded as UTF-8 (NNCP's contexts are
 * ASCII plus the magic's low bytes), `outLen` bytes of output.
 */
export function blake3DeriveKey(context: string, material: Uint8Array, outLen = BLAKE3_OUT_LEN): Uint8Array {
  if (!Number.isSafeInteger(outLen) || outLen < 1) throw new RangeError(`BLAKE3 derive-key: bad output length ${outLen}`);
  if (outLen === BLAKE3_OUT_LEN) return oneShotImpl(material.length).deriveKey256(context, material);
  // Not finalize(outLen): blake3-jit 1.1.0 gets outputs over 64 bytes wrong
  // for inputs over 1 KiB there; its XOF reader is right (spec/blake3.test.ts).
  return createDeriveKey(context).update(material).finalizeXof().read(outLen);
}

/**
 * A fresh incremental hasher (keyed when `key` is given) from the
 * implementation in use. While the native one is not loaded yet, the hasher
 * keeps copies of its first SMALL_ONE_SHOT bytes: a digest before then runs
 * on the JIT (a small packet's hashes never map the binding); more input
 * loads the native implementation and replays the copies into it.
 */
export function blake3Hasher(key?: Uint8Array): Blake3Hasher256 {
  if (key !== undefined) checkKey(key);
  if (inUse !== undefined || process.env.PIGEON_BLAKE3 === 'jit') return blake3Impl().newHasher(key);
  return new DeferredHasher(key);
}

/** Exported for tests; blake3Hasher() hands these out. */
export class DeferredHasher implements Blake3Hasher256 {
  private real: Blake3Hasher256 | undefined;
  private held: Uint8Array[] = [];
  private heldLen = 0;

  constructor(private readonly key: Uint8Array | undefined) {}

  update(data: Uint8Array): void {
    if (this.real) return this.real.update(data);
    if (this.heldLen + data.length < SMALL_ONE_SHOT) {
      this.held.push(new Uint8Array(data)); // a copy (Buffer#slice would not be one): callers reuse their buffers
      this.heldLen += data.length;
      return;
    }
    this.real = blake3Impl().newHasher(this.key);
    for (const b of this.held) this.real.update(b);
    this.held = [];
    this.real.update(data);
  }

  digest(): Uint8Array {
    if (this.real) return this.real.digest();
    const h = oneShotImpl(this.heldLen).newHasher(this.key);
    for (const b of this.held) h.update(b);
    return h.digest();
  }

  reset(): void {
    this.real?.reset();
    this.held = [];
    this.heldLen = 0;
  }
}

/**
 * Keyed BLAKE3 extendable output over `input` (empty by default), read as a
 * stream: successive `read(n)` calls return consecutive slices of one output.
 * NNCP's packet pad is this stream with key = derive-key("…PAD", shared) and
 * empty input (the output length given to the hasher does not change the XOF).
 */
export class Blake3Xof {
  private readonly reader: XofReader;
  constructor(key: Uint8Array, input: Uint8Array = new Uint8Array(0)) {
    checkKey(key);
    this.reader = createKeyed(key).update(input).finalizeXof();
  }
  /** The next `n` bytes of output. */
  read(n: number): Uint8Array {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`BLAKE3 XOF: bad read length ${n}`);
    if (n === 0) return new Uint8Array(0);
    return this.reader.read(n);
  }
}
