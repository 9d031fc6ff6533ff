/**
 * fspl's command line, parsed the way its parser (clap 3) does: GNU-style
 * `-q DIR`, `-qDIR`, `--queuedir DIR`, `--queuedir=DIR`, flags anywhere
 * among the positionals, and everything after `--` taken as PARAMS. Help
 * texts are generated from the same tables. A usage error is one line and
 * exit status 2, as with fspl.
 */
import { PigeonError } from '../errors.js';

export interface OptSpec {
  long: string;
  short?: string;
  /** Placeholder of the option's value (DIR, FILE...); absent for a flag. */
  value?: string;
  required?: boolean;
  help: string;
}

export interface PosSpec {
  name: string;
  required: boolean;
  help: string;
}

export interface SubSpec {
  name: string;
  about: string;
  opts: OptSpec[];
  positionals?: PosSpec[];
  /** Help for PARAMS after "--"; absent when the subcommand takes none. */
  params?: string;
}

export interface Parsed {
  opts: Map<string, string | true>;
  positionals: string[];
  params: string[];
  help: boolean;
}

export function usageError(sub: SubSpec | null, msg: string): PigeonError {
  const where = sub ? `pigeon fspl ${sub.name} --help` : 'pigeon fspl --help';
  return new PigeonError('EUSAGE', `${msg} (${where} shows the usage)`, { exitCode: 2 });
}

function optName(o: OptSpec): string {
  return `--${o.long}${o.value ? ` <${o.value}>` : ''}`;
}

/** Parse a subcommand's arguments (those after its name). */
export function parseArgs(spec: SubSpec, args: readonly string[]): Parsed {
  const out: Parsed = { opts: new Map(), positionals: [], params: [], help: false };
  const set = (o: OptSpec, v: string | true) => {
    if (out.opts.has(o.long)) throw usageError(spec, `${optName(o)} was given more than once`);
    out.opts.set(o.long, v);
  };
  const takeValue = (o: OptSpec, i: number): string => {
    const v = args[i];
    if (v === undefined || (v.startsWith('-') && v !== '-')) throw usageError(spec, `${optName(o)} needs a value`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      if (spec.params === undefined) throw usageError(spec, `${spec.name} takes no parameters after "--"`);
      out.params = args.slice(i + 1);
      break;
    }
    if (a === '-h' || a === '--help') {
      out.help = true;
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const o = spec.opts.find((x) => x.long === name);
      if (!o) throw usageError(spec, `unknown flag --${name}${spec.params !== undefined ? ` (to pass it to the command, put it after "--")` : ''}`);
      if (!o.value) {
        if (eq >= 0) throw usageError(spec, `--${name} takes no value`);
        set(o, true);
      } else {
        set(o, eq >= 0 ? a.slice(eq + 1) : takeValue(o, ++i));
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      const o = spec.opts.find((x) => x.short === a[1]);
      if (!o) throw usageError(spec, `unknown flag ${a.slice(0, 2)}`);
      if (!o.value) {
        if (a.length > 2) throw usageError(spec, `unknown flag ${a}`);
        set(o, true);
      } else {
        set(o, a.length > 2 ? a.slice(a[2] === '=' ? 3 : 2) : takeValue(o, ++i));
      }
      continue;
    }
    if (out.positionals.length >= (spec.positionals ?? []).length) throw usageError(spec, `unexpected argument ${JSON.stringify(a)}`);
    out.positionals.push(a);
  }
  if (out.help) return out;
  for (const o of spec.opts) if (o.required && !out.opts.has(o.long)) throw usageError(spec, `${optName(o)} is required`);
  (spec.positionals ?? []).forEach((p, i) => {
    if (p.required && out.positionals[i] === undefined) throw usageError(spec, `<${p.name}> is required`);
  });
  return out;
}

/** An enum value, matched case-insensitively as clap does. */
export function parseChoice<T extends string>(spec: SubSpec, flag: string, v: string, choices: readonly T[]): T {
  const hit = choices.find((c) => c.toLowerCase() === v.toLowerCase());
  if (!hit) throw usageError(spec, `invalid value ${JSON.stringify(v)} for --${flag}: use ${choices.join(', ')}`);
  return hit;
}

/** A whole number in 0..max. */
export function parseCount(spec: SubSpec, flag: string, v: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(v) || Number(v) > max) throw usageError(spec, `invalid value ${JSON.stringify(v)} for ${flag}: expected a whole number`);
  return Number(v);
}

/** The usage line of a subcommand. */
function usageLine(spec: SubSpec): string {
  const req = spec.opts.filter((o) => o.required).map(optName);
  const opt = spec.opts.some((o) => !o.required) ? ['[OPTIONS]'] : [];
  const pos = (spec.positionals ?? []).map((p) => (p.required ? `<${p.name}>` : `[${p.name}]`));
  const params = spec.params !== undefined ? ['[-- <PARAMS>...]'] : [];
  return ['pigeon fspl', spec.name, ...opt, ...req, ...pos, ...params].join(' ');
}

/** Two aligned columns, as help texts print them. */
export function helpTable(rows: [string, string][]): string {
  const w = Math.max(...rows.map(([l]) => l.length)) + 2;
  return rows.map(([l, r]) => `  ${l.padEnd(w)}${r}`).join('\n');
}

/** --help of a subcommand. */
export function helpText(spec: SubSpec): string {
  const parts = [`pigeon fspl ${spec.name}: ${spec.about}`, '', `Usage: ${usageLine(spec)}`];
  const args: [string, string][] = (spec.positionals ?? []).map((p) => [`<${p.name}>`, p.help]);
  if (spec.params !== undefined) args.push(['<PARAMS>...', spec.params]);
  if (args.length) parts.push('', 'Arguments:', helpTable(args));
  const opts: [string, string][] = spec.opts.map((o) => [`${o.short ? `-${o.short}, ` : '    '}${optName(o)}`, o.help]);
  opts.push(['-h, --help', 'Print help information']);
  parts.push('', 'Options:', helpTable(opts));
  return parts.join('\n') + '\n';
}

