/**
 * Bounded memory for the bulk paths. node:crypto returns a fresh Buffer for
 * every sealed or opened 128 KiB block; their JS wrappers are tiny, so V8
 * only collects them after tens of megabytes of dead backing stores have
 * piled up (its external-memory soft limit is 64 MiB). A cheap minor
 * (young-generation) collection every few MiB keeps the garbage, and so the
 * peak RSS, small without measurable cost. If the runtime refuses to expose
 * gc, this quietly does nothing.
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

/** Count `n` bytes of short-lived buffers; collect the young generation every few MiB. */
export function reclaim(n: number): void {
  pending += n;
  if (pending < EVERY_BYTES) return;
  pending = 0;
  getGc()?.({ type: 'minor' });
}
