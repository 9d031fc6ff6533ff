/**
 * What nncp-hash computes: the MTH of a file (optionally from an offset,
 * then the leaves before it, as a resumed download does) or of standard
 * input, with the reference's -debug events and -progress line.
 */
import { PigeonError } from '../errors.js';
import { iBytes, shortId } from '../format.js';
import { readStdin } from '../stream/stdin.js';
import { bytesEqual } from '../codec/bytes.js';
import { leafCollector, mthFatTrace, mthOfFile, mthOfStream, type MthEvent, type MthProgress } from './mth.js';

export interface MthSumOptions {
  /** The file to hash; "" or undefined: `input` (default: standard input). */
  file?: string;
  /** Hash from this offset to the end, then the beginning (needs `file`). */
  seek?: number;
  /** Every tree step (nncp-hash -debug). */
  onEvent?: (e: MthEvent) => void;
  /** Progress of a file's hashing (nncp-hash -progress). */
  onProgress?: MthProgress;
  /**
   * Report the steps as the reference's MTHFat does (nncp-hash -force-fat):
   * all leaves, then the tree level by level, in data order whatever `seek`.
   */
  fat?: boolean;
  /** What to hash without `file`. */
  input?: AsyncIterable<Uint8Array>;
}

/** The MTH root of a file or of stdin, as nncp-hash prints it (before hex). */
export async function mthSum(o: MthSumOptions): Promise<Uint8Array> {
  const seek = o.seek ?? 0;
  if (!Number.isSafeInteger(seek) || seek < 0) {
    throw new PigeonError('EUSAGE', `-seek must be a non-negative byte offset, got ${String(o.seek)}`);
  }
  const file = o.file ?? '';
  if (seek !== 0 && file === '') throw new PigeonError('EUSAGE', '-seek needs -file (stdin cannot be rewound)');
  if (o.fat && o.onEvent) {
    const leaves = leafCollector();
    const root = await mthSum({ ...o, fat: false, seek: 0, onEvent: leaves.onEvent }); // MTHFat reads in order: -seek changes nothing
    const fatRoot = mthFatTrace(leaves.leaves(), o.onEvent);
    if (!bytesEqual(root, fatRoot)) throw new Error('MTH: the fat tree disagrees with the streamed one');
    return root;
  }
  if (file === '') return mthOfStream(o.input ?? readStdin(), { onEvent: o.onEvent });
  return mthOfFile(file, { seek, onEvent: o.onEvent, onProgress: o.onProgress });
}

/**
 * nncp-hash's progress line for `name`, redrawn in place on `out` at most
 * every 100 ms; a new line for each phase (hash, then prehash).
 */
export function mthProgressLine(name: string, out: { write(s: string): unknown } = process.stderr): MthProgress {
  const what = shortId(name);
  let bar: { phase: string; started: number; initial: number; last: number } | undefined;
  return (phase, done, total) => {
    const now = Date.now();
    if (!bar || bar.phase !== phase) {
      bar = { phase, started: now, initial: done, last: 0 };
      out.write('\n');
    }
    const finished = total > 0 && done >= total;
    if (!finished && now - bar.last < 100) return;
    bar.last = now;
    const secs = (now - bar.started) / 1000 || 1;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    const stamp = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    const rate = iBytes(Math.max(0, Math.floor((done - bar.initial) / secs)));
    out.write(`\x1b[1A\x1b[2K${stamp} ${phase} ${what} ${iBytes(done)}/${iBytes(total)} ${pct}% (${rate}/sec)\n`);
  };
}
