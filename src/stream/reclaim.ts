/**
 * Bounded memory for the paths that make a fresh buffer per piece (online
 * frames and their Noise messages, stdin chunks): their JS wrappers are
 * tiny, so V8 only collects them after tens of megabytes of dead backing
 * stores have piled up (its external-memory trigger is 64 MiB). Collecting
 * every few MiB keeps the garbage, and so the peak RSS, small. If the
 * runtime refuses to expose gc, this quietly does nothing.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (opts?: { type?: 'minor' | 'major' }) => void;

let gc: Gc | null | undefined;

function getGc(): Gc | null {
  if (gc !== undefined) return gc;
  try {
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
  pendingFrames += n;
  if (pendingFrames < EVERY_BYTES) return;
  pendingFrames = 0;
  const gc = getGc();
  if (!gc) return;
  if (++frameCollections % 4 === 0) gc();
  else gc({ type: 'minor' });
}
