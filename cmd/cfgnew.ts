/** `pigeon cfgnew`: print a new configuration with fresh keys (nncp-cfgnew). */
import type { CommandModule } from 'yargs';
import { renderNewConfig } from '../src/config/cfgnew.js';
import { generateNodeKeys } from '../src/crypto/keys.js';
import { run } from './common.js';

interface Args {
  nocomments?: boolean;
  area?: string;
  yggdrasil?: boolean;
}

export const cfgnewCommand: CommandModule<object, Args> = {
  command: 'cfgnew',
  describe: 'Generate a new configuration and keys',
  builder: (y) =>
    y
      .option('nocomments', { type: 'boolean', describe: 'Do not include descriptive comments' })
      .option('area', { type: 'string', describe: "Generate only an area's keypair section, for area NAME" })
      .option('yggdrasil', { type: 'boolean', describe: 'Generate only a Yggdrasil keypair' }),
  handler: (argv) =>
    run('cfgnew', () => {
      const text = renderNewConfig(generateNodeKeys(), {
        noComments: argv.nocomments === true,
        area: argv.area,
        yggdrasil: argv.yggdrasil === true,
      });
      process.stdout.write(text);
    }),
};
