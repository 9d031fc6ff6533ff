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
 */
import parser from 'yargs-parser';

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
}

interface Positional {
  name: string;
  required: boolean;
  variadic: boolean;
  spec: OptionSpec;
}

class Unsupported extends Error {}

/** What a builder declared. */
interface Recorded {
  options: Map<string, OptionSpec>;
  positionals: Positional[];
  /** The builder's own parser configuration: like yargs, it replaces the global one. */
  config: Record<string, boolean> | null;
  strict: boolean;
}

/** The yargs parser settings of cmd/pigeon.ts. */
export const BASE_PARSER_CONFIG = { 'short-option-groups': false, 'camel-case-expansion': false, 'boolean-negation': false } as const;

function record(command: string, builder: unknown): Recorded {
  const rec: Recorded = { options: new Map(), positionals: [], config: null, strict: true };
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
          case 'epilogue':
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
  const words = args.slice(1);
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
