/**
 * The quick way into a command: most runs (cron tosses, scripts, tests)
 * name one command with well-formed flags, and need neither help texts nor
 * error messages. Loading yargs costs ~100 ms of a ~0.45 s start; its own
 * parser, yargs-parser, costs ~15 ms. So the command's builder is replayed
 * against a recorder that notes its options and positionals, yargs-parser
 * parses the arguments with the configuration yargs would give it, and the
 * handler gets the same argv yargs would build.
 *
 * Anything this does not understand (help or version flags, an unknown or
 * malformed flag, missing or extra positionals, a builder method it does
 * not record, a coerce that throws) returns null, and the caller goes the
 * full yargs way, which prints yargs' own message. spec/fastparse.test.ts
 * checks that both ways hand every command the same argv.
 *
 * goFlags() is the other way in, for a command whose trailing words belong
 * to someone else (exec: the remote handle's arguments): the flags its
 * builder declares, read by Go's rules up to the first word that is not a
 * flag. yargs cannot do that for a subcommand (its halt-at-non-option stops
 * at the command word itself), and yargs-parser's booleans take a following
 * "true"/"false" word while Go's do not.
 */
import parser from 'yargs-parser';
import { PigeonError } from '../src/errors.js';
import { nearest } from '../src/format.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

interface OptionSpec {
  type?: 'string' | 'boolean' | 'number';
  default?: unknown;
  array?: boolean;
  coerce?: (v: Any) => Any;
  nargs?: number;
  alias?: string | string[];
  demandOption?: boolean | string;
  describe?: string;
}

interface Positional {
  name: string;
  required: boolean;
  variadic: boolean;
  spec: OptionSpec;
}

class Unsupported extends Error {}

/** What a builder declared: the one table of a command's flags, read by the parsers, -h and the man pages. */
export interface Recorded {
  options: Map<string, OptionSpec>;
  positionals: Positional[];
  /** The builder's own parser configuration: like yargs, it replaces the global one. */
  config: Record<string, boolean> | null;
  strict: boolean;
  /** .usage() and .epilogue() texts, for help. */
  usage: string[];
  epilogue: string[];
}

/** The yargs parser settings of cmd/pigeon.ts. */
export const BASE_PARSER_CONFIG = { 'short-option-groups': false, 'camel-case-expansion': false, 'boolean-negation': false } as const;

export function record(command: string, builder: unknown): Recorded {
  const rec: Recorded = { options: new Map(), positionals: [], config: null, strict: true, usage: [], epilogue: [] };
  // "file <src> <target>", "xfer [dir..]"
  for (const m of command.split(/\s+/).slice(1)) {
    const pm = /^([<[])([^\]>.]+)(\.\.)?[\]>]$/.exec(m);
    if (!pm) throw new Unsupported(`command word ${m}`);
    rec.positionals.push({ name: pm[2], required: pm[1] === '<', variadic: pm[3] === '..', spec: {} });
  }
  const proxy: Any = new Proxy(
    {},
    {
      get(_t, prop) {
        switch (prop) {
          case 'option':
            return (name: string, spec: OptionSpec = {}) => (rec.options.set(name, spec), proxy);
          case 'positional':
            return (name: string, spec: OptionSpec = {}) => {
              const p = rec.positionals.find((x) => x.name === name);
              if (!p) throw new Unsupported(`positional ${name}`);
              p.spec = spec;
              return proxy;
            };
          case 'parserConfiguration':
            return (c: Record<string, boolean>) => ((rec.config = { ...c }), proxy);
          case 'strict':
            return (on = true) => ((rec.strict = on), proxy);
          case 'usage':
            return (text: string) => (rec.usage.push(text), proxy);
          case 'epilogue':
            return (text: string) => (rec.epilogue.push(text), proxy);
          case 'example':
            return () => proxy;
          default:
            throw new Unsupported(`builder method ${String(prop)}`);
        }
      },
    },
  );
  if (typeof builder === 'function') builder(proxy);
  else if (builder !== undefined) throw new Unsupported('builder object');
  return rec;
}

/** Flags every command takes besides its table: help, and the reference's -version and -warranty. */
export const BUILTIN_FLAGS = ['h', 'help', 'version', 'warranty'] as const;

/** A flag the command line got wrong: one it does not know, or one that takes a value and got none. */
export interface FlagProblem {
  kind: 'unknown' | 'novalue';
  /** The flag as typed, without any "=value": "-nicee", "--cfg". */
  typed: string;
  name: string;
}

/**
 * The first flag in `words` (the words after the command) that `rec` does
 * not declare, or that takes a value and has none (at the end of the line,
 * or followed by another of the command's flags, which Go would swallow as
 * the value): what a mistyped command line most often gets wrong.
 * Commands whose trailing words belong to someone else (exec) are read up
 * to their first word that is not a flag. The words that are not flags nor
 * their values go to `others`.
 */
export function flagProblem(rec: Recorded, words: readonly string[], others: string[] = []): FlagProblem | null {
  const kinds = new Map<string, string>();
  for (const b of BUILTIN_FLAGS) kinds.set(b, 'boolean');
  for (const [name, spec] of rec.options) {
    for (const n of [name, ...([] as string[]).concat(spec.alias ?? [])]) kinds.set(n, spec.type ?? 'string');
  }
  const halting = rec.config?.['unknown-options-as-args'] === true;
  const flagName = (a: string): string | null => {
    if (a.length < 2 || a[0] !== '-' || a === '--' || /^-\d+(\.\d+)?$/.test(a)) return null;
    const body = a.startsWith('--') ? a.slice(2) : a.slice(1);
    const eq = body.indexOf('=');
    return eq < 0 ? body : body.slice(0, eq);
  };
  for (let i = 0; i < words.length; i++) {
    const a = words[i];
    if (a === '--') {
      others.push(...words.slice(i + 1));
      break;
    }
    const name = flagName(a);
    if (name === null) {
      if (halting) break;
      others.push(a);
      continue;
    }
    const typed = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    const kind = kinds.get(name);
    if (kind === undefined) return { kind: 'unknown', typed, name };
    if (kind === 'boolean' || a.includes('=')) continue;
    const next = i + 1 < words.length ? words[i + 1] : undefined;
    const nextName = next === undefined ? null : flagName(next);
    if (next === undefined || (nextName !== null && kinds.has(nextName))) return { kind: 'novalue', typed, name };
    i++;
  }
  return null;
}

/** What to tell the user about `p`, without the "pigeon CMD: " prefix. */
export function flagProblemText(command: string, rec: Recorded, p: FlagProblem): string {
  const help = `pigeon ${command} -h lists the flags`;
  if (p.kind === 'novalue') {
    const kind = rec.options.get(p.name)?.type === 'number' ? 'a number' : 'a value';
    return `flag ${p.typed} needs ${kind} after it (${p.typed} VALUE or ${p.typed}=VALUE); ${help}`;
  }
  const near = nearest(p.name, [...rec.options.keys(), 'version', 'warranty']);
  return `unknown flag ${p.typed}${near ? ` (did you mean -${near}?)` : ''}; ${help}`;
}

/** The argv yargs would give the handler of `mod` for `args` (the command word first), or null. */
export function fastArgv(mod: { command?: string | readonly string[]; builder?: unknown }, args: readonly string[]): Record<string, Any> | null {
  if (typeof mod.command !== 'string') return null;
  if (args.some((a) => /^--?(h|help|version|warranty)(=|$)/.test(a))) return null;
  let rec: Recorded;
  try {
    rec = record(mod.command, mod.builder);
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
  const words = args.slice(1);
  if (flagProblem(rec, words)) return null;
  const opts = {
    boolean: [] as string[],
    string: [] as string[],
    number: [] as string[],
    array: [] as string[],
    default: {} as Record<string, unknown>,
    alias: {} as Record<string, string[]>,
    narg: {} as Record<string, number>,
  };
  for (const [name, spec] of rec.options) {
    if (spec.type) opts[spec.type].push(name);
    if (spec.array) opts.array.push(name);
    if ('default' in spec) opts.default[name] = spec.default;
    if (spec.alias !== undefined) opts.alias[name] = ([] as string[]).concat(spec.alias);
    if (spec.nargs !== undefined) opts.narg[name] = spec.nargs;
    if (spec.demandOption) return null;
  }
  const parsed = parser.detailed(words as string[], {
    ...opts,
    configuration: { 'parse-positional-numbers': false, ...(rec.config ?? BASE_PARSER_CONFIG), 'populate--': true },
  });
  if (parsed.error) return null;
  const argv: Record<string, Any> = parsed.argv;
  const known = new Set<string>(['_', '--']);
  for (const [name, spec] of rec.options) {
    known.add(name);
    for (const a of ([] as string[]).concat(spec.alias ?? [])) known.add(a);
  }
  if (rec.strict && Object.keys(argv).some((k) => !known.has(k))) return null;
  // Positionals, as yargs fills them from the words left over.
  const rest: Any[] = [...argv._];
  for (const p of rec.positionals) {
    if (p.variadic) {
      const vals = rest.splice(0, rest.length);
      argv[p.name] = vals.map((v) => (p.spec.type === 'number' ? Number(v) : String(v)));
      if (p.required && vals.length === 0) return null;
      continue;
    }
    if (rest.length === 0) {
      if (p.required) return null;
      if ('default' in p.spec) argv[p.name] = p.spec.default;
      continue;
    }
    const v = rest.shift();
    // yargs hands a lone "-" to a positional as "" (commands recover it from the raw arguments).
    argv[p.name] = p.spec.type === 'number' ? Number(v) : v === '-' ? '' : String(v);
  }
  if (rec.strict && rest.length > 0) return null;
  argv._ = [args[0], ...rest];
  const dd = argv['--'];
  delete argv['--'];
  if (rec.config?.['populate--'] && dd !== undefined) argv['--'] = dd;
  else if (dd !== undefined) argv._.push(...dd);
  for (const [name, spec] of rec.options) {
    if (spec.coerce && argv[name] !== undefined) {
      try {
        argv[name] = spec.coerce(argv[name]);
      } catch {
        return null;
      }
    }
  }
  argv.$0 = 'pigeon';
  return argv;
}

export interface GoArgs {
  flags: Record<string, string | number | boolean>;
  /** The words from the first one that is not a flag (or after "--"), untouched. */
  rest: string[];
}

/**
 * The flags `mod`'s builder declares, parsed from `words` the way Go's flag
 * package does: "-name", "--name", "-name=value", "-name value"; parsing
 * stops at the first word that is not a flag (or after "--"), so that words
 * such as "-c" after it pass through untouched. Errors are Go's. Flags not
 * given take the builder's defaults.
 */
export function goFlags(mod: { command?: string | readonly string[]; builder?: unknown }, words: readonly string[]): GoArgs {
  const command = typeof mod.command === 'string' ? mod.command : '';
  const rec = record(command, mod.builder);
  const problem = flagProblem(rec, words);
  if (problem) throw new PigeonError('EUSAGE', flagProblemText(command.split(' ')[0], rec, problem));
  const spec = rec.options;
  const flags: GoArgs['flags'] = {};
  let i = 0;
  for (; i < words.length; i++) {
    const a = words[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a.length < 2 || a[0] !== '-') break;
    const body = a.startsWith('--') ? a.slice(2) : a.slice(1);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const kind = spec.get(name)?.type;
    if (!kind) throw new PigeonError('EUSAGE', `flag provided but not defined: -${name}`);
    let value: string;
    if (kind === 'boolean') {
      value = eq < 0 ? 'true' : body.slice(eq + 1);
      if (!/^(1|0|t|f|true|false|TRUE|FALSE|True|False)$/.test(value)) throw new PigeonError('EUSAGE', `invalid boolean value ${JSON.stringify(value)} for -${name}`);
      flags[name] = /^(1|t|true|TRUE|True)$/.test(value);
      continue;
    }
    if (eq >= 0) value = body.slice(eq + 1);
    else if (i + 1 < words.length) value = words[++i];
    else throw new PigeonError('EUSAGE', `flag needs an argument: -${name}`);
    if (kind === 'number') {
      if (!/^-?\d+$/.test(value)) throw new PigeonError('EUSAGE', `invalid value ${JSON.stringify(value)} for -${name}: expected a whole number`);
      flags[name] = Number(value);
    } else {
      flags[name] = value;
    }
  }
  for (const [name, o] of spec) if (!(name in flags) && o.default !== undefined) flags[name] = o.default as string | number | boolean;
  return { flags, rest: words.slice(i) };
}
