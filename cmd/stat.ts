/** `pigeon stat` (nncp-stat): what waits in the spool, per node and niceness. */
import { once } from 'node:events';
import type { CommandModule } from 'yargs';
import { statusPage } from '../src/admin/html.js';
import { stat } from '../src/admin/stat.js';
import { spoolStatus } from '../src/admin/status.js';
import { PigeonError } from '../src/errors.js';
import { makeContext, node } from '../src/context.js';
import { commonFlags, type CommonArgs, run, writeStdout } from './common.js';

interface Args extends CommonArgs {
  node?: string;
  pkt?: boolean;
  json?: boolean;
  html?: boolean;
}

export const statCommand: CommandModule<object, Args> = {
  command: 'stat',
  describe: 'Show queued Rx/Tx stats',
  builder: (y) =>
    commonFlags(y)
      .option('node', { type: 'string', describe: 'Process only that node' })
      .option('pkt', { type: 'boolean', describe: 'Show packets listing' })
      .option('json', { type: 'boolean', describe: 'One JSON object per node and line (fields: README "Output for scripts")' })
      .option('html', { type: 'boolean', describe: 'A static HTML status page on stdout' }),
  handler: (argv) =>
    run('stat', async () => {
      const ctx = await makeContext(argv);
      const only = argv.node ? node(ctx, argv.node) : undefined;
      if (argv.json && argv.html) throw new PigeonError('EUSAGE', '-json and -html: pick one');
      if (argv.html) {
        const page = statusPage(await spoolStatus(ctx, { node: only }), { title: ctx.cfg.spool });
        if (!process.stdout.write(page)) await once(process.stdout, 'drain');
        return 0;
      }
      if (argv.json) {
        await spoolStatus(ctx, { node: only, pkt: argv.pkt }, async (s) => {
          if (!process.stdout.write(JSON.stringify(s) + '\n')) await once(process.stdout, 'drain');
        });
        return 0;
      }
      let pending: string[] = [];
      const flush = async (): Promise<void> => {
        if (pending.length === 0) return;
        const text = pending.join('\n') + '\n';
        pending = [];
        await writeStdout(text);
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
