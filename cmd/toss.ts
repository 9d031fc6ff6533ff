/** pigeon toss: process inbound packets (nncp-toss). */
import type { CommandModule } from 'yargs';
import { makeContext, node } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { parseNice } from '../src/nice.js';
import { missingSpoolNote, tossAll, tossCycle, type TossOptions } from '../src/toss/toss.js';
import { abortOnSignals, commonFlags, CommonArgs, run } from './common.js';

interface Args extends CommonArgs {
  node?: string;
  nice: string;
  dryrun?: boolean;
  seen?: boolean;
  cycle: number;
  nofile?: boolean;
  nofreq?: boolean;
  noexec?: boolean;
  notrns?: boolean;
  noarea?: boolean;
  noack?: boolean;
  watch?: boolean;
  'gen-ack'?: boolean;
}

export const tossCommand: CommandModule<object, Args> = {
  command: 'toss',
  describe: 'Process inbound packets',
  builder: (y) =>
    commonFlags(y)
      .option('node', { type: 'string', describe: 'Process only that node' })
      .option('nice', { type: 'string', default: 'MAX', describe: 'Minimal required niceness' })
      .option('dryrun', { type: 'boolean', describe: 'Do not actually write any tossed data' })
      .option('seen', { type: 'boolean', describe: 'Create seen/ files' })
      .option('cycle', { type: 'number', default: 0, describe: 'Repeat tossing after N seconds in infinite loop' })
      .option('nofile', { type: 'boolean', describe: 'Do not process "file" packets' })
      .option('nofreq', { type: 'boolean', describe: 'Do not process "freq" packets' })
      .option('noexec', { type: 'boolean', describe: 'Do not process "exec" packets' })
      .option('notrns', { type: 'boolean', describe: 'Do not process "transitional" packets' })
      .option('noarea', { type: 'boolean', describe: 'Do not process "area" packets' })
      .option('noack', { type: 'boolean', describe: 'Do not process "ack" packets' })
      .option('watch', { type: 'boolean', describe: 'Keep running: toss packets as they land in rx (with -cycle N, also a full round every N seconds)' })
      .option('gen-ack', { type: 'boolean', describe: 'Generate ACK packets for tossed ones (NNCP 8.9)' }),
  handler: (argv) =>
    run('toss', async () => {
      const nice = parseNice(argv.nice, '-nice');
      const cycle = argv.cycle;
      if (!Number.isInteger(cycle) || cycle < 0) throw new PigeonError('EUSAGE', `-cycle ${cycle}: expected a whole number of seconds`);
      const ctx = await makeContext({ ...argv, needSelf: true });
      const missing = await missingSpoolNote(ctx);
      if (missing && !argv.quiet) process.stderr.write(`pigeon toss: ${missing}\n`);
      const opts: TossOptions = {
        node: argv.node ? node(ctx, argv.node) : undefined,
        nice,
        dryRun: argv.dryrun,
        doSeen: argv.seen,
        noFile: argv.nofile,
        noFreq: argv.nofreq,
        noExec: argv.noexec,
        noTrns: argv.notrns,
        noArea: argv.noarea,
        noAck: argv.noack,
        genAck: argv['gen-ack'],
      };
      // A first SIGINT/SIGTERM stops after cleaning up the packet in progress (it stays queued), a second exits at once.
      opts.signal = abortOnSignals();
      // A record that could not be logged makes the exit code 1 too: what was delivered must be on record.
      if (argv.watch) {
        const { tossWatch } = await import('../src/toss/watch.js');
        await tossWatch(ctx, { ...opts, signal: opts.signal, cycle });
        return ctx.log.allWritten('toss') ? 0 : 1;
      }
      if (cycle === 0) {
        const ok = (await tossAll(ctx, opts)).ok;
        return ctx.log.allWritten('toss') && ok ? 0 : 1;
      }
      await tossCycle(ctx, opts, cycle);
      return ctx.log.allWritten('toss') ? 0 : 1;
    }),
};
