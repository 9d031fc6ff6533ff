/** pigeon reass: reassemble chunked files (nncp-reass). */
import type { CommandModule } from 'yargs';
import { reassTarget } from '../src/chunked/reass.js';
import { makeContext } from '../src/context.js';
import { commonFlags, CommonArgs, run } from './common.js';

interface Args extends CommonArgs {
  file?: string;
  all?: boolean;
  node?: string;
  keep?: boolean;
  dryrun?: boolean;
  dump?: boolean;
  stdout?: boolean;
}

export const reassCommand: CommandModule<object, Args> = {
  command: 'reass [file]',
  describe: 'Reassemble chunked files: FILE.nncp.meta, every .nncp.meta in a DIR, or in the incoming dirs of -node NODE / -all',
  builder: (y) =>
    commonFlags(y)
      .positional('file', { type: 'string', describe: 'FILE.nncp.meta, or a directory holding them' })
      .option('all', { type: 'boolean', describe: 'Process all found chunked files for all nodes' })
      .option('node', { type: 'string', describe: 'Process all found chunked files for that node' })
      .option('keep', { type: 'boolean', describe: 'Do not remove chunks while assembling' })
      .option('dryrun', { type: 'boolean', describe: 'Do not assemble whole file' })
      .option('dump', { type: 'boolean', describe: 'Print decoded human-readable FILE.nncp.meta' })
      .option('stdout', { type: 'boolean', describe: 'Output reassembled FILE to stdout (with -all or -node: ignored, as by nncp-reass)' })
      .epilogue('Exactly one of FILE, -node and -all must be given.'),
  handler: (argv) =>
    run('reass', async () => {
      const ctx = await makeContext(argv);
      // As nncp-reass: -stdout is for one FILE; with -all or -node the files are reassembled in place.
      const inPlace = argv.stdout && (argv.all || argv.node !== undefined);
      if (inPlace) process.stderr.write(`pigeon reass: warning: -stdout is for one FILE.nncp.meta; with ${argv.all ? '-all' : '-node'} the files are reassembled beside their chunks (as nncp-reass does), nothing goes to stdout\n`);
      const opts = { keep: argv.keep, dryRun: argv.dryrun, dump: argv.dump, stdout: argv.stdout && !inPlace ? process.stdout : undefined };
      const target = { file: argv.file !== undefined ? String(argv.file) : undefined, node: argv.node, all: argv.all };
      return (await reassTarget(ctx, target, opts)) ? 0 : 1;
    }),
};
