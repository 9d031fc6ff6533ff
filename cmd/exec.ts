/** pigeon exec: send stdin to a remote exec handle (nncp-exec). */
import type { CommandModule } from 'yargs';
import { makeContext, node } from '../src/context.js';
import { PigeonError } from '../src/errors.js';
import { DEFAULT_NICE_EXEC, DEFAULT_NICE_FILE, formatNice, parseNice } from '../src/nice.js';
import { findArea, selfNeighbour } from '../src/tx/area.js';
import { txExec } from '../src/tx/exec.js';
import { parseVia } from '../src/tx/route.js';
import { kibFlag } from './file.js';
import { commonFlags, CommonArgs, run } from './common.js';

type FlagKind = 'string' | 'number' | 'boolean';

const FLAGS: Record<string, FlagKind> = {
  cfg: 'string',
  spool: 'string',
  log: 'string',
  quiet: 'boolean',
  debug: 'boolean',
  progress: 'boolean',
  noprogress: 'boolean',
  nice: 'string',
  replynice: 'string',
  minsize: 'number',
  maxsize: 'number',
  via: 'string',
  nocompress: 'boolean',
};

export interface GoArgs {
  flags: Record<string, string | number | boolean>;
  rest: string[];
}

/**
 * Parse flags the way Go's flag package does: "-name", "--name",
 * "-name=value", "-name value"; parsing stops at the first argument that is
 * not a flag (or after "--"), so the remote handle's own arguments such as
 * "-c" pass through untouched.
 */
export function parseGoFlags(args: readonly string[], spec: Record<string, FlagKind>): GoArgs {
  const flags: GoArgs['flags'] = {};
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== '-') break;
    const body = a.startsWith('--') ? a.slice(2) : a.slice(1);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const kind = spec[name];
    if (!kind) throw new PigeonError('EUSAGE', `flag provided but not defined: -${name}`);
    let value: string;
    if (kind === 'boolean') {
      value = eq < 0 ? 'true' : body.slice(eq + 1);
      if (!/^(1|0|t|f|true|false|TRUE|FALSE|True|False)$/.test(value)) throw new PigeonError('EUSAGE', `invalid boolean value ${JSON.stringify(value)} for -${name}`);
      flags[name] = /^(1|t|true|TRUE|True)$/.test(value);
      continue;
    }
    if (eq >= 0) value = body.slice(eq + 1);
    else if (i + 1 < args.length) value = args[++i];
    else throw new PigeonError('EUSAGE', `flag needs an argument: -${name}`);
    if (kind === 'number') {
      if (!/^-?\d+$/.test(value)) throw new PigeonError('EUSAGE', `invalid value ${JSON.stringify(value)} for -${name}: expected a whole number`);
      flags[name] = Number(value);
    } else {
      flags[name] = value;
    }
  }
  return { flags, rest: args.slice(i) };
}

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
      // Everything after NODE belongs to the remote handle: parsed below, Go style.
      .parserConfiguration({ 'unknown-options-as-args': true })
      .strict(false),
  handler: () =>
    run('exec', async () => {
      const raw = process.argv.slice(2);
      const at = raw.indexOf('exec');
      const { flags, rest } = parseGoFlags(raw.slice(at + 1), FLAGS);
      if (rest.length < 2) throw new PigeonError('EUSAGE', 'usage: pigeon exec [flags] NODE HANDLE [ARG...]');
      const nice = parseNice(String(flags.nice ?? formatNice(DEFAULT_NICE_EXEC)), '-nice');
      const replyNice = parseNice(String(flags.replynice ?? formatNice(DEFAULT_NICE_FILE)), '-replynice');
      const minKiB = kibFlag('minsize', Number(flags.minsize ?? 0), false);
      const maxKiB = kibFlag('maxsize', Number(flags.maxsize ?? 0), false);
      const ctx = await makeContext({
        cfg: flags.cfg as string | undefined,
        spool: flags.spool as string | undefined,
        log: flags.log as string | undefined,
        quiet: flags.quiet as boolean | undefined,
        debug: flags.debug as boolean | undefined,
        progress: flags.progress as boolean | undefined,
        noprogress: flags.noprogress as boolean | undefined,
        needSelf: true,
      });
      const area = rest[0].startsWith('area:') ? findArea(ctx, rest[0].slice('area:'.length)) : undefined;
      await txExec(ctx, {
        to: area ? selfNeighbour(ctx) : node(ctx, rest[0]),
        area,
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
