/** `pigeon call` (nncp-call): call a neighbour and sync spools with its daemon. */
import type { CommandModule } from 'yargs';
import { makeContext } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { parseNice } from '../src/nice.js';
import { resolveCallTarget } from '../src/sp/addr.js';
import { callNode, dialsTcp } from '../src/sp/call.js';
import { waitMcd } from '../src/sp/mcd.js';
import { startCallChild } from '../src/privsep/parent.js';
import { lookupUser } from '../src/privsep/sandbox.js';
import { autoTossFlags, autoTossOptions, commonFlags, direction, lastNum, lastStr, privsepChoice, privsepFlags, run, type AutoTossArgs, type CommonArgs, type PrivsepArgs } from './common.js';

interface Args extends CommonArgs, AutoTossArgs, PrivsepArgs {
  node?: string;
  forceaddr?: string;
  nice: string;
  rx?: boolean;
  tx?: boolean;
  list?: boolean;
  pkts?: string;
  rxrate: number;
  txrate: number;
  onlinedeadline: number;
  maxonlinetime: number;
  nock?: boolean;
  ucspi?: boolean;
  'mcd-wait': number;
}

function wholeNumber(v: number, flag: string): number {
  if (!Number.isInteger(v) || v < 0) throw new PigeonError('EUSAGE', `-${flag} ${v}: expected a whole number`);
  return v;
}

export const callCommand: CommandModule<object, Args> = {
  command: 'call <node> [forceaddr]',
  describe: 'Call a node\'s daemon and exchange packets (NODE[:ADDR] [FORCEADDR])',
  builder: (y) =>
    privsepFlags(
      autoTossFlags(
        commonFlags(y)
          .positional('node', { type: 'string', describe: 'NODE[:ADDR]: a neighbour, optionally one of its addrs by name' })
          .positional('forceaddr', { type: 'string', describe: 'Call this address (host:port, |command) instead of the configured ones' })
          .option('nice', { type: 'string', coerce: lastStr, default: 'MAX', describe: 'Minimal required niceness' })
          .option('rx', { type: 'boolean', describe: 'Only receive packets' })
          .option('tx', { type: 'boolean', describe: 'Only transmit packets' })
          .option('list', { type: 'boolean', describe: 'Only list remote packets' })
          .option('pkts', { type: 'string', coerce: lastStr, describe: 'Recieve only that packets, comma separated' })
          .option('rxrate', { type: 'number', default: 0, coerce: lastNum, describe: 'Maximal receive rate, pkts/sec' })
          .option('txrate', { type: 'number', default: 0, coerce: lastNum, describe: 'Maximal transmit rate, pkts/sec' })
          .option('onlinedeadline', { type: 'number', default: 0, coerce: lastNum, describe: 'Override onlinedeadline option' })
          .option('maxonlinetime', { type: 'number', default: 0, coerce: lastNum, describe: 'Override maxonlinetime option' })
          .option('nock', { type: 'boolean', describe: 'Do no checksum checking' })
          .option('ucspi', { type: 'boolean', describe: 'Is it started as UCSPI-TCP client' })
          .option('mcd-wait', { type: 'number', default: 0, coerce: lastNum, describe: 'Wait for MCD for specified number of seconds' }),
      ),
    ),
  handler: (argv) =>
    run('call', async () => {
      const nice = parseNice(argv.nice, '-nice');
      const xx = direction(argv);
      const rxRate = wholeNumber(argv.rxrate, 'rxrate');
      const txRate = wholeNumber(argv.txrate, 'txrate');
      const od = wholeNumber(argv.onlinedeadline, 'onlinedeadline');
      const mot = wholeNumber(argv.maxonlinetime, 'maxonlinetime');
      const mcdWait = wholeNumber(argv['mcd-wait'], 'mcd-wait');
      const { privsep, user } = privsepChoice(argv);
      const runAs = user === undefined ? undefined : lookupUser(user);
      const ctx = await makeContext({ ...argv, needSelf: true });
      const { node, addr } = resolveCallTarget(ctx, String(argv.node ?? ''), {
        forceAddr: argv.forceaddr !== undefined ? String(argv.forceaddr) : undefined,
        ucspi: argv.ucspi,
      });
      const mcdAddrs = mcdWait > 0 ? await waitMcd(ctx, node, mcdWait) : undefined;
      const pkts = argv.pkts ? argv.pkts.split(',') : undefined;
      // A |command or -ucspi link cannot be handed to the child: such calls stay in one process (README says so).
      const tcp = (mcdAddrs?.length ?? 0) > 0 || dialsTcp(node, addr); // MCD-learned addresses are TCP
      const runner = privsep && tcp ? await startCallChild(ctx, { user: runAs }) : undefined;
      const res = await callNode(ctx, {
        runner,
        node,
        addr,
        nice,
        xx,
        onlineDeadline: od !== 0 ? od : node.onlineDeadline,
        maxOnlineTime: mot !== 0 ? mot : node.maxOnlineTime,
        rxRate,
        txRate,
        noCK: argv.nock ?? false,
        autoToss: autoTossOptions(argv),
        listOnly: argv.list,
        pkts,
        mcdAddrs,
        mcdOnly: mcdAddrs !== undefined,
      }).finally(() => runner?.stop());
      return res.ok ? 0 : 1;
    }),
};
