/** `pigeon cfgnew`: print a new configuration with fresh keys (nncp-cfgnew), or write it to a file (-o, mode 0600). */
import type { CommandModule } from 'yargs';
import { renderNewConfig } from '../src/config/cfgnew.js';
import { withSpoolAndLog, writeConfigFile } from '../src/config/edit.js';
import { generateNodeKeys } from '../src/crypto/keys.js';
import { run } from './common.js';

interface Args {
  nocomments?: boolean;
  area?: string;
  yggdrasil?: boolean;
  o?: string;
  spool?: string;
  log?: string;
}

export const cfgnewCommand: CommandModule<object, Args> = {
  command: 'cfgnew',
  describe: 'Generate a new configuration and keys',
  builder: (y) =>
    y
      .option('nocomments', { type: 'boolean', describe: 'Do not include descriptive comments' })
      .option('area', { type: 'string', describe: "Generate only an area's keypair section, for area NAME" })
      .option('yggdrasil', { type: 'boolean', describe: 'Generate only a Yggdrasil keypair' })
      .option('o', { type: 'string', describe: 'Write to FILE (mode 0600, never over an existing file) instead of stdout (pigeon only)' })
      .option('spool', { type: 'string', describe: 'Spool directory to write in the configuration (default /var/spool/nncp; pigeon only)' })
      .option('log', { type: 'string', describe: 'Log file to write in the configuration (default /var/spool/nncp/log; pigeon only)' }),
  handler: (argv) =>
    run('cfgnew', async () => {
      const text = withSpoolAndLog(
        renderNewConfig(generateNodeKeys(), {
          noComments: argv.nocomments === true,
          area: argv.area,
          yggdrasil: argv.yggdrasil === true,
        }),
        argv.spool,
        argv.log,
      );
      if (argv.o) await writeConfigFile(argv.o, text, { mode: 0o600, replace: false });
      else process.stdout.write(text);
    }),
};
