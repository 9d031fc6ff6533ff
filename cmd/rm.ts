/** `pigeon rm` (nncp-rm): remove packets and other files from the spool. */
import type { CommandModule } from 'yargs';
import { parseOlder, parsePktList, rm, type RmOptions } from '../src/admin/rm.js';
import { makeContext, node } from '../src/context.js';
import { readStdinText } from '../src/stream/stdin.js';
import { commonFlags, type CommonArgs, run } from './common.js';

interface Args extends CommonArgs, Pick<RmOptions, 'tmp' | 'lock' | 'all' | 'rx' | 'tx' | 'part' | 'seen' | 'nock' | 'hdr' | 'area' | 'quarantine'> {
  node?: string;
  older?: string;
  dryrun?: boolean;
  pkt?: boolean;
}

export const rmCommand: CommandModule<object, Args> = {
  command: 'rm',
  describe: 'Remove packets (and temporary, lock, seen, hdr files) from the spool',
  builder: (y) =>
    commonFlags(y)
      .option('tmp', { type: 'boolean', describe: 'Remove temporary files' })
      .option('lock', { type: 'boolean', describe: 'Remove all lock files' })
      .option('all', { type: 'boolean', describe: 'Process all nodes' })
      .option('node', { type: 'string', describe: 'Process only that node' })
      .option('rx', { type: 'boolean', describe: 'Process inbound packets' })
      .option('tx', { type: 'boolean', describe: 'Process outbound packets' })
      .option('part', { type: 'boolean', describe: 'Remove only .part files' })
      .option('seen', { type: 'boolean', describe: 'Remove only seen/ files' })
      .option('nock', { type: 'boolean', describe: 'Remove only .nock files' })
      .option('hdr', { type: 'boolean', describe: 'Remove only hdr/ files' })
      .option('area', { type: 'boolean', describe: 'Remove only area/* seen files' })
      .option('quarantine', { type: 'boolean', describe: 'Remove only quarantined packets (rx/quarantine/: they failed verification)' })
      .option('older', { type: 'string', describe: 'XXX{smhd}: only older than XXX number of time units' })
      .option('dryrun', { type: 'boolean', describe: 'Do not actually remove files' })
      .option('pkt', { type: 'boolean', describe: 'Remove only the packets whose ids are read from stdin' })
      .epilogue("-older option's time units are: (s)econds, (m)inutes, (h)ours, (d)ays"),
  handler: (argv) =>
    run('rm', async () => {
      const ctx = await makeContext(argv);
      const olderSec = argv.older ? parseOlder(argv.older) : 0;
      const pkts = argv.pkt ? parsePktList(await readStdinText()) : undefined;
      const only = !argv.tmp && !argv.lock && argv.node ? node(ctx, argv.node) : undefined;
      await rm(ctx, {
        tmp: argv.tmp,
        lock: argv.lock,
        all: argv.all,
        node: only,
        rx: argv.rx,
        tx: argv.tx,
        part: argv.part,
        seen: argv.seen,
        nock: argv.nock,
        hdr: argv.hdr,
        area: argv.area,
        quarantine: argv.quarantine,
        olderSec,
        dryRun: argv.dryrun,
        pkts,
      });
      return 0;
    }),
};
