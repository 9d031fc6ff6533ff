/** `pigeon stat` (nncp-stat): what waits in the spool, per node and niceness. */
import { once } from 'node:events';
import type { CommandModule } from 'yargs';
import { stat } from '../src/admin/stat.js';
import { makeContext, node } from '../src/context.js';
import { commonFlags, type CommonArgs, run } from './common.js';

interface Args extends CommonArgs {
  node?: string;
  pkt?: boolean;
}

export const statCommand: CommandModule<object, Args> = {
  command: 'stat',
  describe: 'Show queued Rx/Tx stats',
  builder: (y) =>
    commonFlags(y)
      .option('node', { type: 'string', describe: 'Process only that node' })
      .option('pkt', { type: 'boolean', describe: 'Show packets listing' }),
  handler: (argv) =>
    run('stat', async () => {
      const ctx = await makeContext(argv);
      const only = argv.node ? node(ctx, argv.node) : undefined;
      let pending: string[] = [];
      const flush = async (): Promise<void> => {
        if (pending.length === 0) return;
        const text = pending.join('\n') + '\n';
        pending = [];
        if (!process.stdout.write(text)) await once(process.stdout, 'drain');
      };
      await stat(ctx, {
        node: only,
        pkt: argv.pkt,
        out: async (line) => {
          pending.push(line);
          if (pending.length >= 1024) await flush();
        },
      });
      await flush();
      return 0;
    }),
};
