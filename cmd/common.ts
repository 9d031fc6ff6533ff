/**
 * What every command shares: the reference's global flags and the wrapper that
 * turns a thrown error into one line on stderr and an exit code.
 */
import type { Argv } from 'yargs';
import { errorLine, PigeonError } from '../src/errors.js';

export interface CommonArgs {
  cfg?: string;
  spool?: string;
  log?: string;
  quiet?: boolean;
  debug?: boolean;
  progress?: boolean;
  noprogress?: boolean;
}

/** Flags taken by nearly every nncp-* command. */
export function commonFlags<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .option('cfg', { type: 'string', describe: 'Path to configuration file (default $NNCPCFG or /etc/nncp.hjson)' })
    .option('spool', { type: 'string', describe: 'Override path to spool directory ($NNCPSPOOL)' })
    .option('log', { type: 'string', describe: 'Override path to log file ($NNCPLOG)' })
    .option('quiet', { type: 'boolean', describe: 'Print only errors' })
    .option('debug', { type: 'boolean', describe: 'Print debug messages' })
    .option('progress', { type: 'boolean', describe: 'Force progress showing' })
    .option('noprogress', { type: 'boolean', describe: 'Omit progress showing' }) as Argv<T & CommonArgs>;
}

/**
 * Run a command body. Known errors print as `pigeon NAME: message`; anything
 * else prints as one line too (the stack only with PIGEON_DEBUG=1).
 */
export async function run(name: string, body: () => Promise<number | void> | number | void): Promise<void> {
  try {
    const code = await body();
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (err) {
    process.stderr.write(`pigeon ${name}: ${errorLine(err)}\n`);
    if (process.env.PIGEON_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    process.exitCode = err instanceof PigeonError ? err.exitCode : 1;
  }
}
