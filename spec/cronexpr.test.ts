/**
 * Cron expressions: fire times compared live with the reference's
 * nncp-cronexpr (which prints the instant it started from, so our nextN is
 * run from that same instant), in UTC and in time zones with DST changes;
 * hand-checked fire times from fixed dates; refusals; and the CLI.
 */
import test, { type ExecutionContext } from 'ava';
import { parseCron } from '../src/cron/cronexpr.js';
import { PigeonError } from '../src/errors.js';
import { haveNncp, requireNncp, runNncp, runPigeon } from './helpers/util.js';

// Unit tests read wall-clock fields in UTC; the time-zone tests switch TZ
// only around synchronous code and switch it back.
process.env.TZ = 'UTC';

const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');

/** nncp-cronexpr's output: the instant it started from and the fire times (as printed). */
async function reference(expr: string, num: number, tz = 'UTC'): Promise<{ code: number; now: Date; times: string[]; stderr: string }> {
  const res = await runNncp('nncp-cronexpr', ['-num', String(num), expr], { env: { TZ: tz }, timeout: 10_000 });
  const lines = res.stdout.toString('utf8').split('\n').filter((l) => l !== '');
  const now = lines.length > 0 ? new Date(lines[0].replace(/^Now:\t/, '')) : new Date(NaN);
  return { code: res.code, now, times: lines.slice(1).map((l) => l.replace(/^\d+:\t/, '')), stderr: res.stderr };
}

/** Our fire times from `from`, computed with TZ set to `tz`. */
function ours(expr: string, from: Date, num: number, tz = 'UTC'): string[] {
  const saved = process.env.TZ;
  process.env.TZ = tz;
  try {
    return parseCron(expr).nextN(from, num).map(iso);
  } finally {
    process.env.TZ = saved;
  }
}

async function sameAsReference(t: ExecutionContext, exprs: readonly string[], tz = 'UTC', num = 20): Promise<void> {
  for (const expr of exprs) {
    const ref = await reference(expr, num, tz);
    t.is(ref.code, 0, `nncp-cronexpr refused ${JSON.stringify(expr)}: ${ref.stderr}`);
    t.deepEqual(ours(expr, ref.now, num, tz), ref.times, `${JSON.stringify(expr)} TZ=${tz} from ${ref.now.toISOString()}`);
  }
}

const SYNTAX = [
  // shorthands
  '@yearly', '@annually', '@monthly', '@weekly', '@daily', '@hourly', '@hourly and two ignored words',
  // 5, 6 and 7 fields; fields beyond the 7th ignored; any whitespace between
  '*/7 * * * *', '0 12 * * * 2027', '15 0 12 * * * 2027', '*/5 * * * * * *', '0 0 0 1 * * 2027 junk junk2', '0\t0  1 * *',
  // lists (empty items skipped), ranges, steps of every form, ? as *
  '1,,2 * * * *', '5-50/7 3-20/4 * * *', '10/15 * * * * * *', '*/59 * * * *', '*/23 0 * * *', '0 0 ? * ?',
  '*,foo * * * *', '0 0 1-31/10 * *', '0 0 * */5 *', '0 0 * * */6',
  // names, any case, in lists and ranges
  '0 12 * JAN-MAR,dec sun-tue', '0 12 * january,FEBRUARY * 2027/3', '0 0 * * sat,SUNDAY', '0 0 * * Mon-Fri', '0 0 * * 7',
  // L, LW, NW, NL, N#K, and both day fields restricted (either matches)
  '0 0 L * *', '0 0 LW * *', '0 0 1W * *', '0 0 15W * *', '0 0 31W * *', '0 0 * * 5L', '0 0 * * 1L', '0 0 * * FRI#5',
  '0 0 * * 0#1,6#4', '0 0 * * 3#5', '0 0 15W,L * MON', '0 0 13 * 5', '0 0 1-7 * 1', '0 0 L,LW,1 * SUN#2,SATL',
  // edge dates: leap days, month ends, year rollover, the last year
  '0 0 29 2 *', '0 0 0 L 2 * 2028', '59 23 31 12 *', '0 0 31 * *', '0 0 30 * *', '* * * * * 2099', '0 0 1 1 * 2099',
  '0 0 29 2 * 2096-2099', '59 59 23 31 12 * *',
  // never fires: impossible days, a day-of-week range ending in 7 (reads as 0), backwards years
  '0 0 30 2 *', '0 0 31-1 * *', '0 0 * * 1-7', '0 0 * * * 2030-2020', '0 0 1 1 * 2020',
];

test('every syntax feature gives the reference fire times (UTC, 20 each)', async (t) => {
  if (!requireNncp(t)) return;
  await sameAsReference(t, SYNTAX);
});

const DST = [
  '30 2 * * *', '0 */1 * * *', '30 2 8-14 3 0', '30 1 1-7 11 0', '0 30 1 * * * *', '0 30 2 * 3 0#2 *', '*/30 0-3 * 3,4,10,11 * *',
  '0 0,30 1-3 * 3,4,9,10,11 0 *', '0 59 1 * * * *', '0 0 0 L * * *', '@daily', '@hourly',
];

for (const tz of ['America/New_York', 'Europe/London', 'Australia/Lord_Howe', 'America/Santiago', 'America/Havana', 'Asia/Kolkata']) {
  test(`fire times are local wall-clock times, DST changes included, as the reference's (TZ=${tz})`, async (t) => {
    if (!requireNncp(t)) return;
    await sameAsReference(t, DST, tz);
  });
}

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomExpr(r: () => number): string {
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const DAYS = ['sun', 'MON', 'tue', 'Wednesday', 'thu', 'fri', 'SAT'];
  const MONS = ['jan', 'Feb', 'mar', 'APR', 'may', 'june', 'jul', 'aug', 'September', 'oct', 'nov', 'dec'];
  // Items that match at least one value (ranges forwards) for seconds..hours, month and year.
  const item = (lo: number, hi: number, name?: (v: number) => string) => {
    const v = (x: number) => (name && r() < 0.3 ? name(x) : String(x));
    const a = int(lo, hi);
    const b = int(a, hi);
    switch (int(0, 6)) {
      case 0: return '*';
      case 1: return v(a);
      case 2: return `${v(a)}-${v(b)}`;
      case 3: return `*/${int(1, Math.min(hi, 30))}`;
      case 4: return `${v(a)}/${int(1, Math.min(hi, 30))}`;
      case 5: return `${v(a)}-${v(b)}/${int(1, Math.min(hi, 30))}`;
      default: return v(a);
    }
  };
  const list = (gen: () => string) => Array.from({ length: int(1, 3) }, gen).join(',');
  const sec = list(() => item(0, 59));
  const min = list(() => item(0, 59));
  const hour = list(() => item(0, 23));
  const dom = list(() => (r() < 0.25 ? pick(['L', 'LW', `${int(1, 31)}W`]) : item(1, 31)));
  const month = list(() => item(1, 12, (m) => MONS[m - 1]));
  const dow = list(() => (r() < 0.3 ? pick([`${int(0, 7)}L`, `${pick(DAYS)}#${int(1, 5)}`, `${int(0, 6)}#${int(1, 5)}`]) : item(0, 6, (d) => DAYS[d])));
  const year = list(() => item(2026, 2099));
  switch (int(0, 2)) {
    case 0: return [min, hour, dom, month, dow].join(' ');
    case 1: return [min, hour, dom, month, dow, year].join(' ');
    default: return [sec, min, hour, dom, month, dow, year].join(' ');
  }
}

test('random expressions give the reference fire times', async (t) => {
  if (!requireNncp(t)) return;
  const r = prng(20261123);
  const exprs = Array.from({ length: 120 }, () => randomExpr(r));
  await sameAsReference(t, exprs);
  await sameAsReference(t, exprs.slice(0, 30), 'Europe/Berlin');
});

// ---------------------------------------------------------------- fixed dates (UTC), checked by hand against a calendar

function after(expr: string, from: string, n = 1): string[] {
  return ours(expr, new Date(from), n);
}

test('leap days, month ends and year rollover from fixed dates', (t) => {
  t.deepEqual(after('0 0 29 2 *', '2025-03-01T00:00:00Z', 3), ['2028-02-29T00:00:00Z', '2032-02-29T00:00:00Z', '2036-02-29T00:00:00Z']);
  t.deepEqual(after('0 0 29 2 *', '2028-02-28T23:59:59.999Z'), ['2028-02-29T00:00:00Z']);
  t.deepEqual(after('0 0 29 2 *', '2096-03-01T00:00:00Z', 5), [], 'years end at 2099, and 2100 is no leap year anyway');
  t.deepEqual(after('0 0 L * *', '2026-01-31T00:00:00Z', 2), ['2026-02-28T00:00:00Z', '2026-03-31T00:00:00Z']);
  t.deepEqual(after('0 0 L * *', '2028-02-01T00:00:00Z'), ['2028-02-29T00:00:00Z']);
  t.deepEqual(after('* * * * *', '2026-12-31T23:59:30Z'), ['2027-01-01T00:00:00Z']);
  t.deepEqual(after('59 23 31 12 *', '2026-12-31T23:59:00Z'), ['2027-12-31T23:59:00Z'], 'strictly after from');
  t.deepEqual(after('*/15 * * * * * *', '2026-01-01T00:00:14.999Z', 2), ['2026-01-01T00:00:15Z', '2026-01-01T00:00:30Z']);
  t.deepEqual(after('*/15 * * * * * *', '2026-01-01T00:00:15Z'), ['2026-01-01T00:00:30Z']);
  t.deepEqual(after('0 0 31 * *', '2026-04-01T00:00:00Z', 2), ['2026-05-31T00:00:00Z', '2026-07-31T00:00:00Z'], 'months without a 31st are skipped');
  t.deepEqual(after('0 12 1 1 * 2030', '2026-06-01T00:00:00Z', 5), ['2030-01-01T12:00:00Z']);
  t.deepEqual(after('0 0 31 2 *', '2026-06-01T00:00:00Z', 5), []);
});

test('L, LW, NW, NL, N#K and the day-field union from fixed dates', (t) => {
  // May 2026 ends on a Sunday: last weekday Friday the 29th; August 2026 ends on a Monday.
  t.deepEqual(after('0 0 LW * *', '2026-05-01T00:00:00Z'), ['2026-05-29T00:00:00Z']);
  t.deepEqual(after('0 0 LW * *', '2026-08-01T00:00:00Z'), ['2026-08-31T00:00:00Z']);
  // 1 February 2025 is a Saturday: 1W is Monday the 3rd (no jumping back into January).
  t.deepEqual(after('0 0 1W * *', '2025-01-15T00:00:00Z'), ['2025-02-03T00:00:00Z']);
  // 15 June 2025 is a Sunday (→ 16th); 15 February 2025 a Saturday (→ 14th).
  t.deepEqual(after('0 0 15W * *', '2025-06-01T00:00:00Z'), ['2025-06-16T00:00:00Z']);
  t.deepEqual(after('0 0 15W * *', '2025-02-01T00:00:00Z'), ['2025-02-14T00:00:00Z']);
  // 31 May 2026 is a Sunday and the last day: 31W is Friday the 29th; June has no 31st.
  t.deepEqual(after('0 0 31W * *', '2026-05-01T00:00:00Z', 2), ['2026-05-29T00:00:00Z', '2026-07-31T00:00:00Z']);
  // November 2026: 1st a Sunday, 30th a Monday.
  t.deepEqual(after('0 0 * * 5L', '2026-11-01T00:00:00Z'), ['2026-11-27T00:00:00Z']);
  t.deepEqual(after('0 0 * * 1#1', '2026-11-01T00:00:00Z'), ['2026-11-02T00:00:00Z']);
  t.deepEqual(after('0 0 * * FRI#5', '2026-11-01T00:00:00Z'), ['2027-01-29T00:00:00Z'], 'no fifth Friday in Nov or Dec 2026');
  t.deepEqual(after('0 0 13 * 5', '2026-11-01T00:00:00Z', 5), ['2026-11-06T00:00:00Z', '2026-11-13T00:00:00Z', '2026-11-20T00:00:00Z', '2026-11-27T00:00:00Z', '2026-12-04T00:00:00Z']);
  t.deepEqual(after('@weekly', '2026-11-23T10:00:00Z'), ['2026-11-29T00:00:00Z']);
});

test('equivalent spellings give the same times', (t) => {
  const from = new Date('2026-03-10T10:11:12Z');
  const same = (a: string, b: string) => t.deepEqual(ours(a, from, 30), ours(b, from, 30), `${a} vs ${b}`);
  same('0 0 * * 7', '0 0 * * 0');
  same('0 0 * * Mon-Fri', '0 0 * * 1-5');
  same('0 0 * * monday,TUE', '0 0 * * 1,2');
  same('0 0 1 JAN,feb,March *', '0 0 1 1-3 *');
  same('5/20 * * * *', '5,25,45 * * * *');
  same('10-40/15 * * * *', '10,25,40 * * * *');
  same('* * * * *', '0 * * * * * *');
  same('0 0 ? * ?', '0 0 * * *');
  same('@daily', '0 0 * * *');
  same('@hourly', '0 * * * *');
  same('@monthly', '0 0 1 * *');
  same('@yearly', '0 0 1 1 *');
  same('0 0 0 1 1 * 2030 x y z', '0 0 0 1 1 * 2030');
});

test('next() is the first of nextN() and a bad date gives null', (t) => {
  const cron = parseCron('*/10 * * * *');
  const from = new Date('2026-05-05T05:05:05Z');
  t.is(iso(cron.next(from)!), cron.nextN(from, 3).map(iso)[0]);
  t.is(cron.next(new Date(NaN)), null);
  t.deepEqual(cron.nextN(from, 0), []);
});

// ---------------------------------------------------------------- refusals

const REFUSED: ReadonlyArray<readonly [string, RegExp]> = [
  ['* * * *', /4 field/],
  ['', /0 field/],
  ['@reboot', /1 field/],
  ['@minutely', /1 field/],
  ['@HOURLY', /1 field/],
  ['60 * * * *', /minute field "60"/],
  ['* 24 * * *', /hour field "24"/],
  ['* * 0 * *', /day-of-month field "0"/],
  ['* * * 13 *', /month field "13"/],
  ['* * * * 8', /day-of-week field "8"/],
  ['* * * * * 2100', /year field "2100"/],
  ['* * * * * 1969', /year field "1969"/],
  ['*/0 * * * *', /minute field "\*\/0".*step/],
  ['*/60 * * * *', /minute field "\*\/60".*step/],
  ['* * * * */7', /day-of-week field "\*\/7".*step/],
  ['0 0 * * FRI#6', /day-of-week field "FRI#6"/],
  ['0 0 LX * *', /day-of-month field "LX"/],
  ['0 0 *,foo * *', /day-of-month field "\*,foo"/],
  ['foo,* * * * *', /minute field "foo,\*"/],
  [', * * * *', /minute field ",": no value/],
];

test('malformed expressions are refused with one line naming the expression and the field, as the reference refuses them', async (t) => {
  const check = haveNncp() || requireNncp(t);
  for (const [expr, re] of REFUSED) {
    const err = t.throws(() => parseCron(expr), { instanceOf: PigeonError }, expr);
    if (!err) continue;
    t.regex(err.message, re, expr);
    t.true(err.message.includes(JSON.stringify(expr)), `${err.message} names ${expr}`);
    t.false(err.message.includes('\n'));
    if (check) {
      const ref = await reference(expr, 1);
      t.not(ref.code, 0, `nncp-cronexpr accepted ${JSON.stringify(expr)}`);
    }
  }
});

test('a field that matches nothing where the reference would crash is refused', async (t) => {
  for (const [expr, field] of [['30-10 * * * *', 'minute'], ['* 5-1 * * *', 'hour'], ['50-10 * * * * * *', 'second'], ['0 0 1 12-1 *', 'month']]) {
    const err = t.throws(() => parseCron(expr), { instanceOf: PigeonError });
    t.regex(err?.message ?? '', new RegExp(`${field} field .*matches no ${field}`));
  }
  if (!requireNncp(t)) return;
  const ref = await reference('30-10 * * * *', 3);
  t.regex(ref.stderr, /panic/, 'the reference panics on an empty minute list');
});

test('zero-padded months and days of week, which the reference misreads, are refused', async (t) => {
  for (const [expr, re] of [
    ['0 0 1 01 *', /month field "01".*no month at all.*write 1/],
    ['0 0 1 1-09 *', /month field "1-09"/],
    ['0 0 * * 05', /day-of-week field "05".*Sunday.*write 5/],
    ['0 0 * * 05L', /day-of-week field "05L"/],
  ] as const) {
    const err = t.throws(() => parseCron(expr), { instanceOf: PigeonError });
    t.regex(err?.message ?? '', re);
  }
  // 00 and 07 are read right (Sunday), and a wildcard before a bad item wins, as in the reference.
  const from = new Date('2026-01-01T00:00:00Z');
  t.deepEqual(ours('0 0 * * 07', from, 5), ours('0 0 * * 0', from, 5));
  t.deepEqual(ours('0 0 * * 00', from, 5), ours('0 0 * * 0', from, 5));
  t.deepEqual(ours('0 0 1 *,01 *', from, 5), ours('0 0 1 * *', from, 5));
  if (!requireNncp(t)) return;
  // What the reference does with them: "05" fires on Sundays, "01" repeats one date.
  const friday = await reference('0 0 * * 05', 10);
  t.true(friday.times.length > 0 && friday.times.every((s) => new Date(s).getUTCDay() === 0));
  const jan = await reference('0 0 1 01 *', 4);
  t.is(new Set(jan.times).size, 1, `nncp-cronexpr repeats one date: ${jan.times.join(' ')}`);
});

// ---------------------------------------------------------------- the command

const FAR = ['0 0 1 1 * 2090-2099', '0 0 29 2 * 2080-2099', '0 30 12 L * * 2098-2099', '0 0 * * FRI#5 2099'];

test('pigeon cronexpr prints what nncp-cronexpr prints', async (t) => {
  if (!requireNncp(t)) return;
  const runs = [...[undefined, '0', '3'].map((num) => [FAR[0], num] as const), ...FAR.map((expr) => [expr, '20'] as const)];
  for (const [expr, num] of runs) {
    {
      const args = num === undefined ? [expr] : ['-num', num, expr];
      const [mine, ref] = await Promise.all([runPigeon(['cronexpr', ...args], { env: { TZ: 'UTC' } }), runNncp('nncp-cronexpr', args, { env: { TZ: 'UTC' } })]);
      t.is(mine.code, 0, mine.stderr);
      t.is(ref.code, 0);
      const m = mine.stdout.toString().split('\n');
      const r = ref.stdout.toString().split('\n');
      t.regex(m[0], /^Now:\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
      t.deepEqual(m.slice(1), r.slice(1), `${args.join(' ')}`);
    }
  }
  // The expression may come as separate words, as the reference joins its arguments.
  const words = await runPigeon(['cronexpr', '-num', '5', '0', '0', '1', '1', '*', '2090-2099']);
  const joined = await runNncp('nncp-cronexpr', ['-num', '5', '0', '0', '1', '1', '*', '2090-2099']);
  t.deepEqual(words.stdout.toString().split('\n').slice(1), joined.stdout.toString().split('\n').slice(1));
});

test('pigeon cronexpr: fire times follow its Now line', async (t) => {
  const res = await runPigeon(['cronexpr', '-num', '12', '*/5 * * * * * *'], { env: { TZ: 'UTC' } });
  t.is(res.code, 0, res.stderr);
  const lines = res.stdout.toString().trimEnd().split('\n');
  t.is(lines.length, 13);
  const now = new Date(lines[0].replace('Now:\t', ''));
  const expected = ours('*/5 * * * * * *', now, 12).map((s, i) => `${i}:\t${s}`);
  t.deepEqual(lines.slice(1), expected);
});

test('pigeon cronexpr refuses bad expressions and flags with one line and exit 1', async (t) => {
  for (const args of [['* * * *'], ['-num', 'x', '@daily'], ['-num', '-1', '@daily'], [], ['0 0 1 01 *']]) {
    const res = await runPigeon(['cronexpr', ...args]);
    t.is(res.code, 1, args.join(' '));
    t.is(res.stdout.length, 0);
    t.regex(res.stderr, /^pigeon cronexpr: [^\n]+\n$/);
  }
});
