/**
 * `pigeon hash` — nncp-hash: print the MTH of a file (or stdin) as lower-case
 * hex and a newline. `-seek N` hashes from N to the end, then the leaves
 * before N (the resumed-download path); the result is the same hash.
 * `-debug` prints the keys and every tree step in nncp-hash's format;
 * `-progress` draws a progress line on stderr (only with -file, as nncp-hash).
 */
import { createReadStream, fstatSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { PigeonError } from '../src/errors.js';
import { formatMthEvent, MTH, MTH_LEAF_KEY, MTH_NODE_KEY, mthOfFile, type MthEvent, type MthProgress } from '../src/crypto/mth.js';
import { run } from './common.js';

interface HashArgs {
  file?: string;
  seek?: number;
  debug?: boolean;
  progress?: boolean;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Batches stdout lines: -debug emits two lines per 128 KiB leaf. */
class LineSink {
  private lines: string[] = [];
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length >= 4096) this.flush();
  }
  flush(): void {
    if (this.lines.length === 0) return;
    process.stdout.write(this.lines.join('\n') + '\n');
    this.lines = [];
  }
}

/** Sizes as nncp prints them (IEC units, one decimal below 10). */
export function humanIBytes(n: number): string {
  if (n < 10) return `${Math.max(0, Math.floor(n))} B`;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1024)), units.length - 1);
  const v = Math.floor((n / 1024 ** e) * 10 + 0.5) / 10;
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[e]}`;
}

/** nncp's progress line on stderr, redrawn in place at most every 100 ms. */
function progressLine(name: string): MthProgress {
  const what = name.length >= 52 ? `${name.slice(0, 16)}..${name.slice(-16)}` : name;
  let bar: { phase: string; started: number; initial: number; last: number } | undefined;
  return (phase, done, total) => {
    const now = Date.now();
    if (!bar || bar.phase !== phase) {
      bar = { phase, started: now, initial: done, last: 0 };
      process.stderr.write('\n');
    }
    const finished = total > 0 && done >= total;
    if (!finished && now - bar.last < 100) return;
    bar.last = now;
    const secs = (now - bar.started) / 1000 || 1;
    const pct = total > 0 ? Math.floor((100 * done) / total) : 100;
    const stamp = new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');
    process.stderr.write(
      `\x1b[1A\x1b[2K${stamp} ${phase} ${what} ${humanIBytes(done)}/${humanIBytes(total)} ${pct}% (${humanIBytes((done - bar.initial) / secs)}/sec)\n`,
    );
  };
}

async function stdinMth(onEvent?: (e: MthEvent) => void): Promise<Uint8Array> {
  const mth = new MTH({ onEvent });
  let isFile = false;
  try {
    isFile = fstatSync(0).isFile();
  } catch {
    /* no stdin: treat as empty stream below */
  }
  // A redirected regular file is read in big pieces; pipes and ttys go through process.stdin.
  const source: AsyncIterable<Uint8Array> = isFile
    ? createReadStream('', { fd: 0, autoClose: false, highWaterMark: 4 << 20 })
    : process.stdin;
  for await (const chunk of source) mth.update(chunk as Uint8Array);
  return mth.digest();
}

export async function hashMain(args: HashArgs): Promise<number> {
  const seek = args.seek ?? 0;
  if (!Number.isSafeInteger(seek) || seek < 0) {
    throw new PigeonError('EUSAGE', `-seek must be a non-negative byte offset, got ${String(args.seek)}`);
  }
  const file = args.file ?? '';
  if (seek !== 0 && file === '') throw new PigeonError('EUSAGE', '-seek needs -file (stdin cannot be rewound)');
  const out = new LineSink();
  const onEvent = args.debug ? (e: MthEvent) => out.push(formatMthEvent(e)) : undefined;
  if (args.debug) {
    out.push(`Leaf BLAKE3 key: ${hex(MTH_LEAF_KEY)}`);
    out.push(`Node BLAKE3 key: ${hex(MTH_NODE_KEY)}`);
  }
  const sum = file === ''
    ? await stdinMth(onEvent)
    : await mthOfFile(file, { seek, onEvent, onProgress: args.progress ? progressLine(file) : undefined });
  out.push(hex(sum));
  out.flush();
  return 0;
}

export const hashCommand: CommandModule<object, HashArgs> = {
  command: 'hash',
  describe: 'Calculate the MTH hash of a file or stdin (nncp-hash)',
  builder: (y: Argv<object>) =>
    y
      .option('file', { type: 'string', describe: 'Read the file instead of stdin' })
      .option('seek', { type: 'number', default: 0, describe: 'Hash from this offset to the end, then the beginning (needs -file)' })
      .option('debug', { type: 'boolean', describe: 'Print MTH steps calculations' })
      .option('progress', { type: 'boolean', describe: 'Progress showing (with -file)' }) as Argv<HashArgs>,
  handler: (argv) => run('hash', () => hashMain(argv)),
};
