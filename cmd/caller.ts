/**
 * `pigeon caller [flags] [NODE…]` — nncp-caller: call neighbours on the
 * schedules of their `calls` configuration (all neighbours with calls, or
 * the NODEs named). Runs until no schedule has a future fire time, or until
 * killed (a packet being received stays as a .part file and resumes on the
 * next call, as with the reference).
 */
import type { CommandModule } from 'yargs';
import { makeContext } from '../src/context.js';
import { callNode } from '../src/sp/call.js';
import { callerNodes, parseCalls, runCaller } from '../src/sp/caller.js';
import type { AutoTossArgs } from './call.js';
import { commonFlags, type CommonArgs, run } from './common.js';

interface Args extends CommonArgs, AutoTossArgs {
  nodes?: string[];
}

export const callerCommand: CommandModule<object, Args> = {
  command: 'caller [nodes..]',
  describe: 'Call neighbours on the schedules of their calls configuration',
  builder: (y) =>
    commonFlags(y)
      .positional('nodes', { type: 'string', array: true, describe: 'Only these nodes (default: every node with calls)' })
      .option('autotoss', { type: 'boolean', describe: 'Toss during each call' })
      .option('autotoss-seen', { type: 'boolean', describe: 'Create seen/ files during tossing' })
      .option('autotoss-nofile', { type: 'boolean', describe: 'Do not process "file" packets during tossing' })
      .option('autotoss-nofreq', { type: 'boolean', describe: 'Do not process "freq" packets during tossing' })
      .option('autotoss-noexec', { type: 'boolean', describe: 'Do not process "exec" packets during tossing' })
      .option('autotoss-notrns', { type: 'boolean', describe: 'Do not process "trns" packets during tossing' })
      .option('autotoss-noarea', { type: 'boolean', describe: 'Do not process "area" packets during tossing' })
      .option('autotoss-noack', { type: 'boolean', describe: 'Do not process "ack" packets during tossing' }) as never,
  handler: (argv) =>
    run('caller', async () => {
      const ctx = await makeContext({ ...argv, needSelf: true });
      const nodes = callerNodes(ctx, (argv.nodes ?? []).map(String));
      parseCalls(ctx, nodes); // refuse a bad cron before anything starts
      await runCaller(ctx, {
        nodes,
        callNode,
        autoToss: {
          autoToss: argv.autotoss,
          doSeen: argv['autotoss-seen'],
          noFile: argv['autotoss-nofile'],
          noFreq: argv['autotoss-nofreq'],
          noExec: argv['autotoss-noexec'],
          noTrns: argv['autotoss-notrns'],
          noArea: argv['autotoss-noarea'],
          noAck: argv['autotoss-noack'],
        },
      });
    }),
};
