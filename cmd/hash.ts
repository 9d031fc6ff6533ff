/**
 * `pigeon hash` — nncp-hash: print the MTH of a file (or stdin) as lower-case
 * hex and a newline. `-seek N` hashes from N to the end, then the leaves
 * before N (the resumed-download path); the result is the same hash.
 * `-debug` prints the keys and every tree step in nncp-hash's format;
 * `-progress` draws a progress line on stderr (only with -file, as nncp-hash).
 * `-force-fat` reports the steps as the reference's in-memory MTHFat does.
 */
import type { Argv, CommandModule } from 'yargs';
import { formatMthEvent, MTH_LEAF_KEY, MTH_NODE_KEY, type MthEvent } from '../src/crypto/mth.js';
import { mthProgressLine, mthSum } from '../src/crypto/mthsum.js';
import { run } from './common.js';

interface HashArgs {
  file?: string;
  seek?: number;
  debug?: boolean;
  progress?: boolean;
  'force-fat'?: boolean;
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

async function hashMain(args: HashArgs): Promise<number> {
  const out = new LineSink();
  if (args.debug) {
    out.push(`Leaf BLAKE3 key: ${hex(MTH_LEAF_KEY)}`);
    out.push(`Node BLAKE3 key: ${hex(MTH_NODE_KEY)}`);
  }
  const sum = await mthSum({
    file: args.file,
    seek: args.seek,
    fat: args['force-fat'],
    onEvent: args.debug ? (e: MthEvent) => out.push(formatMthEvent(e)) : undefined,
    onProgress: args.progress && args.file ? mthProgressLine(args.file) : undefined,
  });
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
      .option('progress', { type: 'boolean', describe: 'Progress showing (with -file)' })
      .option('force-fat', { type: 'boolean', describe: 'Compute as the reference\'s MTHFat does: same hash; -debug lists every leaf, then each level' }) as Argv<HashArgs>,
  handler: (argv) => run('hash', () => hashMain(argv)),
};
