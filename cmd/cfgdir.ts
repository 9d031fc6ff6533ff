/**
 * `pigeon cfgdir` — nncp-cfgdir: `-dump DIR` writes the configuration
 * (-cfg, $NNCPCFG) into a directory, one file a value; `-load DIR` prints
 * such a directory as an Hjson configuration file. The layout is in
 * src/config/schema.ts, the conversions in src/config/cfgdump.ts.
 */
import type { Argv, CommandModule } from 'yargs';
import { dumpConfigDir, loadConfigDirText } from '../src/config/cfgdump.js';
import { PigeonError } from '../src/errors.js';
import { run } from './common.js';

interface Args {
  cfg?: string;
  dump?: boolean;
  load?: boolean;
  dir?: string;
}

const USAGE = 'pigeon cfgdir [-cfg FILE] -dump DIR, or pigeon cfgdir -load DIR > cfg.hjson';

async function cfgdirMain(args: Args): Promise<number> {
  if (args.dump === args.load) throw new PigeonError('EUSAGE', `give one of -dump and -load: ${USAGE}`);
  if (args.dir === undefined || String(args.dir) === '') throw new PigeonError('EUSAGE', `name the directory: ${USAGE}`);
  const dir = String(args.dir);
  const warn = (warnings: string[]): void => warnings.forEach((w) => process.stderr.write(`pigeon cfgdir: warning: ${w}\n`));
  if (args.dump) {
    warn((await dumpConfigDir(dir, { cfg: args.cfg })).warnings);
    return 0;
  }
  const res = await loadConfigDirText(dir);
  warn(res.warnings);
  process.stdout.write(res.text);
  return 0;
}

export const cfgdirCommand: CommandModule<object, Args> = {
  command: 'cfgdir [dir]',
  describe: 'Convert a configuration file to the directory layout and back (nncp-cfgdir)',
  builder: (y: Argv<object>) =>
    y
      .positional('dir', { type: 'string', describe: 'The configuration directory' })
      .option('cfg', { type: 'string', describe: 'Path to configuration file (default $NNCPCFG or /etc/nncp.hjson)' })
      .option('dump', { type: 'boolean', describe: 'Dump configuration file to the directory' })
      .option('load', { type: 'boolean', describe: 'Load directory to create configuration file (printed on stdout)' })
      .epilogue('Private keys (names ending in "prv") are written with mode 0600. Any command takes a configuration directory as -cfg DIR.') as Argv<Args>,
  handler: (argv) => run('cfgdir', () => cfgdirMain(argv)),
};
