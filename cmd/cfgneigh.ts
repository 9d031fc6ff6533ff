/** `pigeon cfgneigh`: add a neighbour to a configuration file from its cfgmin output, comments kept (pigeon only). */
import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { addNeighbour } from '../src/config/edit.js';
import { configPath } from '../src/config/load.js';
import { PigeonError } from '../src/errors.js';
import { readStdinText } from '../src/stream/stdin.js';
import { run } from './common.js';

interface Args {
  cfg?: string;
  name?: string;
  incoming?: string;
  file?: string;
}

export const cfgneighCommand: CommandModule<object, Args> = {
  command: 'cfgneigh [file]',
  describe: "Add a neighbour to the configuration file from its cfgmin output (FILE or stdin), keeping the file's comments",
  builder: (y) =>
    y
      .usage('$0 cfgneigh -cfg FILE -name NAME [-incoming DIR] [CFGMIN-OUTPUT]')
      .positional('file', { type: 'string', describe: 'The other node\'s pigeon cfgmin (or nncp-cfgmin) output; default: stdin' })
      .option('cfg', { type: 'string', describe: 'Configuration file to add to (default /etc/nncp.hjson; $NNCPCFG wins, as for every command)' })
      .option('name', { type: 'string', describe: 'Name the neighbour gets (neigh.NAME)' })
      .option('incoming', { type: 'string', describe: 'Directory where files from it land (neigh.NAME.incoming)' })
      .epilogue('Example: ssh bob pigeon cfgmin | pigeon cfgneigh -cfg /etc/nncp.hjson -name bob -incoming /srv/from-bob'),
  handler: (argv) =>
    run('cfgneigh', async () => {
      if (!argv.name) throw new PigeonError('EUSAGE', '-name NAME is required: the name the neighbour gets in neigh');
      const cfg = configPath({ cfg: argv.cfg });
      const src = argv.file && argv.file !== '-' ? argv.file : undefined;
      const peerText = src ? await readFile(src, 'utf8').catch((e: NodeJS.ErrnoException) => { throw new PigeonError('ENOTFOUND', `cannot read ${src}: ${e.code ?? e.message}`); }) : await readStdinText();
      await addNeighbour(cfg, { name: argv.name, peerText, peerWhat: src ?? 'cfgmin output on stdin', incoming: argv.incoming });
    }),
};
