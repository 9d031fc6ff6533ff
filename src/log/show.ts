/**
 * What nncp-log shows: which log file it reads (-log, $NNCPLOG, the
 * configuration's `log`), refused with an actionable message when it cannot
 * be read, and the line(s) printed for each record.
 */
import { stat } from 'node:fs/promises';
import { loadConfig } from '../config/load.js';
import { PigeonError } from '../errors.js';
import { printable } from '../format.js';
import { goMapString, humanize, readLog, type LogRecord } from './log.js';

/** -log, else $NNCPLOG, else the configuration's `log`. */
async function resolveLogPath(o: { cfg?: string; log?: string; env: NodeJS.ProcessEnv; onWarning?: (w: string) => void }): Promise<string> {
  if (o.log) return o.log;
  if (o.env.NNCPLOG) return o.env.NNCPLOG;
  const cfg = await loadConfig({ cfg: o.cfg });
  for (const w of cfg.warnings) o.onWarning?.(w);
  return cfg.log;
}

/** The log file `pigeon log` reads, checked to be a readable file; the configuration's warnings (if it is read) go to `onWarning`. */
export async function logToShow(o: { cfg?: string; log?: string; env?: NodeJS.ProcessEnv; onWarning?: (w: string) => void }): Promise<string> {
  const logPath = await resolveLogPath({ ...o, env: o.env ?? process.env });
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
  return logPath;
}

/** The lines nncp-log prints for the log at `logPath`: per record, with `debug` its raw fields first. */
export async function* logLines(logPath: string, debug = false): AsyncGenerator<string> {
  for await (const rec of readLog(logPath)) {
    if (debug) yield printable(goMapString(rec.fields), { keepNewlines: true }); // newlines kept, as nncp-log -debug prints them
    yield humanize(rec);
  }
}

/**
 * `pigeon log -json`: one JSON object per record, its fields as written:
 * {"when","who","msg","err"?,"fields":{...every field, When/Who/Msg/Err included}}.
 */
export function logRecordJson(rec: LogRecord): string {
  const o: Record<string, unknown> = { when: rec.whenRaw, who: rec.who, msg: rec.fields.get('Msg') ?? '' };
  const err = rec.fields.get('Err');
  if (err !== undefined) o.err = err;
  o.fields = Object.fromEntries(rec.fields);
  return JSON.stringify(o);
}

/** The lines `pigeon log -json` prints for the log at `logPath`. */
export async function* logJsonLines(logPath: string): AsyncGenerator<string> {
  for await (const rec of readLog(logPath)) yield logRecordJson(rec);
}
