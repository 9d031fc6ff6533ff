/**
 * What the commands share: the reference's global flags, the flag families
 * several commands take (-autotoss*, KiB sizes, repeated flags), and the
 * wrapper that turns a thrown error into one line on stderr and an exit code.
 */
import { writeSync } from 'node:fs';
import { once } from 'node:events';
import type { Argv } from 'yargs';
import type { ContextFlags } from '../src/context.js';
import { errorLine, PigeonError } from '../src/errors.js';
import type { TossOptions, TossSwitches } from '../src/toss/common.js';

/**
 * Write `text` to stdout and wait until it may be written again. Straight to
 * descriptor 1 while that works: building process.stdout loads node:net or
 * node:stream, some 3 ms of a short command's start. Should a write fail
 * (a non-blocking descriptor saying EAGAIN, a closed pipe), the rest and all
 * later text go through process.stdout, which handles both as before. Both
 * ways are synchronous on Linux for files, pipes and terminals, so the order
 * of the output is kept.
 */
export async function writeStdout(text: string): Promise<void> {
  let rest: string | Uint8Array = text;
  if (direct) {
    const buf = Buffer.from(text);
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(1, buf, off);
      return;
    } catch {
      direct = false;
      rest = buf.subarray(off); // bytes: the failed write may have stopped inside a character
    }
  }
  if (!process.stdout.write(rest)) await once(process.stdout, 'drain');
}
let direct = true;

/** The global flags, as makeContext takes them. */
export type CommonArgs = Omit<ContextFlags, 'needSelf' | 'env'>;

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

/**
 * A signal that a first SIGINT or SIGTERM fires (the command then stops
 * cleanly: what is in progress finished or rolled back); a second one exits
 * at once.
 */
export function abortOnSignals(): AbortSignal {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return stop.signal;
}

/** A KiB flag: negative means "take the default". */
export function kibFlag(name: string, v: number, allowDefault: boolean): number {
  if (!Number.isInteger(v) || (v < 0 && !(allowDefault && v === -1))) {
    throw new PigeonError('EUSAGE', `-${name} ${v}: expected a whole number of KiB${allowDefault ? ' (or -1 for the default)' : ''}`);
  }
  return v;
}

export interface AutoTossArgs {
  autotoss?: boolean;
  'autotoss-seen'?: boolean;
  'autotoss-nofile'?: boolean;
  'autotoss-nofreq'?: boolean;
  'autotoss-noexec'?: boolean;
  'autotoss-notrns'?: boolean;
  'autotoss-noarea'?: boolean;
  'autotoss-noack'?: boolean;
  'autotoss-gen-ack'?: boolean;
}

/** Go's flag package keeps the last of repeated flags; yargs would make an array. */
function lastOf<T>(v: T | T[]): T {
  return Array.isArray(v) ? v[v.length - 1] : v;
}
export const lastStr = (v: string | string[]): string => lastOf(v);
export const lastNum = (v: number | number[]): number => lastOf(v);

/** The reference's -autotoss* flags (nncp-call, nncp-daemon, nncp-caller); `autotoss` describes -autotoss. */
export function autoTossFlags<T>(y: Argv<T>, autotoss = 'Toss after call is finished'): Argv<T & AutoTossArgs> {
  return y
    .option('autotoss', { type: 'boolean', describe: autotoss })
    .option('autotoss-seen', { type: 'boolean', describe: 'Create seen/ files during tossing' })
    .option('autotoss-nofile', { type: 'boolean', describe: 'Do not process "file" packets during tossing' })
    .option('autotoss-nofreq', { type: 'boolean', describe: 'Do not process "freq" packets during tossing' })
    .option('autotoss-noexec', { type: 'boolean', describe: 'Do not process "exec" packets during tossing' })
    .option('autotoss-notrns', { type: 'boolean', describe: 'Do not process "trns" packets during tossing' })
    .option('autotoss-noarea', { type: 'boolean', describe: 'Do not process "area" packets during tossing' })
    .option('autotoss-noack', { type: 'boolean', describe: 'Do not process "ack" packets during tossing' })
    .option('autotoss-gen-ack', { type: 'boolean', describe: 'Generate ACK packets during tossing (NNCP 8.9)' }) as Argv<T & AutoTossArgs>;
}

/** -rx or -tx (xfer, carry, bundle, call): one direction only, or both when neither is given; both at once is refused. */
export function direction(a: { rx?: boolean; tx?: boolean }): 'rx' | 'tx' | undefined {
  if (a.rx && a.tx) throw new PigeonError('EUSAGE', '-rx and -tx can not be set simultaneously');
  return a.rx ? 'rx' : a.tx ? 'tx' : undefined;
}

export interface PrivsepArgs {
  noprivsep?: boolean;
  user?: string;
}

/** -noprivsep and -user (daemon, call, caller): whether a network child parses what peers send, and as whom. */
export function privsepFlags<T>(y: Argv<T>): Argv<T & PrivsepArgs> {
  return y
    .option('noprivsep', { type: 'boolean', describe: 'One process: parse the network in the process that holds the keys (no network child)' })
    .option('user', { type: 'string', coerce: lastStr, describe: 'Run the network child as this user (when started as root)' }) as Argv<T & PrivsepArgs>;
}

/** Whether to separate privileges, refusing -user where it cannot apply; the user is still a name. */
export function privsepChoice(a: PrivsepArgs): { privsep: boolean; user?: string } {
  const privsep = !a.noprivsep;
  if (a.user !== undefined && !privsep) throw new PigeonError('EUSAGE', "-user: names the network child's user; it cannot go with -noprivsep");
  if (a.user !== undefined && process.getuid?.() !== 0) throw new PigeonError('EUSAGE', `-user ${a.user}: only root can run the network child as another user`);
  return { privsep, user: a.user };
}

/** The -autotoss-* switches as toss options (whether or not -autotoss is given). */
export function autoTossSwitches(a: AutoTossArgs): TossSwitches {
  return {
    doSeen: a['autotoss-seen'],
    noFile: a['autotoss-nofile'],
    noFreq: a['autotoss-nofreq'],
    noExec: a['autotoss-noexec'],
    noTrns: a['autotoss-notrns'],
    noArea: a['autotoss-noarea'],
    noAck: a['autotoss-noack'],
    genAck: a['autotoss-gen-ack'],
  };
}

/** TossOptions from the -autotoss* flags, or undefined without -autotoss. */
export function autoTossOptions(a: AutoTossArgs): TossOptions | undefined {
  return a.autotoss ? autoTossSwitches(a) : undefined;
}
