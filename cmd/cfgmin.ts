/** `pigeon cfgmin`: print the configuration stripped of private keys (nncp-cfgmin). */
import type { CommandModule } from 'yargs';
import { renderMinConfig } from '../src/config/cfgmin.js';
import { loadConfig } from '../src/config/load.js';
import { run } from './common.js';

interface Args {
  cfg?: string;
}

export const cfgminCommand: CommandModule<object, Args> = {
  command: 'cfgmin',
  describe: 'Print stripped configuration: spool, log and neighbours\' public keys',
  builder: (y) => y.option('cfg', { type: 'string', describe: 'Path to configuration file (default $NNCPCFG or /etc/nncp.hjson)' }),
  handler: (argv) =>
    run('cfgmin', async () => {
      const cfg = await loadConfig({ cfg: argv.cfg });
      for (const w of cfg.warnings) process.stderr.write(`pigeon cfgmin: warning: ${w}\n`);
      process.stdout.write(renderMinConfig(cfg));
    }),
};
