/**
 * What `pigeon -h`, `pigeon CMD -h`, `pigeon help CMD` and the man pages
 * say, and the one-line messages for a command line that is wrong (an
 * unknown command, an unknown flag, a flag without its value). Everything
 * comes from the commands' own builders, recorded by fastparse.ts: the
 * table the parsers read is the table the help and man pages show, so they
 * cannot disagree.
 */
import { nearest } from '../src/format.js';
import { commands, type CommandEntry } from './commands.js';
import { flagProblem, flagProblemText, record, type Recorded } from './fastparse.js';

export interface FlagDoc {
  /** As typed, without the dash. */
  name: string;
  /** Go's word for the value: "string", "int"; none for a switch. */
  value?: string;
  describe: string;
  /** As Go's flag package shows it: `"B"`, `-1`; none for a zero value. */
  default?: string;
}

export interface CommandDoc {
  name: string;
  describe: string;
  /** Lines such as `pigeon file [flags] SRC NODE:[DST]`. */
  synopsis: string[];
  args: { name: string; describe: string }[];
  /** The command's flags, sorted as Go's flag package lists them, then -h, -version and -warranty. */
  flags: FlagDoc[];
  /** Paragraphs after the flags. */
  notes: string[];
}

const NICE_NOTE =
  'Niceness: a number from 1 to 255, lower is more urgent; packets travel and are tossed in order of niceness, ' +
  'and a -nice limit on a receiving command (call, toss, xfer, ...) handles only packets at most that nice. ' +
  'Names: F or FLASH (32), P or PRIORITY (96), N or NORMAL (160), B or BULK (224), each with an optional ' +
  'offset such as B+5 or P-3, and MAX (255). Case does not matter.';

const BUILTIN_DOCS: FlagDoc[] = [
  { name: 'h', describe: 'Print this help (also -help, or pigeon help COMMAND)' },
  { name: 'version', describe: 'Print version information' },
  { name: 'warranty', describe: 'Print warranty information' },
];

function entry(name: string): CommandEntry | undefined {
  return commands.find((c) => c.name === name);
}

/** A command's documentation, from its module. */
export async function commandDoc(c: CommandEntry): Promise<CommandDoc> {
  const mod = await c.load();
  const command = typeof mod.command === 'string' ? mod.command : c.name;
  const rec = record(command, mod.builder);
  const flags: FlagDoc[] = [...rec.options].map(([name, spec]) => {
    const value = spec.type === 'boolean' ? undefined : spec.type === 'number' ? 'int' : 'string';
    const d = spec.default;
    const shown = d === undefined || d === false || d === '' || d === 0 ? undefined : typeof d === 'string' ? JSON.stringify(d) : String(d);
    return { name, value, describe: spec.describe ?? '', default: shown };
  });
  flags.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const synopsis = rec.usage.length > 0 ? rec.usage.map((u) => u.replace(/\$0/g, 'pigeon')) : [autoSynopsis(c.name, rec)];
  const notes = [...rec.epilogue];
  if ([...rec.options.keys()].some((n) => /nice$/.test(n))) notes.push(NICE_NOTE);
  return {
    name: c.name,
    describe: typeof mod.describe === 'string' ? mod.describe : '',
    synopsis,
    args: rec.positionals.map((p) => ({ name: argName(p.name, p.variadic), describe: p.spec.describe ?? '' })),
    // fspl speaks Filespooler's GNU-style command line: its own --help lists its options.
    flags: c.name === 'fspl' ? [] : [...flags, ...BUILTIN_DOCS],
    notes: c.name === 'fspl' ? [...notes, 'Its options and subcommands are Filespooler\'s, GNU-style: pigeon fspl --help lists them.'] : notes,
  };
}

function argName(name: string, variadic: boolean): string {
  return name.toUpperCase() + (variadic ? '...' : '');
}

function autoSynopsis(name: string, rec: Recorded): string {
  const words = rec.positionals.map((p) => (p.required ? argName(p.name, p.variadic) : `[${argName(p.name, p.variadic)}]`));
  return ['pigeon', name, ...(rec.options.size > 0 ? ['[flags]'] : []), ...words].join(' ');
}

/** Go's flag listing: `  -name type` then the description indented on the next line (a short switch on one line). */
function flagLines(f: FlagDoc): string {
  const head = `  -${f.name}${f.value ? ` ${f.value}` : ''}`;
  const text = `${f.describe}${f.default !== undefined ? ` (default ${f.default})` : ''}`;
  return head.length <= 4 ? `${head}\t${text}` : `${head}\n    \t${text}`;
}

/** `text` broken at spaces into lines of at most `width` characters (a longer word stays whole). */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join('\n');
}

/** `pigeon CMD -h`. */
export function helpText(d: CommandDoc): string {
  const out = [`pigeon ${d.name} -- ${d.describe}`, '', `Usage: ${d.synopsis[0]}`, ...d.synopsis.slice(1).map((s) => `       ${s}`)];
  if (d.args.length > 0) {
    out.push('Arguments:');
    const w = Math.max(...d.args.map((a) => a.name.length));
    for (const a of d.args) out.push(`  ${a.name.padEnd(w)}  ${a.describe}`);
  }
  out.push('Options:', ...d.flags.map(flagLines));
  for (const n of d.notes) out.push('', wrap(n, 78));
  return out.join('\n') + '\n';
}

/** `pigeon -h`. */
export async function topHelp(): Promise<string> {
  const docs = await Promise.all(commands.map(commandDoc));
  const w = Math.max(...docs.map((d) => d.name.length)) + 'pigeon '.length;
  return [
    'pigeon -- store-and-forward packets speaking NNCP 8 (on the wire, on disk and on the command line)',
    '',
    'Usage: pigeon COMMAND [flags] [ARGS]',
    '       pigeon help COMMAND   (or pigeon COMMAND -h: its flags and arguments)',
    '',
    'Commands:',
    ...docs.map((d) => `  ${`pigeon ${d.name}`.padEnd(w)}  ${d.describe}`),
    '',
    'Flags are Go-style, as the nncp-* commands take them: one dash, the value after a space or "=" (-cfg FILE, -nice=B, -quiet).',
    'Every command takes -h, -version and -warranty; most take -cfg, -spool, -log, -quiet, -debug, -progress and -noprogress.',
    `Each command has a man page: man pigeon-COMMAND (man pigeon for this list).`,
  ].join('\n') + '\n';
}

/** What to print and the exit code, for a command line the quick way did not take. */
export interface Verdict {
  /** Run the command's handler on the raw command line (exec). */
  direct?: boolean;
  stdout?: string;
  stderr?: string;
  code: number;
}

const isHelp = (a: string): boolean => /^--?(h|help)$/.test(a);

/**
 * Help requests and mistakes, before yargs sees the command line: `pigeon`,
 * `pigeon -h`, `pigeon help [CMD]`, `pigeon CMD -h`, an unknown command, an
 * unknown flag, a flag missing its value. Null: none of those (yargs goes on).
 */
export async function verdict(args: readonly string[]): Promise<Verdict | null> {
  const first = args[0];
  if (first === undefined) return { stderr: (await topHelp()) + '\npigeon: name a command\n', code: 2 };
  if (isHelp(first) || first === 'help') {
    const target = args[1];
    if (target === undefined || isHelp(target)) return { stdout: await topHelp(), code: 0 };
    if (target === 'fspl') return { code: await (await import('./fspl.js')).fsplMain(['--help']) };
    return verdict([target, '-h']);
  }
  if (first.startsWith('-')) return null;
  const c = entry(first);
  if (!c) {
    const near = nearest(first, commands.map((x) => x.name));
    return { stderr: `pigeon: unknown command ${first}${near ? ` (did you mean ${near}?)` : '; pigeon -h lists the commands'}\n`, code: 2 };
  }
  if (c.name === 'fspl') return null;
  const mod = await c.load();
  const command = typeof mod.command === 'string' ? mod.command : c.name;
  const rec = record(command, mod.builder);
  const words = args.slice(1);
  // A command whose trailing words belong to someone else (exec) reads its own flags only up to its first other word.
  const halting = rec.config?.['unknown-options-as-args'] === true;
  const stop = words.findIndex((w) => !w.startsWith('-') || w === '-' || w === '--');
  const own = halting && stop >= 0 ? words.slice(0, stop) : words;
  if (own.some(isHelp)) return { stdout: helpText(await commandDoc(c)), code: 0 };
  const others: string[] = [];
  const problem = flagProblem(rec, words, others);
  if (problem) return { stderr: `pigeon ${c.name}: ${flagProblemText(c.name, rec, problem)}\n`, code: 2 };
  const needed = rec.positionals.filter((p) => p.required);
  if (!halting && others.length < needed.length) {
    const missing = needed.slice(others.length).map((p) => argName(p.name, p.variadic)).join(' ');
    const usage = rec.usage.length > 0 ? rec.usage[0].replace(/\$0/g, 'pigeon') : autoSynopsis(c.name, rec);
    return { stderr: `pigeon ${c.name}: missing ${missing} (usage: ${usage}); pigeon ${c.name} -h lists the flags\n`, code: 2 };
  }
  // Its handler reads the raw command line itself: yargs would take a remote "-h" for its own.
  if (halting) return { direct: true, code: 0 };
  return null;
}

/** Text for roff: backslashes and dashes escaped, a line never starting with a control character. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

const MAN_FOOTER = (version: string) => `"${version}" "Pigeon Manual"`;

/** man/pigeon-CMD.1: the same text as `pigeon CMD -h`, in roff. */
export function manPage(d: CommandDoc, version: string): string {
  const out = [
    `.TH PIGEON\\-${d.name.toUpperCase()} 1 "" ${MAN_FOOTER(version)}`,
    '.SH NAME',
    `pigeon\\-${d.name} \\- ${roff(d.describe)}`,
    '.SH SYNOPSIS',
  ];
  d.synopsis.forEach((s, i) => {
    if (i > 0) out.push('.br');
    const rest = s.replace(new RegExp(`^pigeon ${d.name} ?`), '');
    out.push(`.B pigeon ${d.name}`, ...(rest ? [roff(rest)] : []));
  });
  out.push('.SH DESCRIPTION', roff(d.describe) + '.');
  if (d.args.length > 0) {
    out.push('.SH ARGUMENTS');
    for (const a of d.args) out.push('.TP', `.I ${roff(a.name)}`, roff(a.describe));
  }
  if (d.flags.length > 0) {
    out.push('.SH OPTIONS');
    for (const f of d.flags) {
      out.push('.TP', f.value ? `.BI \\-${roff(f.name)} " ${f.value}"` : `.B \\-${roff(f.name)}`);
      out.push(roff(`${f.describe}${f.default !== undefined ? ` (default ${f.default})` : ''}`));
    }
  }
  if (d.notes.length > 0) {
    out.push('.SH NOTES');
    d.notes.forEach((n, i) => out.push(...(i > 0 ? ['.PP'] : []), roff(n)));
  }
  out.push('.SH SEE ALSO', `.BR pigeon (1)${d.name === 'fspl' ? '' : `; nncp\\-${d.name} in the NNCP manual (the reference implementation)`}`);
  return out.join('\n') + '\n';
}

/** man/pigeon.1: the commands, as `pigeon -h` lists them. */
export function topManPage(docs: readonly CommandDoc[], version: string): string {
  const out = [
    `.TH PIGEON 1 "" ${MAN_FOOTER(version)}`,
    '.SH NAME',
    'pigeon \\- store\\-and\\-forward packets speaking NNCP 8',
    '.SH SYNOPSIS',
    '.B pigeon',
    '.I COMMAND',
    '[flags] [ARGS]',
    '.br',
    '.B pigeon help',
    '.I COMMAND',
    '.SH DESCRIPTION',
    roff('Pigeon is a TypeScript implementation of NNCP 8: encrypted packets queued in a spool, carried by online calls, removable media or anything else, and tossed (delivered) at the destination. Each command corresponds to an nncp-* program and takes the same Go-style flags: one dash, the value after a space or "=" (-cfg FILE, -nice=B, -quiet).'),
    '.SH COMMANDS',
  ];
  for (const d of docs) out.push('.TP', `.BR pigeon\\-${d.name} (1)`, roff(d.describe));
  out.push('.SH OPTIONS', roff('Every command takes -h (its help), -version and -warranty; most take -cfg, -spool, -log, -quiet, -debug, -progress and -noprogress.'));
  out.push('.SH ENVIRONMENT', '.TP', '.B NNCPCFG', 'Configuration file (default /etc/nncp.hjson).', '.TP', '.B NNCPSPOOL', 'Spool directory, overriding the configuration.', '.TP', '.B NNCPLOG', 'Log file, overriding the configuration.');
  out.push('.SH SEE ALSO', docs.map((d) => `.BR pigeon\\-${d.name} (1)`).join(',\n'));
  return out.join('\n') + '\n';
}

/** Every man page, by file name (pigeon.1, pigeon-file.1, ...): what scripts/gen-man.mjs writes to man/. */
export async function manPages(version: string): Promise<Map<string, string>> {
  const docs = await Promise.all(commands.map(commandDoc));
  const pages = new Map<string, string>([['pigeon.1', topManPage(docs, version)]]);
  for (const d of docs) pages.set(`pigeon-${d.name}.1`, manPage(d, version));
  return pages;
}
