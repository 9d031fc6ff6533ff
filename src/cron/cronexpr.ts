/**
 * Cron expressions as NNCP reads them (manual: Call, "cron"; the reference
 * uses github.com/gorhill/cronexpr): the same syntax, the same fire times.
 *
 *   [seconds] minutes hours day-of-month month day-of-week [year]
 *
 * Five fields get seconds 0 and any year; six fields are minutes..year
 * (seconds 0); seven are all of them; fields past the seventh are ignored.
 * @yearly @annually @monthly @weekly @daily @hourly stand for their
 * seven-field forms (lower case only; @reboot and @minutely are refused).
 * Each field is a comma list of `*` or `?`, N, A-B, *\/S, N/S (N to the
 * field's end), A-B/S; the step S is 1..(field's maximum). Months and
 * days of week take English names and abbreviations in any case; day of
 * week 7 is Sunday. Day of month also takes L (last day), LW (last
 * weekday), NW (weekday nearest to N, within the month); day of week takes
 * NL (last such weekday of the month) and N#K (K-th such weekday, 1..5).
 * When both day fields are restricted a day matching either one fires.
 *
 * Times are computed in the LOCAL time zone (TZ), as the reference does:
 * the fields are wall-clock fields, and a wall-clock time that does not
 * exist or exists twice at a DST change resolves as Go's time.Date does.
 *
 * Where the reference's parser misreads or crashes, we refuse instead,
 * with a message saying why:
 *  - a second, minute, hour or month field that matches no value at all
 *    (like 30-10): the reference panics when it gets to use it;
 *  - a zero-padded month 01..09 or day of week 01..06: the reference reads
 *    each of them as 0 (no month at all, or Sunday).
 * A day-of-month, day-of-week or year field that matches nothing is
 * accepted and never fires (next() returns null), as in the reference.
 */
import { PigeonError } from '../errors.js';

export interface Cron {
  /** The expression as given. */
  readonly expr: string;
  /** The first fire time strictly after `from` (to the second), or null if there is none (years end at 2099). */
  next(from: Date): Date | null;
  /** Up to `n` fire times after `from`, in order (fewer when they run out). */
  nextN(from: Date, n: number): Date[];
}

// ---------------------------------------------------------------- tokens

/** Numbers as the reference spells them: 0..59 (with 00..09) and the years 1970..2099. */
const NUMBERS = new Map<string, number>();
for (let i = 0; i < 60; i++) {
  NUMBERS.set(String(i), i);
  if (i < 10) NUMBERS.set(`0${i}`, i);
}
for (let y = 1970; y <= 2099; y++) NUMBERS.set(String(y), y);

const MONTH_NAMES = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const DOW_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

const MONTHS = new Map<string, number>();
MONTH_NAMES.forEach((name, i) => {
  MONTHS.set(String(i + 1), i + 1);
  MONTHS.set(name.slice(0, 3), i + 1);
  MONTHS.set(name, i + 1);
});
const DOWS = new Map<string, number>([['7', 0]]);
DOW_NAMES.forEach((name, i) => {
  DOWS.set(String(i), i);
  DOWS.set(name.slice(0, 3), i);
  DOWS.set(name, i);
});

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Alternatives a single value may be written as (a regexp fragment, lower case). */
  value: string;
  /** The value a token stands for; tokens the table lacks read as 0, as in the reference. */
  table: Map<string, number>;
  /** Tokens the reference matches but misreads: refused, with this hint. */
  misread?: RegExp;
}

const mon = MONTH_NAMES.map((n) => n.slice(0, 3)).join('|');
const dow = DOW_NAMES.map((n) => n.slice(0, 3)).join('|');

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59, value: '0?[0-9]|[1-5][0-9]', table: NUMBERS };
const MINUTE: FieldSpec = { ...SECOND, name: 'minute' };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23, value: '0?[0-9]|1[0-9]|2[0-3]', table: NUMBERS };
const DOM: FieldSpec = { name: 'day-of-month', min: 1, max: 31, value: '0?[1-9]|[12][0-9]|3[01]', table: NUMBERS };
const MONTH: FieldSpec = {
  name: 'month',
  min: 1,
  max: 12,
  value: `0?[1-9]|1[012]|${mon}|${MONTH_NAMES.join('|')}`,
  table: MONTHS,
  misread: /^0[1-9]$/,
};
const DOW: FieldSpec = {
  name: 'day-of-week',
  min: 0,
  max: 6,
  value: `0?[0-7]|${dow}|${DOW_NAMES.join('|')}`,
  table: DOWS,
  misread: /^0[1-6]$/,
};
const YEAR: FieldSpec = { name: 'year', min: 1970, max: 2099, value: '19[789][0-9]|20[0-9]{2}', table: NUMBERS };

const SHORTHANDS: ReadonlyArray<readonly [string, string]> = [
  ['@yearly', '0 0 0 1 1 * *'],
  ['@annually', '0 0 0 1 1 * *'],
  ['@monthly', '0 0 0 1 * * *'],
  ['@weekly', '0 0 0 * * 0 *'],
  ['@daily', '0 0 0 * * * *'],
  ['@hourly', '0 0 * * * * *'],
];

/** Go's \s is [\t\n\f\r ]: fields are the runs of anything else. */
const FIELD_RE = /[^\t\n\f\r ]+/g;

// ---------------------------------------------------------------- parsing

class CronSyntaxError extends PigeonError {
  constructor(expr: string, detail: string) {
    super('EUSAGE', `cron expression ${JSON.stringify(expr)}: ${detail}`);
    this.name = 'CronSyntaxError';
  }
}

/** One comma-separated item of a field, before the field gives it meaning. */
type Item =
  | { kind: 'all' }
  | { kind: 'values'; from: number; to: number; step: number; misread?: string }
  | { kind: 'other'; text: string };

const patternCache = new Map<string, { one: RegExp; range: RegExp; starStep: RegExp; oneStep: RegExp; rangeStep: RegExp; last: RegExp; nth: RegExp; work: RegExp }>();

function patterns(spec: FieldSpec) {
  let p = patternCache.get(spec.value);
  if (!p) {
    const v = `(${spec.value})`;
    p = {
      one: new RegExp(`^${v}$`),
      range: new RegExp(`^${v}-${v}$`),
      starStep: /^\*\/([0-9]+)$/,
      oneStep: new RegExp(`^${v}/([0-9]+)$`),
      rangeStep: new RegExp(`^${v}-${v}/([0-9]+)$`),
      last: new RegExp(`^${v}l$`),
      nth: new RegExp(`^${v}#([1-5])$`),
      work: new RegExp(`^${v}w$`),
    };
    patternCache.set(spec.value, p);
  }
  return p;
}

class FieldParser {
  constructor(
    readonly expr: string,
    readonly spec: FieldSpec,
    readonly text: string,
  ) {}

  fail(detail: string): never {
    throw new CronSyntaxError(this.expr, `${this.spec.name} field ${JSON.stringify(this.text)}: ${detail}`);
  }

  /** The value of a token the field's pattern accepted (refused if the reference misreads it). */
  value(token: string): number {
    this.checkMisread(token);
    return this.spec.table.get(token) ?? 0;
  }

  checkMisread(token: string | undefined): void {
    if (token === undefined || !this.spec.misread?.test(token)) return;
    const what = this.spec === MONTH ? 'no month at all' : 'Sunday';
    this.fail(`NNCP reads ${JSON.stringify(token)} as ${what}: write ${Number(token)}, without the leading zero`);
  }

  /** A token's value, and the token itself when the reference misreads it (refused only if the item is used). */
  lazy(tokens: string[]): { values: number[]; misread?: string } {
    return { values: tokens.map((t) => this.spec.table.get(t) ?? 0), misread: tokens.find((t) => this.spec.misread?.test(t)) };
  }

  step(token: string, item: string): number {
    const s = NUMBERS.get(token) ?? 0;
    if (s < 1 || s > this.spec.max) this.fail(`step in ${JSON.stringify(item)} must be 1..${this.spec.max}`);
    return s;
  }

  /** The items of the field, in order. */
  items(): Item[] {
    const parts = this.text.split(',').filter((s) => s !== '');
    if (parts.length === 0) this.fail('no value in it (expected a value, range, list or *)');
    const p = patterns(this.spec);
    const { min, max } = this.spec;
    return parts.map((raw): Item => {
      const s = raw.toLowerCase();
      let m: RegExpExecArray | null;
      if (s === '*' || s === '?') return { kind: 'all' };
      if ((m = p.one.exec(s))) {
        const { values, misread } = this.lazy([m[1]]);
        return { kind: 'values', from: values[0], to: values[0], step: 1, misread };
      }
      if ((m = p.range.exec(s))) {
        const { values, misread } = this.lazy([m[1], m[2]]);
        return { kind: 'values', from: values[0], to: values[1], step: 1, misread };
      }
      if ((m = p.starStep.exec(s))) return { kind: 'values', from: min, to: max, step: this.step(m[1], raw) };
      if ((m = p.oneStep.exec(s))) {
        const { values, misread } = this.lazy([m[1]]);
        return { kind: 'values', from: values[0], to: max, step: this.step(m[2], raw), misread };
      }
      if ((m = p.rangeStep.exec(s))) {
        const { values, misread } = this.lazy([m[1], m[2]]);
        return { kind: 'values', from: values[0], to: values[1], step: this.step(m[3], raw), misread };
      }
      return { kind: 'other', text: raw };
    });
  }

  /** A plain field (seconds, minutes, hours, month, year): its sorted values. */
  plain(mustMatch: boolean): number[] {
    const set = new Set<number>();
    for (const it of this.items()) {
      if (it.kind === 'all') return range(this.spec.min, this.spec.max, 1);
      if (it.kind === 'other') this.syntax(it.text);
      this.checkMisread(it.misread);
      addRange(set, it.from, it.to, it.step);
    }
    if (mustMatch && set.size === 0) this.fail(`matches no ${this.spec.name} at all (is a range backwards?)`);
    return sorted(set);
  }

  syntax(item: string): never {
    const { name, min, max } = this.spec;
    this.fail(`${JSON.stringify(item)} is not understood (expected a ${name} ${min}-${max}, a range A-B, a list, * or a step like */5)`);
  }
}

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

function addRange(set: Set<number>, from: number, to: number, step: number): void {
  for (let v = from; v <= to; v += step) set.add(v);
}

function sorted(set: Iterable<number>): number[] {
  return [...set].sort((a, b) => a - b);
}

/** What the day-of-month and day-of-week fields ask for. */
interface DaySpec {
  domRestricted: boolean;
  dom: Set<number>;
  /** NW: the weekday nearest to N. */
  domWork: Set<number>;
  lastDom: boolean;
  lastWorkDom: boolean;
  dowRestricted: boolean;
  dow: Set<number>;
  /** N#K, stored as (K-1)*7 + N. */
  dowNth: Set<number>;
  /** NL. */
  dowLast: Set<number>;
}

function parseDom(f: FieldParser, days: DaySpec): void {
  const p = patterns(DOM);
  for (const it of f.items()) {
    if (it.kind === 'all') {
      addRange(days.dom, DOM.min, DOM.max, 1);
      days.domRestricted = false;
    } else if (it.kind === 'values') {
      addRange(days.dom, it.from, it.to, it.step);
    } else {
      const s = it.text.toLowerCase();
      const m = p.work.exec(s);
      if (s === 'l') days.lastDom = true;
      else if (s === 'lw') days.lastWorkDom = true;
      else if (m) days.domWork.add(f.value(m[1]));
      else f.fail(`${JSON.stringify(it.text)} is not understood (expected a day 1-31, a range A-B, a list, *, L, LW, NW or a step like */5)`);
    }
  }
}

function parseDow(f: FieldParser, days: DaySpec): void {
  const p = patterns(DOW);
  for (const it of f.items()) {
    if (it.kind === 'all') {
      addRange(days.dow, DOW.min, DOW.max, 1);
      days.dowRestricted = false;
    } else if (it.kind === 'values') {
      f.checkMisread(it.misread);
      addRange(days.dow, it.from, it.to, it.step);
    } else {
      const s = it.text.toLowerCase();
      let m: RegExpExecArray | null;
      if ((m = p.last.exec(s))) days.dowLast.add(f.value(m[1]));
      else if ((m = p.nth.exec(s))) days.dowNth.add((Number(m[2]) - 1) * 7 + (f.value(m[1]) % 7));
      else f.fail(`${JSON.stringify(it.text)} is not understood (expected a day 0-7 or SUN-SAT, a range A-B, a list, *, NL, N#K or a step like */2)`);
    }
  }
}

/** Parse a cron expression; a PigeonError naming the expression and the faulty field if it is not one. */
export function parseCron(expr: string): Cron {
  let text = expr;
  for (const [name, full] of SHORTHANDS) text = text.split(name).join(full);
  const fields = text.match(FIELD_RE) ?? [];
  if (fields.length < 5) {
    throw new CronSyntaxError(expr, `${fields.length} field(s), expected 5 (minute hour day-of-month month day-of-week), 6 (… year), 7 (second …) or @hourly, @daily, @weekly, @monthly, @yearly`);
  }
  const count = Math.min(fields.length, 7);
  let i = 0;
  const field = (spec: FieldSpec) => new FieldParser(expr, spec, fields[i++]);
  const seconds = count === 7 ? field(SECOND).plain(true) : [0];
  const minutes = field(MINUTE).plain(true);
  const hours = field(HOUR).plain(true);
  const days: DaySpec = {
    domRestricted: true,
    dom: new Set(),
    domWork: new Set(),
    lastDom: false,
    lastWorkDom: false,
    dowRestricted: true,
    dow: new Set(),
    dowNth: new Set(),
    dowLast: new Set(),
  };
  parseDom(field(DOM), days);
  const months = field(MONTH).plain(true);
  parseDow(field(DOW), days);
  const years = i < count ? field(YEAR).plain(false) : range(YEAR.min, YEAR.max, 1);
  return new CronExpr(expr, { seconds, minutes, hours, months, years, days });
}

// ---------------------------------------------------------------- evaluation

interface Schedule {
  seconds: number[];
  minutes: number[];
  hours: number[];
  months: number[];
  years: number[];
  days: DaySpec;
}

/** Index of the first element >= v (Go's sort.SearchInts). */
function lowerBound(list: readonly number[], v: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Wall-clock fields of an instant in the local time zone; month 1..12. */
interface Wall {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

function wall(t: Date): Wall {
  return { y: t.getFullYear(), mo: t.getMonth() + 1, d: t.getDate(), h: t.getHours(), mi: t.getMinutes(), s: t.getSeconds() };
}

/** Offset of local time from UTC at an instant, in ms. */
function offsetAt(ms: number): number {
  return -new Date(ms).getTimezoneOffset() * 60_000;
}

/**
 * The instant of a local wall-clock time, out-of-range fields carried over
 * as Go's time.Date does; a time skipped or repeated by a DST change gets
 * the offset Go picks: the one in force at the wall time read as UTC,
 * unless the result falls outside that offset's span.
 */
function localTime(y: number, mo: number, d: number, h: number, mi: number, s: number): Date {
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  return new Date(asUtc - offsetAt(asUtc - offsetAt(asUtc)));
}

/** The days of a month that fire, sorted. */
function daysOfMonth(days: DaySpec, year: number, month: number): number[] {
  const first = new Date(Date.UTC(year, month - 1, 1));
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const weekday = (day: number) => (first.getUTCDay() + day - 1) % 7;
  if (!days.domRestricted && !days.dowRestricted) return range(1, last, 1);
  const out = new Set<number>();
  // The weekday nearest to `day`, without leaving the month.
  const workday = (day: number) => {
    const wd = weekday(day);
    if (wd === 6) return day > 1 ? day - 1 : day + 2;
    if (wd === 0) return day < last ? day + 1 : day - 2;
    return day;
  };
  if (days.domRestricted) {
    if (days.lastDom) out.add(last);
    if (days.lastWorkDom) out.add(workday(last));
    for (const d of days.dom) if (d <= last) out.add(d);
    for (const d of days.domWork) if (d <= last) out.add(workday(d));
  }
  if (days.dowRestricted) {
    // Day of month of the first `w` (0 = Sunday) is 1 + (w - weekday(1)) mod 7.
    const firstOf = (w: number) => 1 + ((7 - weekday(1) + w) % 7);
    for (const w of days.dow) {
      for (let d = firstOf(w); d <= last; d += 7) out.add(d);
    }
    for (const v of days.dowNth) {
      const d = firstOf(v % 7) + 7 * Math.floor(v / 7);
      if (d <= last) out.add(d);
    }
    const lastWeek = last - 6;
    for (const w of days.dowLast) out.add(lastWeek + ((7 - weekday(lastWeek) + w) % 7));
  }
  return sorted(out);
}

/**
 * One walk through the schedule. Like the reference, stepping to the next
 * second/minute/... assumes the coarser fields of `t` already match, and
 * the days of the current month are remembered from the last month looked at.
 */
class Walk {
  private days: number[] = [];
  constructor(private readonly s: Schedule) {}

  private monthDays(y: number, mo: number): number[] {
    this.days = daysOfMonth(this.s.days, y, mo);
    return this.days;
  }

  first(from: Date): Date | null {
    const s = this.s;
    const t = wall(from);
    let i = lowerBound(s.years, t.y);
    if (i === s.years.length) return null;
    if (s.years[i] !== t.y) return this.nextYear(t);
    i = lowerBound(s.months, t.mo);
    if (i === s.months.length) return this.nextYear(t);
    if (s.months[i] !== t.mo) return this.nextMonth(t);
    const days = this.monthDays(t.y, t.mo);
    if (days.length === 0) return this.nextMonth(t);
    i = lowerBound(days, t.d);
    if (i === days.length) return this.nextMonth(t);
    if (days[i] !== t.d) return this.nextDay(t);
    i = lowerBound(s.hours, t.h);
    if (i === s.hours.length) return this.nextDay(t);
    if (s.hours[i] !== t.h) return this.nextHour(t);
    i = lowerBound(s.minutes, t.mi);
    if (i === s.minutes.length) return this.nextHour(t);
    if (s.minutes[i] !== t.mi) return this.nextMinute(t);
    i = lowerBound(s.seconds, t.s);
    if (i === s.seconds.length) return this.nextMinute(t);
    return this.nextSecond(t);
  }

  nextYear(t: Wall): Date | null {
    const s = this.s;
    // Iterative where the reference recurses: a year whose first month has no day skips to the next month.
    const i = lowerBound(s.years, t.y + 1);
    if (i === s.years.length) return null;
    const y = s.years[i];
    const days = this.monthDays(y, s.months[0]);
    if (days.length === 0) return this.nextMonth(wall(localTime(y, s.months[0], 1, s.hours[0], s.minutes[0], s.seconds[0])));
    return localTime(y, s.months[0], days[0], s.hours[0], s.minutes[0], s.seconds[0]);
  }

  nextMonth(t: Wall): Date | null {
    const s = this.s;
    for (;;) {
      const i = lowerBound(s.months, t.mo + 1);
      if (i === s.months.length) return this.nextYear(t);
      const mo = s.months[i];
      const days = this.monthDays(t.y, mo);
      if (days.length > 0) return localTime(t.y, mo, days[0], s.hours[0], s.minutes[0], s.seconds[0]);
      t = wall(localTime(t.y, mo, 1, s.hours[0], s.minutes[0], s.seconds[0]));
    }
  }

  nextDay(t: Wall): Date | null {
    const s = this.s;
    const i = lowerBound(this.days, t.d + 1);
    if (i === this.days.length) return this.nextMonth(t);
    return localTime(t.y, t.mo, this.days[i], s.hours[0], s.minutes[0], s.seconds[0]);
  }

  nextHour(t: Wall): Date | null {
    const s = this.s;
    const i = lowerBound(s.hours, t.h + 1);
    if (i === s.hours.length) return this.nextDay(t);
    return localTime(t.y, t.mo, t.d, s.hours[i], s.minutes[0], s.seconds[0]);
  }

  nextMinute(t: Wall): Date | null {
    const s = this.s;
    const i = lowerBound(s.minutes, t.mi + 1);
    if (i === s.minutes.length) return this.nextHour(t);
    return localTime(t.y, t.mo, t.d, t.h, s.minutes[i], s.seconds[0]);
  }

  nextSecond(t: Wall): Date | null {
    const s = this.s;
    const i = lowerBound(s.seconds, t.s + 1);
    if (i === s.seconds.length) return this.nextMinute(t);
    return localTime(t.y, t.mo, t.d, t.h, t.mi, s.seconds[i]);
  }

  /** The fire time after `prev`, itself a fire time of this walk. */
  after(prev: Date): Date | null {
    return this.nextSecond(wall(prev));
  }
}

class CronExpr implements Cron {
  constructor(
    readonly expr: string,
    private readonly schedule: Schedule,
  ) {}

  next(from: Date): Date | null {
    if (Number.isNaN(from.getTime())) return null;
    return new Walk(this.schedule).first(from);
  }

  nextN(from: Date, n: number): Date[] {
    const out: Date[] = [];
    if (n <= 0 || Number.isNaN(from.getTime())) return out;
    const walk = new Walk(this.schedule);
    let t = walk.first(from);
    while (t !== null) {
      out.push(t);
      if (out.length >= n) break;
      t = walk.after(t);
    }
    return out;
  }
}
