/**
 * The reference's log: a recfile (GNU recutils) of one record per event.
 *
 *   <empty line>
 *   When: 2026-11-23T18:05:38.557206853Z      RFC 3339, UTC, nanoseconds, trailing zeros dropped
 *   Err: exit status 3                        only in error records, before Who
 *   Who: tx                                   the kind of event
 *   Node: XYQJ...                             event fields, in the order given
 *   Output: line one                          a multi-line value continues on "+ " lines
 *   + line two
 *   Msg: File f.txt (282 B) is sent to bob:f.txt
 *
 * A record is appended with one write(2) on an O_APPEND descriptor while
 * holding flock(2) LOCK_EX on `<log>.lock`, like the reference, so records
 * of concurrent nncp-* and pigeon processes never interleave. Both files
 * stay open between the records of a burst (closed after a second without
 * one): each record still takes the lock, and checks that the paths still
 * name the files held, so a rotated log, or a replaced lock file, is
 * opened again. A log path of the form "FD:<n>" writes to that file
 * descriptor instead.
 *
 * nncp-log shows a record as "<When to the second> [ERROR ]<Msg>[: <Err>]";
 * nncp-* commands print the same line on stderr for each record they log,
 * unless -quiet (which silences errors too), and with -debug they also print
 * the raw record, plus debug-only records that never reach the log file.
 * What is printed for a person has its control characters escaped
 * (printable: a remote file name cannot forge lines or drive the terminal);
 * the log file keeps the values as they are, in recfile's "+" lines.
 *
 * A record that cannot be appended (log unwritable, disk full) is said so
 * on stderr, once per distinct problem, even with -quiet, and counted
 * (Logger.lost) so that a command can exit non-zero; a write cut short is
 * truncated away so that the log never holds half a record.
 */
import fs from 'node:fs';
import { flockSync } from '../spool/flock.js';
import { errorLine, quietly } from '../errors.js';
import { printable } from '../format.js';

export type LogValue = string | number | bigint | boolean | readonly string[];
export type LogFields = ReadonlyArray<readonly [string, LogValue]>;

export interface LogRecord {
  /** Parsed When, or null when missing or malformed. */
  when: Date | null;
  /** When as written. */
  whenRaw: string;
  who: string;
  /** Every field of the record (When, Who, Msg, Err included); multi-line values joined with "\n". */
  fields: Map<string, string>;
}

const FIELD_NAME = /^[A-Za-z%][A-Za-z0-9_]*$/;
const FIELD_LINE = /^([A-Za-z%][A-Za-z0-9_]*):[ \t]?(.*)$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;
const GO_RFC3339NANO = '2006-01-02T15:04:05.999999999Z07:00';

// Wall clock with nanosecond digits: millisecond epoch fixed once, advanced by the monotonic clock.
const EPOCH_NS = BigInt(Date.now()) * 1_000_000n;
const HR_START = process.hrtime.bigint();

/** Nanoseconds since the Unix epoch. */
export function nowNs(): bigint {
  return EPOCH_NS + (process.hrtime.bigint() - HR_START);
}

function pad(n: number | bigint, w: number): string {
  return n.toString().padStart(w, '0');
}

/** Format as Go's time.RFC3339Nano in UTC: fraction without trailing zeros, none when zero. */
export function formatWhen(ns: bigint): string {
  const secs = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const d = new Date(Number(secs) * 1000);
  let s =
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}` +
    `T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  if (frac !== 0n) s += '.' + pad(frac, 9).replace(/0+$/, '');
  return s + 'Z';
}

function valueLines(key: string, v: LogValue): string {
  if (typeof v === 'string') {
    if (!v.includes('\n')) return `${key}: ${v}\n`;
    return multiline(key, v.split('\n'));
  }
  if (typeof v === 'number' || typeof v === 'bigint') return `${key}: ${v.toString()}\n`;
  if (typeof v === 'boolean') return `${key}: ${v ? 'true' : 'false'}\n`;
  if (v.length === 0) return ''; // the reference omits empty lists
  return multiline(key, v.flatMap((l) => l.split('\n')));
}

function multiline(key: string, lines: string[]): string {
  let out = `${key}: ${lines[0]}\n`;
  for (const l of lines.slice(1)) out += l === '' ? '+\n' : `+ ${l}\n`;
  return out;
}

export interface RecordOptions {
  err?: unknown;
  debug?: boolean;
  /** Nanoseconds since the epoch (default: now). */
  when?: bigint;
}

/** One log record as the reference writes it: leading empty line, When, [Debug], [Err], Who, fields, Msg. */
export function formatLogRecord(who: string, fields: LogFields, human: string, opts: RecordOptions = {}): string {
  let rec = `\nWhen: ${formatWhen(opts.when ?? nowNs())}\n`;
  if (opts.debug) rec += 'Debug: true\n';
  if (opts.err !== undefined) rec += valueLines('Err', errText(opts.err));
  rec += valueLines('Who', who);
  for (const [k, v] of fields) {
    if (!FIELD_NAME.test(k)) throw new RangeError(`log field name ${JSON.stringify(k)} is not a recfile field name`);
    rec += valueLines(k, v);
  }
  return rec + valueLines('Msg', human);
}

function errText(err: unknown): string {
  return typeof err === 'string' ? err : errorLine(err);
}

export interface LoggerOptions {
  /** Log file, or "FD:<n>". Empty: do not write a log file. */
  path: string;
  quiet?: boolean;
  debug?: boolean;
  /** Where human lines go (default process.stderr). */
  stderr?: { write(s: string): unknown };
}

export class Logger {
  readonly path: string;
  readonly quiet: boolean;
  readonly debugOn: boolean;
  private readonly stderr: { write(s: string): unknown } | undefined;
  private lostRecords = 0;
  private readonly said = new Set<string>();
  /** The lock file and the log, kept open between the records of a burst (see append). */
  private held: HeldFiles | null = null;
  private idle: NodeJS.Timeout | null = null;
  private appended = 0;

  constructor(opts: LoggerOptions) {
    this.path = opts.path;
    this.quiet = opts.quiet ?? false;
    this.debugOn = opts.debug ?? false;
    this.stderr = opts.stderr;
  }

  /** Where human lines go; process.stderr is first touched here, as building that stream loads node:stream (a cost -quiet runs need not pay). */
  private get out(): { write(s: string): unknown } {
    return this.stderr ?? process.stderr;
  }

  /** Log an event: append the record, print its human line unless quiet. */
  info(who: string, fields: LogFields, human: string): void {
    this.emit(formatLogRecord(who, fields, human), human, undefined);
  }

  /** Log a failure: like info, with Err and an "ERROR" human line. */
  error(who: string, fields: LogFields, err: unknown, human: string, hint?: string): void {
    this.emit(formatLogRecord(who, fields, human, { err }), human, err, hint);
  }

  /** With -debug only: the raw record on stderr; never written to the log file. */
  debug(who: string, fields: LogFields, human: string): void {
    if (this.debugOn) this.out.write(printable(formatLogRecord(who, fields, human, { debug: true }), { keepNewlines: true }));
  }

  private emit(rec: string, human: string, err: unknown, hint?: string): void {
    if (this.debugOn) this.out.write(printable(rec, { keepNewlines: true }));
    if (!this.quiet) {
      const when = rec.slice('\nWhen: '.length, rec.indexOf('\n', 1));
      const line =
        err === undefined
          ? `${secondsOf(when)} ${printable(human)}`
          : `${secondsOf(when)} ERROR ${printable(human)}: ${printable(errText(err))}${hint ? ` (${printable(hint)})` : ''}`;
      this.out.write(line + '\n');
    }
    this.append(rec);
  }

  /** Records that could not be appended to the log file (each failure was said on stderr). */
  get lost(): number {
    return this.lostRecords;
  }

  /**
   * For a command about to exit: true when every record reached the log
   * file; otherwise false, after one line on stderr saying how many did not
   * (the command then exits non-zero: what it did is not all on record).
   */
  allWritten(command: string): boolean {
    if (this.lostRecords === 0) return true;
    const n = this.lostRecords;
    this.out.write(`pigeon ${command}: ${n} log record${n === 1 ? '' : 's'} could not be written to ${this.path}\n`);
    return false;
  }

  /** A record was not appended: count it, and say why unless that was said already. */
  private failed(why: string): void {
    this.lostRecords++;
    if (this.said.has(why)) return;
    this.said.add(why);
    this.out.write(why + '\n');
  }

  /** Append one record; problems are reported on stderr and counted, never thrown (the reference goes on too). */
  append(rec: string): void {
    if (this.path === '') return;
    const data = Buffer.from(rec, 'utf8');
    if (this.path.startsWith('FD:')) {
      const fd = Number(this.path.slice(3));
      try {
        if (!Number.isInteger(fd) || fd < 0) throw new Error(`log ${this.path}: not a file descriptor number`);
        writeAll(fd, data);
      } catch (err) {
        this.failed(`Can not write log ${this.path}: ${errorLine(err)}`);
      }
      return;
    }
    const lockFd = this.lock();
    if (lockFd === null) return;
    try {
      let fd: number;
      let start: number;
      try {
        [fd, start] = this.logFile();
      } catch (err) {
        this.failed(`Can not open log: ${errorLine(err)}`);
        return;
      }
      try {
        appendWhole(fd, data, start);
      } catch (err) {
        this.failed(`Can not write log ${this.path}: ${errorLine(err)}`);
        this.close();
      }
    } finally {
      try {
        flockSync(lockFd, 'un');
      } catch {
        this.close(); // closing the lock file releases the lock
      }
    }
    this.appended++;
    this.keepOpen();
  }

  /**
   * Take the log's lock: flock(2) LOCK_EX on `<log>.lock`, opened once and
   * kept. A lock file removed or replaced since it was opened is not the
   * one other writers lock: it is opened again. Null (said and counted)
   * when it cannot be had.
   */
  private lock(): number | null {
    const lockPath = this.path + '.lock';
    for (let attempt = 0; ; attempt++) {
      if (this.held === null) {
        let lockFd: number;
        let st: fs.Stats;
        try {
          lockFd = fs.openSync(lockPath, fs.constants.O_CREAT | fs.constants.O_WRONLY, 0o666);
          try {
            st = fs.fstatSync(lockFd);
          } catch (err) {
            fs.closeSync(lockFd);
            throw err;
          }
        } catch (err) {
          this.failed(`Can not open lock for log: ${errorLine(err)}`);
          return null;
        }
        this.held = { lockFd, lockDev: st.dev, lockIno: st.ino, fd: null, dev: 0, ino: 0 };
      }
      const held = this.held;
      try {
        flockSync(held.lockFd, 'ex');
      } catch (err) {
        this.close();
        this.failed(`Can not acquire lock for log: ${errorLine(err)}`);
        return null;
      }
      let now: fs.Stats | undefined;
      try {
        now = fs.statSync(lockPath, { throwIfNoEntry: false });
      } catch {
        return held.lockFd; // cannot look (permissions): keep the lock taken, as a fresh open would
      }
      if ((now !== undefined && now.dev === held.lockDev && now.ino === held.lockIno) || attempt >= 2) return held.lockFd;
      this.close();
    }
  }

  /**
   * The log file, open for appending, and its size (lock held): the one
   * opened before while the path still names it, else opened (created)
   * now, so that a log rotated away is followed to its new file.
   */
  private logFile(): [number, number] {
    const held = this.held!;
    const st = fs.statSync(this.path, { throwIfNoEntry: false });
    if (held.fd !== null && st !== undefined && st.dev === held.dev && st.ino === held.ino) return [held.fd, st.size];
    if (held.fd !== null) {
      const fd = held.fd;
      held.fd = null;
      fs.closeSync(fd);
    }
    const fd = fs.openSync(this.path, fs.constants.O_CREAT | fs.constants.O_WRONLY | fs.constants.O_APPEND, 0o666);
    const now = fs.fstatSync(fd);
    Object.assign(held, { fd, dev: now.dev, ino: now.ino });
    return [fd, now.size];
  }

  /** Close the held files once no record came for a while (an unref'd timer: it never keeps the process alive). */
  private keepOpen(): void {
    if (this.idle !== null) return;
    let seen = this.appended;
    const check = () => {
      if (this.appended !== seen) {
        seen = this.appended;
        this.idle = setTimeout(check, LOG_IDLE_MS).unref();
        return;
      }
      this.idle = null;
      this.close();
    };
    this.idle = setTimeout(check, LOG_IDLE_MS).unref();
  }

  /** Close the log and lock files kept open (the next record opens them again). */
  close(): void {
    const held = this.held;
    this.held = null;
    if (held === null) return;
    if (held.fd !== null) quietly(() => fs.closeSync(held.fd!));
    quietly(() => fs.closeSync(held.lockFd));
  }
}

/** How long the log and its lock stay open after a record (a toss of many packets logs one or two a packet). */
const LOG_IDLE_MS = 1000;

interface HeldFiles {
  lockFd: number;
  lockDev: number;
  lockIno: number;
  /** The log file, once opened, and its identity then. */
  fd: number | null;
  dev: number;
  ino: number;
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}

/**
 * Append `data` to the O_APPEND file `fd` of `start` bytes (log lock held),
 * all or nothing: a write cut short (disk full) is truncated back to where
 * it started.
 */
function appendWhole(fd: number, data: Uint8Array, start: number): void {
  try {
    writeAll(fd, data);
  } catch (err) {
    try {
      fs.ftruncateSync(fd, start);
    } catch {
      // the failure being reported is the write's
    }
    throw err;
  }
}

// ---- reading ----

interface ParsedWhen {
  date: Date;
  /** As Go's time.RFC3339 prints it: to the second, offset "Z" when zero. */
  seconds: string;
}

function parseWhen(raw: string): ParsedWhen | null {
  const m = RFC3339.exec(raw);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const zone = m[8].toUpperCase();
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  const base = Date.UTC(y, mo - 1, d, h, mi, s);
  if (new Date(base).getUTCDate() !== d) return null; // day out of range for the month
  let offsetMin = 0;
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const date = new Date(base - offsetMin * 60_000 + ms);
  const secs = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
  return { date, seconds: secs + (offsetMin === 0 ? 'Z' : zone) };
}

function secondsOf(whenRaw: string): string {
  return parseWhen(whenRaw)?.seconds ?? whenRaw;
}

/** Accumulates lines into records (recfile: blank lines separate records). */
class RecordParser {
  private fields = new Map<string, string>();
  private last: string | null = null;

  /** Feed one line (without its newline); returns a finished record when the line ends one. */
  line(l: string): LogRecord | null {
    if (l.trim() === '') return this.finish();
    if (l.startsWith('#')) return null;
    if (l.startsWith('+') && this.last !== null) {
      const rest = l.slice(1);
      this.fields.set(this.last, this.fields.get(this.last)! + '\n' + (rest.startsWith(' ') ? rest.slice(1) : rest));
      return null;
    }
    const m = FIELD_LINE.exec(l);
    if (m) {
      this.fields.set(m[1], m[2]);
      this.last = m[1];
    } else if (this.last !== null) {
      // Not recfile: the reference writes values with raw newlines (a file name
      // with "\n" in it). Keep the text as a continuation of the previous value.
      this.fields.set(this.last, this.fields.get(this.last)! + '\n' + l);
    }
    return null;
  }

  finish(): LogRecord | null {
    if (this.fields.size === 0) return null;
    const fields = this.fields;
    this.fields = new Map();
    this.last = null;
    const whenRaw = fields.get('When') ?? '';
    return { when: parseWhen(whenRaw)?.date ?? null, whenRaw, who: fields.get('Who') ?? '', fields };
  }
}

/** Parse one record's text (its lines, with or without the surrounding empty lines). */
export function parseLogRecord(text: string): LogRecord {
  const p = new RecordParser();
  for (const l of text.split('\n')) {
    if (l.trim() === '') continue;
    p.line(l);
  }
  return p.finish() ?? { when: null, whenRaw: '', who: '', fields: new Map() };
}

/** Parse a whole log text into records. */
export function parseLog(text: string): LogRecord[] {
  const p = new RecordParser();
  const out: LogRecord[] = [];
  for (const l of text.split('\n')) {
    const r = p.line(l);
    if (r) out.push(r);
  }
  const r = p.finish();
  if (r) out.push(r);
  return out;
}

/** Stream the records of a log file (or any readable stream), one at a time. */
export async function* readLog(input: string | NodeJS.ReadableStream): AsyncGenerator<LogRecord> {
  const stream = typeof input === 'string' ? fs.createReadStream(input) : input;
  // Loaded here, not at start-up: only reading a log needs it.
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  const p = new RecordParser();
  for await (const l of rl) {
    const r = p.line(l);
    if (r) yield r;
  }
  const r = p.finish();
  if (r) yield r;
}

/** A record's fields as Go prints a map[string]string: `map[K1:v1 K2:v2]`, keys sorted. */
export function goMapString(fields: Map<string, string>): string {
  const keys = [...fields.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `map[${keys.map((k) => `${k}:${fields.get(k)}`).join(' ')}]`;
}

/**
 * What nncp-log prints for a record, with what would drive the terminal
 * escaped (ESC, CR, ...). Newlines in a value stay, as nncp-log prints them
 * (a value's continuation lines); pigeon log matches nncp-log line for line.
 */
export function humanize(rec: LogRecord): string {
  const when = parseWhen(rec.whenRaw);
  if (when === null) {
    const raw = printable(JSON.stringify(rec.whenRaw));
    return `Can not humanize: parsing time ${raw} as ${JSON.stringify(GO_RFC3339NANO)}: cannot parse ${raw} as "2006"\n${printable(goMapString(rec.fields), { keepNewlines: true })}`;
  }
  let msg = rec.fields.get('Msg') ?? '';
  let level = '';
  const err = rec.fields.get('Err');
  if (err !== undefined) {
    level = 'ERROR ';
    msg += ': ' + err;
  }
  return `${when.seconds} ${level}${printable(msg, { keepNewlines: true })}`;
}
