/**
 * The environment fspl gives a job's command, which `queue-info` and
 * `stdin-info` print as NAME=value lines, and the timestamps fspl shows.
 */
import type { JobHeader } from './jobfile.js';

const enc = new TextEncoder();

/** Where a job lives in a queue (absent for stdin-process and stdin-info). */
export interface JobPlace {
  /** The queue directory exactly as given with -q. */
  queuedir: string;
  /** The file's name inside jobs/. */
  filename: string;
}

/** queuedir + "/jobs/" + filename, joined as fspl joins paths (no normalisation). */
export function jobPath(queuedir: string, filename: string): string {
  return `${queuedir.endsWith('/') ? queuedir : queuedir + '/'}jobs/${filename}`;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function dateOf(secs: bigint): Date {
  return new Date(Number(secs) * 1000);
}

/** 2022-05-08T00:38:31Z */
export function rfc3339Utc(secs: bigint): string {
  const d = dateOf(secs);
  if (Number.isNaN(d.getTime())) return String(secs);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

/** 2022-05-07T19:38:31-05:00, in the local time zone ($TZ). */
export function rfc3339Local(secs: bigint): string {
  const d = dateOf(secs);
  if (Number.isNaN(d.getTime())) return String(secs);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** The variables, in fspl's order, as raw bytes (names are ASCII but for FSPL_SET_ suffixes). */
export function jobEnv(h: JobHeader, place?: JobPlace): [Uint8Array, Uint8Array][] {
  const out: [Uint8Array, Uint8Array][] = [];
  const add = (k: string | Uint8Array, v: string | Uint8Array) => out.push([typeof k === 'string' ? enc.encode(k) : k, typeof v === 'string' ? enc.encode(v) : v]);
  add('FSPL_SEQ', String(h.seq));
  add('FSPL_CTIME_SECS', String(h.ctimeSecs));
  add('FSPL_CTIME_NANOS', String(h.ctimeNanos));
  add('FSPL_CTIME_RFC3339_UTC', rfc3339Utc(h.ctimeSecs));
  add('FSPL_CTIME_RFC3339_LOCAL', rfc3339Local(h.ctimeSecs));
  if (place) {
    add('FSPL_JOB_FILENAME', place.filename);
    add('FSPL_JOB_QUEUEDIR', place.queuedir);
    add('FSPL_JOB_FULLPATH', jobPath(place.queuedir, place.filename));
  }
  h.params.forEach((p, i) => add(`FSPL_PARAM_${i + 1}`, p));
  for (const [k, v] of h.env) add(Buffer.concat([enc.encode('FSPL_SET_'), k]), v);
  return out;
}

/** NAME=value lines, as queue-info and stdin-info print them. */
export function formatEnv(vars: [Uint8Array, Uint8Array][]): Buffer {
  return Buffer.concat(vars.flatMap(([k, v]) => [k, enc.encode('='), v, enc.encode('\n')]));
}

/** The same variables as strings, for a child's environment (invalid UTF-8 becomes U+FFFD: Node's limit). */
export function envStrings(vars: [Uint8Array, Uint8Array][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of vars) out[Buffer.from(k).toString('utf8')] = Buffer.from(v).toString('utf8');
  return out;
}
