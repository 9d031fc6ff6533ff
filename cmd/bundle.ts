/** `pigeon bundle` (nncp-bundle): write queued packets to stdout as a tar stream (-tx), or take them from one on stdin (-rx). */
import type { CommandModule } from 'yargs';
import { makeContext, node } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { parseNice } from '../src/nice.js';
import { readStdin } from '../src/stream/stdin.js';
import { bundleRx, bundleTx } from '../src/xfer/bundle.js';
import { commonFlags, type CommonArgs, direction, run } from './common.js';

interface Args extends CommonArgs {
  nodes?: string[];
  nice?: string;
  rx?: boolean;
  tx?: boolean;
  delete?: boolean;
  check?: boolean;
  dryrun?: boolean;
}

export const bundleCommand: CommandModule<object, Args> = {
  command: 'bundle [nodes..]',
  describe: 'Create (-tx NODE... > stream) or digest (-rx < stream) a tar stream of encrypted packets, for tapes, CDs and pipes',
  builder: (y) =>
    commonFlags(y)
      .positional('nodes', { type: 'string', array: true, describe: '-tx: whose packets to write; -rx: only packets from these senders (default: all for us)' })
      .option('nice', { type: 'string', default: 'MAX', describe: 'Minimal required niceness' })
      .option('rx', { type: 'boolean', describe: 'Receive packets (stream on stdin)' })
      .option('tx', { type: 'boolean', describe: 'Transfer packets (stream on stdout)' })
      .option('delete', { type: 'boolean', describe: 'Delete transferred packets (-rx: our own packets found intact in the stream)' })
      .option('check', { type: 'boolean', describe: 'Check integrity while receiving (always done when writing to the spool)' })
      .option('dryrun', { type: 'boolean', describe: 'Do no writes' }),
  handler: (argv) =>
    run('bundle', async () => {
      const nice = parseNice(argv.nice ?? 'MAX', '-nice');
      direction(argv);
      if (!argv.rx && !argv.tx) throw new PigeonError('EUSAGE', 'at least one of -rx and -tx must be specified: -tx NODE... > STREAM, or -rx < STREAM');
      const ctx = await makeContext({ ...argv, needSelf: true });
      const nodes = (argv.nodes ?? []).map((n) => node(ctx, String(n)));
      if (argv.tx) {
        if (nodes.length === 0) {
          process.stderr.write('pigeon bundle: -tx without NODE: nothing written; name the nodes whose packets go into the stream\n');
          return 0;
        }
        if (process.stdout.isTTY) throw new PigeonError('EUSAGE', '-tx writes a binary stream: redirect stdout to a file, a pipe or a tape');
        const res = await bundleTx(ctx, { nodes, nice, delete: argv.delete, out: process.stdout });
        return ctx.log.allWritten('bundle') && res.ok ? 0 : 1;
      }
      if (process.stdin.isTTY) throw new PigeonError('EUSAGE', '-rx reads a binary stream: redirect stdin from a file, a pipe or a tape');
      const res = await bundleRx(ctx, { nodes, nice, delete: argv.delete, check: argv.check, dryRun: argv.dryrun, input: readStdin() });
      return ctx.log.allWritten('bundle') && res.ok ? 0 : 1;
    }),
};
