/** `pigeon log`: print the log the way nncp-log does, one human line per record. */
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { loadConfig } from '../src/config/load.js';
import { PigeonError } from '../src/errors.js';
import { goMapString, humanize, readLog } from '../src/log/log.js';
import { run } from './common.js';

interface LogArgs {
  cfg?: string;
  log?: string;
  debug?: boolean;
}

/** -log, else $NNCPLOG, else the configuration's `log`. */
async function resolveLogPath(args: LogArgs): Promise<string> {
  if (args.log) return args.log;
  if (process.env.NNCPLOG) return process.env.NNCPLOG;
  return (await loadConfig({ cfg: args.cfg })).log;
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
      .option('debug', { type: 'boolean', describe: 'Also print each record\'s raw fields' }),
  handler: (argv) =>
    run('log', async () => {
      const logPath = await resolveLogPath(argv);
      if (logPath.startsWith('FD:')) throw new PigeonError('EUSAGE', `log ${logPath} is a file descriptor; pass -log FILE to read a log file`);
      try {
        const st = await stat(logPath);
        if (st.isDirectory()) throw new PigeonError('EIO', `cannot read log ${logPath}: it is a directory; pass -log FILE`);
      } catch (err) {
        if (err instanceof PigeonError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file (nothing has been logged yet?)' : code === 'EACCES' ? 'permission denied' : String(code);
        throw new PigeonError('ENOTFOUND', `cannot open log ${logPath}: ${why}`, { cause: err });
      }
      process.stdout.on('error', (err) => (stdoutError = err));
      try {
        for await (const rec of readLog(logPath)) {
          if (argv.debug) await print(goMapString(rec.fields));
          await print(humanize(rec));
        }
      } catch (err) {
        if (isEpipe(err)) return 0; // the reader went away (`pigeon log | head`): not an error
        throw err;
      }
    }),
};
