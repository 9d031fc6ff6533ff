/** `pigeon check` (nncp-check): verify queued packets against their names; settle .nock files. */
import type { CommandModule } from 'yargs';
import { once } from 'node:events';
import { checkCycle, type CheckItem } from '../src/admin/check.js';
import { makeContext, node } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { commonFlags, type CommonArgs, run } from './common.js';

interface Args extends CommonArgs {
  node?: string;
  nock?: boolean;
  cycle?: number;
  json?: boolean;
}

async function writeLine(line: string): Promise<void> {
  if (!process.stdout.write(line + '\n')) await once(process.stdout, 'drain');
}

export const checkCommand: CommandModule<object, Args> = {
  command: 'check',
  describe: 'Verify Rx/Tx packets checksum',
  builder: (y) =>
    commonFlags(y)
      .option('node', { type: 'string', describe: 'Process only that node' })
      .option('nock', { type: 'boolean', describe: 'Process .nock files' })
      .option('cycle', { type: 'number', default: 0, describe: 'Repeat check after N seconds in infinite loop' })
      .option('json', { type: 'boolean', describe: 'One JSON object per checked file and line (fields: README "Output for scripts")' }),
  handler: (argv) =>
    run('check', async () => {
      const cycle = argv.cycle ?? 0;
      if (!Number.isInteger(cycle) || cycle < 0) throw new PigeonError('EUSAGE', `-cycle ${argv.cycle}: not a whole number of seconds`);
      const ctx = await makeContext(argv);
      const only = argv.node ? node(ctx, argv.node) : undefined;
      const onItem = argv.json ? (item: CheckItem) => writeLine(JSON.stringify(item)) : undefined;
      return (await checkCycle(ctx, { node: only, nock: argv.nock, onItem }, cycle)).ok ? 0 : 1;
    }),
};
