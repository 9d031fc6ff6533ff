/**
 * Forced young-generation collections for the paths that make a fresh
 * buffer per piece (online frames and their Noise messages, stdin chunks,
 * the node:crypto engine's blocks): their JS wrappers are tiny, so V8 only
 * collects them after tens of megabytes of dead backing stores have piled
 * up (its external-memory trigger is 64 MiB). Collecting every few MiB
 * keeps the garbage, and so the peak RSS, small.
 *
 * Off unless switched on: importing Pigeon never touches V8's flags. The
 * `pigeon` executable calls enableReclaim() at start; a library user who
 * wants the same memory profile (peak RSS per online session ~90 MB rather
 * than ~140 MB, stdin streams a few MiB rather than up to ~64 MiB of
 * garbage) calls it once too. Without it, reclaim() and reclaimFrames() are
 * a comparison each and the bytes produced are the same; memory stays
 * bounded by V8's own trigger. The first collection after enableReclaim()
 * sets V8's --expose_gc flag for the whole process (gc itself is fetched
 * from a fresh context, so globalThis.gc stays undefined). If the runtime
 * refuses, this quietly does nothing.
 */
import { createRequire } from 'node:module';
import vm from 'node:vm';

type Gc = (opts?: { type?: 'minor' | 'major' }) => void;

let enabled = false;
let youngLimit = false;
let youngLimited = false;
let gc: Gc | null | undefined;

/**
 * Let reclaim() and reclaimFrames() force collections from now on (for
 * the whole process). Cheap: the V8 flag is set at the first collection.
 * With `youngGenerationLimit`, manyPackets() may also set a V8 flag.
 */
export function enableReclaim(opts: { youngGenerationLimit?: boolean } = {}): void {
  enabled = true;
  youngLimit = opts.youngGenerationLimit ?? false;
}

/**
 * Said by a run about to handle many packets (a toss with a full queue, a
 * session, xfer, carry): from now on V8's young generation stays at its
 * first size instead of doubling up to 16 MiB a semi-space. That run's
 * garbage is mostly short-lived buffers and records, and every page of a
 * grown semi-space is a fresh page to fault in (some 10-20 µs each on these
 * machines). Measured on a toss of 1,000 small packets: 19k page faults and
 * 97 MB peak RSS become 13k and 75 MB. Said here rather than at start:
 * loading node:v8 costs some 4 ms (it brings the stream stack along), which
 * a run with a packet or two should not pay. Does nothing unless
 * enableReclaim() allowed it: the executable does, except when training its
 * code cache (the cache V8 writes carries the flags it was made under).
 */
export function manyPackets(): void {
  if (!youngLimit || youngLimited) return;
  youngLimited = true;
  try {
    (createRequire(import.meta.url)('node:v8') as typeof import('node:v8')).setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // a runtime that refuses: the young generation grows as V8 likes
  }
}

function getGc(): Gc | null {
  if (gc !== undefined) return gc;
  try {
    // node:v8 loaded at the first collection, not at start-up (it brings streams and heap utilities along).
    const v8 = createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
    v8.setFlagsFromString('--expose_gc');
    gc = vm.runInNewContext('gc') as Gc;
  } catch {
    gc = null;
  }
  return gc;
}

const EVERY_BYTES = 8 << 20;
let pending = 0;
let pendingFrames = 0;
let frameCollections = 0;

/** Count `n` bytes of short-lived buffers; collect the young generation every few MiB. */
export function reclaim(n: number): void {
  if (!enabled) return;
  pending += n;
  if (pending < EVERY_BYTES) return;
  pending = 0;
  getGc()?.({ type: 'minor' });
}

/**
 * The same for buffers that may outlive two young collections (online
 * frames waiting in a socket's queue): those move to the old generation,
 * where nothing but a full collection or V8's 64 MiB external-memory
 * trigger frees them. So every fourth collection here is a full one (a few
 * ms on this small heap); measured on an online session, peak RSS per end
 * went from ~140 MB to ~90 MB. (`gc()` without options is the full one;
 * `{ type: 'major' }` did not free them here.)
 */
export function reclaimFrames(n: number): void {
  if (!enabled) return;
  pendingFrames += n;
  if (pendingFrames < EVERY_BYTES) return;
  pendingFrames = 0;
  const gc = getGc();
  if (!gc) return;
  if (++frameCollections % 4 === 0) gc();
  else gc({ type: 'minor' });
}
