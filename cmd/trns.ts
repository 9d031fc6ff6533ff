/** pigeon trns: wrap an existing encrypted packet in transit packets (nncp-trns). */
import type { CommandModule } from 'yargs';
import { makeContext } from '../src/context.js';
import { DEFAULT_NICE_FILE, formatNice, parseNice } from '../src/nice.js';
import { parseVia } from '../src/tx/route.js';
import { trnsPacketPath, txTrns } from '../src/tx/trns.js';
import { commonFlags, CommonArgs, run } from './common.js';

interface Args extends CommonArgs {
  pkt: string;
  nice: string;
  via?: string;
}

export const trnsCommand: CommandModule<object, Args> = {
  command: 'trns <pkt>',
  describe: 'Transit an existing encrypted packet (NODE:PKT in the spool\'s tx queue, or /path/to/PKT) -via NODEx[,...]',
  builder: (y) =>
    commonFlags(y)
      .positional('pkt', { type: 'string', demandOption: true, describe: 'NODE:PKT or a path' })
      .option('nice', { type: 'string', default: formatNice(DEFAULT_NICE_FILE), describe: 'Outbound packet niceness' })
      .option('via', { type: 'string', nargs: 1, describe: 'Relays, first hop first (default: the recipient\'s via)' }),
  handler: (argv) =>
    run('trns', async () => {
      const nice = parseNice(argv.nice, '-nice');
      const ctx = await makeContext({ ...argv, needSelf: true });
      await txTrns(ctx, { pktPath: await trnsPacketPath(ctx, String(argv.pkt)), via: parseVia(ctx, argv.via), nice });
    }),
};
