/** pigeon ack: acknowledge received packets (nncp-ack); new ACK packets are listed on fd 4. */
import type { CommandModule } from 'yargs';
import { makeContext } from '../src/context.js';
import { DEFAULT_NICE_FREQ, formatNice, parseNice } from '../src/nice.js';
import { ack, ackFdWriter } from '../src/tx/ack.js';
import { commonFlags, CommonArgs, kibFlag, run } from './common.js';

interface Args extends CommonArgs {
  all?: boolean;
  node?: string;
  pkt?: string;
  nice: string;
  minsize: number;
  via?: string;
}

export const ackCommand: CommandModule<object, Args> = {
  command: 'ack',
  describe: 'Send packet receipt acknowledgements: -all | -node NODE[,...] | -node NODE -pkt PKT',
  builder: (y) =>
    commonFlags(y)
      .option('all', { type: 'boolean', describe: 'ACK all rx packets for all nodes' })
      .option('node', { type: 'string', describe: 'ACK rx packets for that node (comma list)' })
      .option('pkt', { type: 'string', describe: 'ACK only that packet' })
      .option('nice', { type: 'string', default: formatNice(DEFAULT_NICE_FREQ), describe: 'Outbound packet niceness' })
      .option('minsize', { type: 'number', default: 0, describe: 'Minimal required resulting packet size, in KiB' })
      .option('via', { type: 'string', nargs: 1, describe: 'Override Via path to destination node (only with -pkt; ignored otherwise)' })
      .epilogue('The created ACK packets are listed as NODE/PKT lines on file descriptor 4 (e.g. 4>acks).'),
  handler: (argv) =>
    run('ack', async () => {
      const nice = parseNice(argv.nice, '-nice');
      const minSize = kibFlag('minsize', argv.minsize, false) * 1024;
      const ctx = await makeContext({ ...argv, needSelf: true });
      const ok = await ack(ctx, { all: argv.all, node: argv.node, pkt: argv.pkt, via: argv.via, nice, minSize, onCreated: ackFdWriter() });
      return ok ? 0 : 1;
    }),
};
