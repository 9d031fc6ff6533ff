/** pigeon file: send a file, stdin or a directory to a neighbour (nncp-file). */
import type { CommandModule } from 'yargs';
import { makeContext } from '../src/context.js';
import { DEFAULT_NICE_FILE, formatNice, parseNice } from '../src/nice.js';
import { recipient } from '../src/tx/area.js';
import { parseFileTarget, txFile } from '../src/tx/file.js';
import { parseVia } from '../src/tx/route.js';
import { commonFlags, CommonArgs, kibFlag, run } from './common.js';

interface Args extends CommonArgs {
  src: string;
  target: string;
  nice: string;
  minsize: number;
  maxsize: number;
  chunked: number;
  via?: string;
}

/** yargs turns a lone "-" positional into "": recover it from the raw arguments. */
function srcArg(v: unknown): string {
  const s = String(v ?? '');
  if (s === '' && process.argv.slice(2).includes('-')) return '-';
  return s;
}

export const fileCommand: CommandModule<object, Args> = {
  command: 'file <src> <target>',
  describe: 'Send a file (SRC, "-" for stdin, or a directory as a pax archive) to NODE:[DST] or area:AREA:[DST]',
  builder: (y) =>
    commonFlags(y)
      .usage('$0 file [flags] SRC NODE:[DST]')
      .usage('$0 file [flags] SRC area:AREA:[DST]')
      .positional('src', { type: 'string', demandOption: true, describe: 'File, directory, or "-" for stdin' })
      .positional('target', { type: 'string', demandOption: true, describe: 'NODE:[DST] or area:AREA:[DST]' })
      .option('nice', { type: 'string', default: formatNice(DEFAULT_NICE_FILE), describe: 'Outbound packet niceness' })
      .option('minsize', { type: 'number', default: -1, describe: 'Minimal required resulting packet size, in KiB (-1: the node\'s freq.minsize)' })
      .option('maxsize', { type: 'number', default: 0, describe: 'Maximal allowable resulting packets size, in KiB (0: no limit)' })
      .option('chunked', { type: 'number', default: -1, describe: 'Split file on specified size chunks, in KiB (-1: the node\'s freq.chunked, 0: whole)' })
      .option('via', { type: 'string', nargs: 1, describe: 'Override Via path to destination node ("-": direct)' })
      .epilogue('-minsize/-chunked take NODE\'s freq.minsize/freq.chunked by default; 0 turns them off.'),
  handler: (argv) =>
    run('file', async () => {
      const nice = parseNice(argv.nice, '-nice');
      const minKiB = kibFlag('minsize', argv.minsize, true);
      const maxKiB = kibFlag('maxsize', argv.maxsize, false);
      const chunkKiB = kibFlag('chunked', argv.chunked, true);
      const { name, dst } = parseFileTarget(String(argv.target));
      const ctx = await makeContext({ ...argv, needSelf: true });
      const { to, area } = recipient(ctx, name);
      await txFile(ctx, {
        to,
        area,
        src: srcArg(argv.src),
        dst,
        nice,
        minSize: minKiB < 0 ? to.freq.minSize ?? 0 : minKiB * 1024,
        maxSize: maxKiB > 0 ? maxKiB * 1024 : undefined,
        chunked: chunkKiB < 0 ? to.freq.chunked ?? 0 : chunkKiB * 1024,
        via: parseVia(ctx, argv.via),
      });
    }),
};
