/**
 * The optional native addon (native/aead.c, built by `npm run build` into
 * build/pigeon_native.node): ChaCha20-Poly1305 into caller buffers and
 * batched writes, off the main thread. Everything that uses it has a
 * pure-Node fallback; PIGEON_NATIVE=0 forces the fallbacks.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeModule {
  /** `counter` is the block counter (big-endian nonce) or the 12-byte nonce itself. */
  open(key: Uint8Array, counter: number | Uint8Array, ad: Uint8Array, ct: Uint8Array, pt: Uint8Array): boolean;
  seal(key: Uint8Array, counter: number | Uint8Array, ad: Uint8Array, pt: Uint8Array, ct: Uint8Array): void;
  openBatch(key: Uint8Array, counter: number, ad: Uint8Array, ct: Uint8Array, pt: Uint8Array, blockLen: number, n: number, cb: (err: Error | undefined, n: number) => void): void;
  sealBatch(key: Uint8Array, counter: number, ad: Uint8Array, pt: Uint8Array, ct: Uint8Array, blockLen: number, n: number, cb: (err: Error | undefined) => void): void;
  pwriteAll(fd: number, buf: Uint8Array, position: number, piece: number, cb: (errno: number, written: number) => void): void;
}

/** Where the addon is, from dist/src (built layout) or src. */
function nativeAddonPath(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '..']) {
    const p = path.resolve(here, up, 'build', 'pigeon_native.node');
    if (existsSync(p)) return p;
  }
  return null;
}

let loaded: NativeModule | null | undefined;
let whyNot = '';

/** The addon, or null (see nativeFallbackReason). Loaded once per process. */
export function nativeModule(): NativeModule | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env.PIGEON_NATIVE === '0') {
    whyNot = 'PIGEON_NATIVE=0';
    return loaded;
  }
  const p = nativeAddonPath();
  if (p === null) {
    whyNot = 'build/pigeon_native.node is missing (npm run build makes it)';
    return loaded;
  }
  try {
    loaded = createRequire(import.meta.url)(p) as NativeModule;
  } catch (err) {
    whyNot = `${p}: ${(err as Error).message.split('\n')[0]}`;
  }
  return loaded;
}

/** Why the addon is not in use ('' when it is). */
export function nativeFallbackReason(): string {
  nativeModule();
  return whyNot;
}
