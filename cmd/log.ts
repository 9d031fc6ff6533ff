/** `pigeon log`: print the log the way nncp-log does, one human line per record. */
import { once } from 'node:events';
import type { CommandModule } from 'yargs';
import { logJsonLines, logLines, logToShow } from '../src/log/show.js';
import { run } from './common.js';

interface LogArgs {
  cfg?: string;
  log?: string;
  debug?: boolean;
  json?: boolean;
}

let stdoutError: Error | null = null;

/** One line on stdout, waiting while the pipe is full. */
async function print(line: string): Promise<void> {
  if (stdoutError) throw stdoutError;
  if (!process.stdout.write(line + '\n')) await once(process.stdout, 'drain');
}

function isEpipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'EPIPE';
}

export const logCommand: CommandModule<object, LogArgs> = {
  command: 'log',
  describe: 'Read the log, like nncp-log',
  builder: (y) =>
    y
      .option('cfg', { type: 'string', describe: 'Path to configuration file (default $NNCPCFG or /etc/nncp.hjson)' })
      .option('log', { type: 'string', describe: 'Override path to logfile ($NNCPLOG)' })
      .option('debug', { type: 'boolean', describe: 'Also print each record\'s raw fields' })
      .option('json', { type: 'boolean', describe: 'One JSON object per record and line (fields: README "Output for scripts")' }),
  handler: (argv) =>
    run('log', async () => {
      const logPath = await logToShow({ ...argv, onWarning: (w) => process.stderr.write(`pigeon: warning: ${w}\n`) });
      process.stdout.on('error', (err) => (stdoutError = err));
      try {
        for await (const line of argv.json ? logJsonLines(logPath) : logLines(logPath, argv.debug)) await print(line);
      } catch (err) {
        if (isEpipe(err)) return 0; // the reader went away (`pigeon log | head`): not an error
        throw err;
      }
    }),
};
