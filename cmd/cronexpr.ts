/**
 * `pigeon cronexpr [-num N] EXPR…` — nncp-cronexpr: check a cron expression
 * (the words are joined with spaces) and print the current time and the
 * next N fire times, in UTC, as the reference does:
 *
 *   Now:	2026-11-23T19:14:59.60090971Z
 *   0:	2026-11-23T19:15:00Z
 *
 * Fire times are computed in the local time zone (TZ), like the caller's.
 */
import type { CommandModule } from 'yargs';
import { parseCron } from '../src/cron/cronexpr.js';
import { PigeonError } from '../src/errors.js';
import { formatWhen, nowNs } from '../src/log/log.js';
import { run } from './common.js';

interface Args {
  num: string;
  expr?: string[];
}

/** Lines nncp-cronexpr prints for `expr` at instant `nowNanos`. */
function cronexprLines(expr: string, nowNanos: bigint, num: number): string[] {
  const cron = parseCron(expr);
  const from = new Date(Number(nowNanos / 1_000_000n));
  const lines = [`Now:\t${formatWhen(nowNanos)}`];
  cron.nextN(from, num).forEach((t, i) => lines.push(`${i}:\t${formatWhen(BigInt(t.getTime()) * 1_000_000n)}`));
  return lines;
}

export const cronexprCommand: CommandModule<object, Args> = {
  command: 'cronexpr [expr..]',
  describe: 'Check a cron expression and print its next fire times',
  builder: (y) =>
    y
      .positional('expr', { type: 'string', array: true, describe: 'Cron expression (its fields may be separate arguments)' })
      .option('num', { type: 'string', default: '10', describe: 'Number of future entries to print' }) as never,
  handler: (argv) =>
    run('cronexpr', () => {
      const numText = String(argv.num);
      const num = /^[0-9]{1,9}$/.test(numText) ? Number(numText) : NaN;
      if (Number.isNaN(num)) throw new PigeonError('EUSAGE', `-num ${numText}: expected a whole number, 0 or more`);
      const words = (argv.expr ?? []).map(String);
      if (words.length === 0) throw new PigeonError('EUSAGE', 'no cron expression given: pigeon cronexpr [-num N] "*/5 * * * *"');
      process.stdout.write(cronexprLines(words.join(' '), nowNs(), num).join('\n') + '\n');
    }),
};
