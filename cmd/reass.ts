/** pigeon reass: reassemble chunked files (nncp-reass). */
import { stat } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { findMetas, reassemble } from '../src/chunked/reass.js';
import { makeContext, node } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
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
      .option('stdout', { type: 'boolean', describe: 'Output reassembled FILE to stdout' })
      .epilogue('Exactly one of FILE, -node and -all must be given.'),
  handler: (argv) =>
    run('reass', async () => {
      const ctx = await makeContext(argv);
      const given = [argv.file !== undefined, Boolean(argv.node), Boolean(argv.all)].filter(Boolean).length;
      if (given !== 1) throw new PigeonError('EUSAGE', 'give exactly one of FILE.nncp.meta (or a directory), -node NODE and -all');
      const opts = { keep: argv.keep, dryRun: argv.dryrun, dump: argv.dump, stdout: argv.stdout ? process.stdout : undefined };
      let metas: string[];
      let ok = true;
      const scan = async (dir: string): Promise<string[]> => {
        const found = await findMetas(ctx, dir);
        if (found === null) ok = false;
        return found ?? [];
      };
      if (argv.file !== undefined) {
        const file = String(argv.file);
        const isDir = await stat(file).then((s) => s.isDirectory(), () => false);
        if (!isDir) return (await reassemble(ctx, file, opts)) ? 0 : 1;
        metas = await scan(file);
      } else if (argv.node) {
        const n = node(ctx, argv.node);
        if (!n.incoming) throw new PigeonError('EUSAGE', `-node ${argv.node}: ${n.name} has no incoming directory configured`);
        metas = await scan(n.incoming);
      } else {
        const dirs = new Set<string>();
        for (const n of ctx.cfg.neighbours.values()) if (n.incoming) dirs.add(n.incoming);
        metas = [];
        for (const d of dirs) metas.push(...(await scan(d)));
      }
      if (metas.length > 1 && opts.stdout) throw new PigeonError('EUSAGE', '-stdout takes a single FILE.nncp.meta');
      for (const m of metas) if (!(await reassemble(ctx, m, opts))) ok = false;
      return ok ? 0 : 1;
    }),
};
