/**
 * The executable's fast start: the whole CLI as one CommonJS file
 * (dist/cmd/pigeon.bundle.cjs, made by scripts/bundle-cli.mjs from the
 * compiled ES modules) compiled from a V8 code cache (pigeon.bundle.cache)
 * instead of parsing and linking some hundred modules on every run. Node 20
 * has no module.enableCompileCache, so the cache is vm.Script's cachedData.
 *
 * The cache file is: a first line `pigeon-code-cache 1`, a second line of
 * JSON (see CacheHead), then the bytes V8 produced (one cache per section
 * the head names). The bundle is used only
 * when all of these hold, else runBundled() runs the caller's fallback (the
 * ES modules, imported as before):
 *   - both files exist and the cache names this bundle (the bundle's first
 *     line carries the same build id);
 *   - no input module (dist/ file or dependency) the bundle was made from
 *     is newer than the bundle or changed size (a `tsc` after the bundle
 *     makes it stale);
 *   - PIGEON_BUNDLE is not `0`.
 * A cache V8 rejects (another node or V8 flags) still runs the bundle, just
 * compiled from source.
 *
 * Training (PIGEON_CODE_CACHE_OUT=FILE): the run writes, at exit, the cache
 * V8 holds by then (every function the run compiled, plus those it got from
 * the cache it started with), so a build chains a few typical commands.
 */
import { closeSync, fstatSync, openSync, readSync, stat, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export const BUNDLE_FILE = 'pigeon.bundle.cjs';
export const CACHE_FILE = 'pigeon.bundle.cache';
const MAGIC = 'pigeon-code-cache 1';
/** The bundle's first line: `// pigeon-bundle ID`. */
export const BUNDLE_ID_PREFIX = '// pigeon-bundle ';

export interface CacheHead {
  /** The build id on the bundle's first line. */
  id: string;
  /** Inputs as [path relative to the bundle's directory, size]. */
  inputs: [string, number][];
  /**
   * The data after the head as caches trained on one command each, by
   * command (`*`: trained on all of them, for every other command), as
   * [offset from the data's start, length]: V8 deserialises all of a cache
   * it is given, and toss, file and stat start faster from their own (some
   * 3 ms). Absent (a training run's file): the data is one cache.
   */
  sections?: Record<string, [number, number]>;
}

/** The section a command's run compiles from. */
export const ANY_COMMAND = '*';

/** A cache file's head is read first, this much of the file at most, then only the section the run needs. */
const HEAD_MAX = 256 * 1024;

/** What the bundle exports. */
interface BundleExports {
  main(args: readonly string[]): Promise<void>;
}

/** Why the bundle is not used this run (undefined: it can be), for tests and PIGEON_BUNDLE_DEBUG. */
export let bundleSkipped: string | undefined;

/**
 * The bundle file's text: the id line, then the CommonJS code already inside
 * its module wrapper, so the launcher compiles the file's text as it is (a
 * wrapper added at run time would make V8 flatten a second copy of it).
 */
export function bundleText(id: string, code: string): string {
  return `${BUNDLE_ID_PREFIX}${id}\n(function (exports, require, module, __filename, __dirname) {${code}\n})`;
}

/**
 * `size` bytes of an open file from `position`, read into `buf` (which must be
 * large enough). Both files are read through one buffer: on a machine where
 * touching a fresh page costs some 20 µs, a second 600 KB buffer is 3 ms of a
 * 200 ms start.
 */
function readAt(fd: number, size: number, position: number, buf: Buffer): Buffer {
  let off = 0;
  while (off < size) {
    const n = readSync(fd, buf, off, size - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return buf.subarray(0, off);
}

/**
 * The cache file open as `fd` (`size` bytes), parsed: its head and the data
 * for `command` (its section, else the `*` one, else all of the data), read
 * into `buf` when it fits (else a new buffer); or a reason it is unusable.
 */
function readCache(file: string, fd: number, size: number, command: string, buf: Buffer): { head: CacheHead; data: Buffer } | string {
  const first = readAt(fd, Math.min(size, HEAD_MAX, buf.length), 0, buf);
  const a = first.indexOf(10);
  const b = a < 0 ? -1 : first.indexOf(10, a + 1);
  if (b < 0 || first.toString('latin1', 0, a) !== MAGIC) return `${file} is not a pigeon code cache`;
  let head: CacheHead;
  try {
    head = JSON.parse(first.toString('utf8', a + 1, b)) as CacheHead;
  } catch {
    return `${file} has a damaged head`;
  }
  const base = b + 1;
  const [off, len] = head.sections?.[command] ?? head.sections?.[ANY_COMMAND] ?? [0, size - base];
  if (off < 0 || len < 0 || base + off + len > size) return `${file} has a damaged head`;
  return { head, data: readAt(fd, len, base + off, len <= buf.length ? buf : Buffer.allocUnsafeSlow(len)) };
}

/**
 * Resolves to undefined when every input is as old as the bundle or older and
 * has its recorded size, else to one that is not. The stats run on libuv's
 * thread pool while this thread deserialises the code cache: some 170 of
 * them on this thread would add 3-4 ms to every start.
 */
function staleInput(dir: string, inputs: readonly [string, number][], bundleMtimeMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let left = inputs.length;
    let found: string | undefined;
    if (left === 0) resolve(undefined);
    for (const [rel, size] of inputs) {
      // No path.join: its normalising is most of this loop's cost, and the kernel resolves `..` as well.
      stat(`${dir}/${rel}`, (err, st) => {
        if (found === undefined && (err || st.size !== size || st.mtimeMs > bundleMtimeMs)) found = rel;
        if (--left === 0) resolve(found);
      });
    }
  });
}

/**
 * Run `pigeon ARGS…` from the bundle in `dir` if it is there and fresh, else
 * `fallback()` (the ES modules). The promise settles when main() does.
 */
export function runBundled(dir: string, args: readonly string[], fallback: () => Promise<void>): Promise<void> {
  const train = process.env.PIGEON_CODE_CACHE_OUT;
  if (process.env.PIGEON_BUNDLE === '0') return skip('PIGEON_BUNDLE=0', fallback);
  const bundlePath = path.join(dir, BUNDLE_FILE);
  const cachePath = path.join(dir, CACHE_FILE);
  const fds: number[] = [];
  let source: string;
  let mtimeMs: number;
  let cache: ReturnType<typeof readCache>;
  try {
    let fd: number;
    try {
      fds.push((fd = openSync(bundlePath, 'r')));
    } catch {
      return skip(`no ${bundlePath}`, fallback);
    }
    const bst = fstatSync(fd);
    mtimeMs = bst.mtimeMs;
    try {
      fds.push(openSync(cachePath, 'r'));
    } catch {
      return skip(`no ${cachePath}`, fallback);
    }
    const buf = Buffer.allocUnsafeSlow(bst.size);
    source = readAt(fd, bst.size, 0, buf).toString('latin1'); // ASCII (esbuild escapes the rest: charset ascii): a one-byte string, no UTF-8 decoding
    cache = readCache(cachePath, fds[1], fstatSync(fds[1]).size, args[0] ?? '', buf); // the same buffer: the source is a copy by now
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  if (typeof cache === 'string') return skip(cache, fallback);
  const head = cache.head;
  const firstLine = source.slice(0, source.indexOf('\n'));
  if (firstLine !== BUNDLE_ID_PREFIX + head.id) return skip('the cache was made for another bundle', fallback);
  const stale = staleInput(dir, head.inputs, mtimeMs);

  const script = new vm.Script(source, {
    filename: bundlePath,
    // A training run starts from the cache so far (first run: none).
    cachedData: cache.data.length > 0 ? cache.data : undefined,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  return stale.then((rel) => {
    if (rel) return skip(`${rel} is newer than the bundle`, fallback);
    if (process.env.PIGEON_BUNDLE_DEBUG) process.stderr.write(`pigeon: bundle ${bundlePath}, code cache ${script.cachedDataRejected === false ? 'used' : 'not used'}\n`);
    if (train) process.once('exit', () => writeCache(train, { id: head.id, inputs: head.inputs }, script.createCachedData()));
    const mod = { exports: {} as BundleExports };
    (script.runInThisContext() as (...a: unknown[]) => void).call(mod.exports, mod.exports, createRequire(bundlePath), mod, bundlePath, dir);
    return mod.exports.main(args);
  });
}

function skip(why: string, fallback: () => Promise<void>): Promise<void> {
  bundleSkipped = why;
  if (process.env.PIGEON_BUNDLE_DEBUG) process.stderr.write(`pigeon: not using the bundle: ${why}\n`);
  return fallback();
}

/** Write a cache file (the build's and training runs' way; plain write: the build renames it into place). */
export function writeCache(file: string, head: CacheHead, data: Uint8Array): void {
  writeFileSync(file, Buffer.concat([Buffer.from(`${MAGIC}\n${JSON.stringify(head)}\n`), data]));
}
