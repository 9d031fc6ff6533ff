/** `pigeon carry DIR`: a medium's whole visit in one crash-safe, loss-proof run (no nncp-* counterpart). */
import type { CommandModule } from 'yargs';
import { makeContext, node } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { parseNice } from '../src/nice.js';
import { carry, carrySummary } from '../src/xfer/carry.js';
import { abortOnSignals, commonFlags, type CommonArgs, direction, run } from './common.js';

interface Args extends CommonArgs {
  dir?: string[];
  node?: string;
  nice?: string;
  rx?: boolean;
  tx?: boolean;
  notoss?: boolean;
  dryrun?: boolean;
}

export const carryCommand: CommandModule<object, Args> = {
  command: 'carry [dir..]',
  describe: 'Exchange packets with a medium (DIR/RECIPIENT/SENDER/PACKET): take in, ACK, toss, write out; keep ours until ACKed',
  builder: (y) =>
    commonFlags(y)
      .positional('dir', { type: 'string', array: true, describe: 'DIR: the medium\'s root directory' })
      .option('node', { type: 'string', describe: 'Only these nodes (comma list)' })
      .option('nice', { type: 'string', default: 'MAX', describe: 'Minimal required niceness' })
      .option('rx', { type: 'boolean', describe: 'Only take packets in (and toss, ACK)' })
      .option('tx', { type: 'boolean', describe: 'Only write packets out' })
      .option('notoss', { type: 'boolean', describe: 'Do not toss: ACK what was taken in, leave it in rx' })
      .option('dryrun', { type: 'boolean', describe: 'Only say what would be done' }),
  handler: (argv) =>
    run('carry', async () => {
      const args = argv.dir ?? [];
      if (args.length !== 1) throw new PigeonError('EUSAGE', 'usage: pigeon carry [options] DIR (exactly one directory: the medium\'s root)');
      const nice = parseNice(argv.nice ?? 'MAX', '-nice');
      direction(argv);
      const ctx = await makeContext({ ...argv, needSelf: true });
      const nodes = argv.node ? argv.node.split(',').map((n) => node(ctx, n)) : undefined;
      const res = await carry(ctx, { dir: String(args[0]), nodes, nice, rxOnly: argv.rx, txOnly: argv.tx, noToss: argv.notoss, dryRun: argv.dryrun, signal: abortOnSignals() });
      if (!argv.quiet) process.stdout.write(carrySummary(res) + '\n');
      return ctx.log.allWritten('carry') && res.ok ? 0 : 1;
    }),
};
