/**
 * The optional native addon (native/aead.c, built by `npm run build` into
 * build/pigeon_native.node): ChaCha20-Poly1305 into caller buffers and
 * batched writes, off the main thread. Everything that uses it has a
 * pure-Node fallback; PIGEON_NATIVE=0 forces the fallbacks.
 *
 * The file is checked before it is mapped: it must match the manifest the
 * build wrote next to it (build/pigeon_native.json: size, SHA-256,
 * platform, arch) and, on Linux, be an ELF shared object for this
 * machine. A truncated, replaced or foreign file would otherwise take the
 * process down when loaded (SIGBUS), not throw; refused, it is a reason
 * (nativeFallbackReason) and Pigeon runs on node:crypto.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeModule {
  /** `counter` is the block counter (big-endian nonce) or the 12-byte nonce itself. */
  open(key: Uint8Array, counter: number | Uint8Array, ad: Uint8Array, ct: Uint8Array, pt: Uint8Array): boolean;
  seal(key: Uint8Array, counter: number | Uint8Array, ad: Uint8Array, pt: Uint8Array, ct: Uint8Array): void;
  openBatch(key: Uint8Array, counter: number, ad: Uint8Array, ct: Uint8Array, pt: Uint8Array, blockLen: number, n: number, cb: (err: Error | undefined, n: number) => void): void;
  sealBatch(key: Uint8Array, counter: number, ad: Uint8Array, pt: Uint8Array, ct: Uint8Array, blockLen: number, n: number, cb: (err: Error | undefined) => void): void;
  /** With `writeback`, the disk starts writing the range once it is written (Linux), without waiting for it. */
  pwriteAll(fd: number, buf: Uint8Array, position: number, piece: number, writeback: boolean, cb: (errno: number, written: number) => void): void;
  /** A new name `dst` for the very file open as `fd` (Linux linkat); 0, or the errno. */
  linkFd(fd: number, dst: string): number;
  /** A close-on-exec pipe of about `size` bytes (Linux, best effort): [readFd, writeFd], or the errno. */
  pipe(size: number): [number, number] | number;
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

/** ELF e_machine of each Node arch we may meet. */
const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183, ia32: 3, arm: 40, riscv64: 243, ppc64: 21, s390x: 22, loong64: 258 };

/** Why the addon file at `p` must not be loaded, or null when it may. */
export function addonProblem(p: string): string | null {
  const mPath = path.join(path.dirname(p), 'pigeon_native.json');
  let m: { size?: unknown; sha256?: unknown; platform?: unknown; arch?: unknown };
  try {
    m = JSON.parse(readFileSync(mPath, 'utf8'));
  } catch {
    return `${mPath} is missing or unreadable, so the addon cannot be verified (rebuild: node scripts/build-native.mjs)`;
  }
  if (m.platform !== process.platform || m.arch !== process.arch) return `built for ${String(m.platform)}/${String(m.arch)}, this is ${process.platform}/${process.arch} (rebuild: node scripts/build-native.mjs)`;
  let data: Buffer;
  try {
    data = readFileSync(p);
  } catch (err) {
    return `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
  }
  if (data.length !== m.size) return `${data.length} bytes where the build wrote ${String(m.size)} (truncated or replaced; rebuild: node scripts/build-native.mjs)`;
  if (createHash('sha256').update(data).digest('hex') !== m.sha256) return 'its SHA-256 is not the one the build wrote (replaced or damaged; rebuild: node scripts/build-native.mjs)';
  if (process.platform === 'linux') {
    const elf = data.length >= 20 && data.readUInt32BE(0) === 0x7f454c46;
    if (!elf) return 'not an ELF shared object';
    const machine = data[5] === 1 ? data.readUInt16LE(18) : data.readUInt16BE(18);
    const want = ELF_MACHINE[process.arch];
    if (want !== undefined && machine !== want) return `an ELF file for machine ${machine}, not for ${process.arch} (rebuild: node scripts/build-native.mjs)`;
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
  const problem = addonProblem(p);
  if (problem !== null) {
    whyNot = `${p}: ${problem}`;
    return loaded;
  }
  try {
    loaded = createRequire(import.meta.url)(p) as NativeModule;
  } catch (err) {
    whyNot = `${p}: ${(err as Error).message.split('\n')[0]}`;
  }
  return loaded;
}

/** Where the addon is loaded from ('' when it is not in use). */
export function nativeAddonFile(): string {
  return nativeModule() ? nativeAddonPath() ?? '' : '';
}

/** Why the addon is not in use ('' when it is). */
export function nativeFallbackReason(): string {
  nativeModule();
  return whyNot;
}
