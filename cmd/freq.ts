/** pigeon freq: ask a neighbour for a file from its freq.path (nncp-freq). */
import type { CommandModule } from 'yargs';
import { makeContext, node } from '../src/context.js';
import { DEFAULT_NICE_FILE, DEFAULT_NICE_FREQ, formatNice, parseNice } from '../src/nice.js';
import { parseVia } from '../src/tx/route.js';
import { parseFreqTarget, txFreq } from '../src/tx/freq.js';
import { commonFlags, CommonArgs, kibFlag, run } from './common.js';

interface Args extends CommonArgs {
  target: string;
  dst?: string;
  nice: string;
  replynice: string;
  minsize: number;
  via?: string;
}

export const freqCommand: CommandModule<object, Args> = {
  command: 'freq <target> [dst]',
  describe: 'Request NODE:SRC from a neighbour\'s freq.path, to arrive as DST (default: SRC\'s last element)',
  builder: (y) =>
    commonFlags(y)
      .usage('$0 freq [flags] NODE:SRC [DST]')
      .positional('target', { type: 'string', demandOption: true, describe: 'NODE:SRC' })
      .positional('dst', { type: 'string', describe: 'Name in our incoming directory' })
      .option('nice', { type: 'string', default: formatNice(DEFAULT_NICE_FREQ), describe: 'Outbound packet niceness' })
      .option('replynice', { type: 'string', default: formatNice(DEFAULT_NICE_FILE), describe: 'Reply file packet niceness' })
      .option('minsize', { type: 'number', default: 0, describe: 'Minimal required resulting packet size, in KiB' })
      .option('via', { type: 'string', nargs: 1, describe: 'Override Via path to destination node ("-": direct)' }),
  handler: (argv) =>
    run('freq', async () => {
      const nice = parseNice(argv.nice, '-nice');
      const replyNice = parseNice(argv.replynice, '-replynice');
      const minKiB = kibFlag('minsize', argv.minsize, false);
      const { name, src, dst } = parseFreqTarget(String(argv.target), argv.dst !== undefined ? String(argv.dst) : undefined);
      const ctx = await makeContext({ ...argv, needSelf: true });
      await txFreq(ctx, {
        to: node(ctx, name),
        src,
        dst,
        nice,
        replyNice,
        minSize: minKiB * 1024,
        via: parseVia(ctx, argv.via),
      });
    }),
};
