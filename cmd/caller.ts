/**
 * `pigeon caller [flags] [NODE…]` — nncp-caller: call neighbours on the
 * schedules of their `calls` configuration (all neighbours with calls, or
 * the NODEs named). Runs until no schedule has a future fire time, or until
 * killed (a packet being received stays as a .part file and resumes on the
 * next call, as with the reference).
 */
import type { CommandModule } from 'yargs';
import { makeContext } from '../src/context.js';
import { startCallChild } from '../src/privsep/parent.js';
import { lookupUser } from '../src/privsep/sandbox.js';
import { callNode, dialsTcp } from '../src/sp/call.js';
import { callerNodes, parseCalls, runCaller } from '../src/sp/caller.js';
import { McdListener } from '../src/sp/mcd.js';
import { autoTossFlags, autoTossSwitches, commonFlags, privsepChoice, privsepFlags, run, type AutoTossArgs, type CommonArgs, type PrivsepArgs } from './common.js';

interface Args extends CommonArgs, AutoTossArgs, PrivsepArgs {
  nodes?: string[];
}

export const callerCommand: CommandModule<object, Args> = {
  command: 'caller [nodes..]',
  describe: 'Call neighbours on the schedules of their calls configuration',
  builder: (y) =>
    privsepFlags(
      autoTossFlags(
        commonFlags(y).positional('nodes', { type: 'string', array: true, describe: 'Only these nodes (default: every node with calls)' }),
        'Toss during each call',
      ),
    ) as never,
  handler: (argv) =>
    run('caller', async () => {
      const { privsep, user } = privsepChoice(argv);
      const runAs = user === undefined ? undefined : lookupUser(user);
      const ctx = await makeContext({ ...argv, needSelf: true });
      const nodes = callerNodes(ctx, (argv.nodes ?? []).map(String));
      parseCalls(ctx, nodes); // refuse a bad cron before anything starts
      if (nodes.length === 0) {
        // The reference exits 0 at once, saying nothing: keep the exit code, say why.
        const which = argv.nodes?.length ? `${argv.nodes.join(', ')} ${argv.nodes.length > 1 ? 'have' : 'has'} no calls` : 'no neighbour has calls';
        process.stderr.write(`pigeon caller: ${which} in ${ctx.cfg.path}: nothing to do; add neigh.NODE.calls (e.g. calls: [{cron: "*/10 * * * *"}]) or use pigeon call NODE\n`);
        return 0;
      }
      // One network child serves every call (as the daemon's serves every connection).
      const tcp = ctx.cfg.mcdListen.length > 0 || nodes.some((n) => n.calls.some((c) => dialsTcp(n, c.addr)));
      const runner = privsep && tcp ? await startCallChild(ctx, { user: runAs }) : undefined;
      const mcd = ctx.cfg.mcdListen.length > 0 ? await McdListener.start(ctx) : undefined;
      try {
        await runCaller(ctx, {
          nodes,
          callNode: (c, o) => callNode(c, { ...o, runner }),
          autoToss: { autoToss: argv.autotoss, ...autoTossSwitches(argv) },
          mcd,
        });
      } finally {
        mcd?.close();
        await runner?.stop();
      }
    }),
};
