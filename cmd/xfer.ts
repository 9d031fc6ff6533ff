/** `pigeon xfer` (nncp-xfer): carry packets through a directory (USB stick, shared folder). */
import type { CommandModule } from 'yargs';
import { makeContext, node } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { parseNice } from '../src/nice.js';
import { xfer } from '../src/xfer/xfer.js';
import { abortOnSignals, commonFlags, type CommonArgs, direction, run } from './common.js';

interface Args extends CommonArgs {
  dir?: string[];
  node?: string;
  nice?: string;
  rx?: boolean;
  tx?: boolean;
  mkdir?: boolean;
  keep?: boolean;
  watch?: boolean;
}

export const xferCommand: CommandModule<object, Args> = {
  command: 'xfer [dir..]',
  describe: 'Copy inbound and outbound packets to/from a directory (DIR/RECIPIENT/SENDER/PACKET)',
  builder: (y) =>
    commonFlags(y)
      .usage('$0 xfer [flags] DIR')
      .positional('dir', { type: 'string', array: true, describe: 'DIR: the medium\'s root directory' })
      .option('node', { type: 'string', describe: 'Process only that node' })
      .option('nice', { type: 'string', default: 'MAX', describe: 'Minimal required niceness' })
      .option('rx', { type: 'boolean', describe: 'Only receive packets' })
      .option('tx', { type: 'boolean', describe: 'Only transfer packets' })
      .option('mkdir', { type: 'boolean', describe: 'Create necessary outbound directories' })
      .option('keep', { type: 'boolean', describe: 'Do not delete transferred packets (then always copied: without -keep, a DIR on the spool\'s filesystem gets packets by hard link, see README)' })
      .option('watch', { type: 'boolean', describe: 'Keep running: import packets as they appear in DIR, export packets as they are queued' }),
  handler: (argv) =>
    run('xfer', async () => {
      const args = argv.dir ?? [];
      if (args.length !== 1) throw new PigeonError('EUSAGE', 'usage: pigeon xfer [options] DIR (exactly one directory)');
      const nice = parseNice(argv.nice ?? 'MAX', '-nice');
      direction(argv);
      const ctx = await makeContext({ ...argv, needSelf: true });
      const only = argv.node ? node(ctx, argv.node) : undefined;
      if (argv.watch) {
        const signal = abortOnSignals();
        const [rx, tx] = [!argv.tx, !argv.rx];
        // Loaded only here: chokidar is not part of a plain xfer's start-up.
        const { xferWatch } = await import('../src/xfer/watch.js');
        await xferWatch(ctx, { dir: String(args[0]), node: only, nice, mkdir: argv.mkdir, keep: argv.keep, rx, tx, signal });
        return ctx.log.allWritten('xfer') ? 0 : 1;
      }
      const res = await xfer(ctx, {
        dir: String(args[0]),
        node: only,
        nice,
        mkdir: argv.mkdir,
        keep: argv.keep,
        rxOnly: argv.rx,
        txOnly: argv.tx,
      });
      // Exit codes stay the reference's (0 for a DIR that does not exist): the line says what was found and what to do.
      if (!argv.quiet || !res.ok) for (const n of res.notes) process.stderr.write(`pigeon xfer: ${n}\n`);
      // Exit 1 when something failed, or when a record of what was carried could not be logged.
      return ctx.log.allWritten('xfer') && res.ok ? 0 : 1;
    }),
};
