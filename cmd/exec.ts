/** pigeon exec: send stdin to a remote exec handle (nncp-exec). */
import type { CommandModule } from 'yargs';
import { makeContext } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { DEFAULT_NICE_EXEC, DEFAULT_NICE_FILE, formatNice, parseNice } from '../src/nice.js';
import { recipient } from '../src/tx/area.js';
import { txExec } from '../src/tx/exec.js';
import { parseVia } from '../src/tx/route.js';
import { commonFlags, CommonArgs, kibFlag, run } from './common.js';
import { goFlags } from './fastparse.js';

export const execCommand: CommandModule<object, CommonArgs> = {
  command: 'exec',
  describe: 'Send stdin to NODE\'s exec HANDLE: exec [flags] NODE HANDLE [ARG...] (flags go before NODE)',
  builder: (y) =>
    commonFlags(y)
      .usage('$0 exec [flags] NODE HANDLE [ARG0 ARG1 ...]')
      .option('nice', { type: 'string', default: formatNice(DEFAULT_NICE_EXEC), describe: 'Outbound packet niceness' })
      .option('replynice', { type: 'string', default: formatNice(DEFAULT_NICE_FILE), describe: 'Possible reply packet niceness (NNCP_NICE)' })
      .option('minsize', { type: 'number', default: 0, describe: 'Minimal required resulting packet size, in KiB' })
      .option('maxsize', { type: 'number', default: 0, describe: 'Maximal allowable resulting packet size, in KiB (0: no limit)' })
      .option('via', { type: 'string', describe: 'Override Via path to destination node ("-": direct)' })
      .option('nocompress', { type: 'boolean', describe: 'Do not compress input data (exec-fat packet)' })
      // Everything after NODE belongs to the remote handle: the handler parses the flags before it, Go style (see goFlags).
      .parserConfiguration({ 'unknown-options-as-args': true })
      .strict(false),
  handler: () =>
    run('exec', async () => {
      const raw = process.argv.slice(2);
      const at = raw.indexOf('exec');
      const { flags, rest } = goFlags(execCommand, raw.slice(at + 1));
      if (rest.length < 2) throw new PigeonError('EUSAGE', 'usage: pigeon exec [flags] NODE HANDLE [ARG...]');
      const nice = parseNice(String(flags.nice), '-nice');
      const replyNice = parseNice(String(flags.replynice), '-replynice');
      const minKiB = kibFlag('minsize', Number(flags.minsize), false);
      const maxKiB = kibFlag('maxsize', Number(flags.maxsize), false);
      const ctx = await makeContext({ ...(flags as CommonArgs), needSelf: true });
      await txExec(ctx, {
        ...recipient(ctx, rest[0]),
        handle: rest[1],
        args: rest.slice(2),
        nice,
        replyNice,
        noCompress: Boolean(flags.nocompress),
        minSize: minKiB * 1024,
        maxSize: maxKiB > 0 ? maxKiB * 1024 : undefined,
        via: parseVia(ctx, flags.via as string | undefined),
      });
    }),
};
