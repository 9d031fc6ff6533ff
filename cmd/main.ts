/**
 * The `pigeon` command line: one subcommand per nncp-* program. The
 * executable (cmd/pigeon.ts) runs this either from the bundle under its V8
 * code cache or, failing that, as these ES modules.
 */
import { enableBufferPool } from '../src/stream/pool.js';
import { enableReclaim, manyPackets } from '../src/stream/reclaim.js';
import { commands, loadCommands } from './commands.js';
import { BASE_PARSER_CONFIG, fastArgv } from './fastparse.js';

/** The commands that move many packets in most runs (toss says so itself, when its queue is long: reclaim.ts manyPackets). */
const MANY_PACKETS = new Set(['xfer', 'daemon', 'call', 'caller', 'bundle', 'carry']);

/** Run `pigeon ARGS…` (argv without node and the script). */
export async function main(args: readonly string[]): Promise<void> {
  // The executable's memory profile (the library leaves both off): forced
  // young collections every few MiB of short-lived buffers, and packet batch
  // buffers kept between packets.
  // Not while training the code cache: V8 would write the young-generation flag into it.
  enableReclaim({ youngGenerationLimit: process.env.PIGEON_CODE_CACHE_OUT === undefined });
  enableBufferPool();
  if (MANY_PACKETS.has(args[0] ?? '')) manyPackets();

  // fspl speaks Filespooler's GNU-style command line (its own --help, --version, "--" PARAMS): no Go-style parsing.
  if (args[0] === 'fspl') return (await import('./fspl.js')).fsplExit(args.slice(1));

  // The reference's -version and -warranty, accepted by every command.
  if (args.some((a) => a === '-version' || a === '--version')) {
    const { pigeonVersion } = await import('../src/version.js');
    process.stdout.write(`${pigeonVersion()} (speaks NNCP 8)\n`);
    process.exit(0);
  }
  if (args.some((a) => a === '-warranty' || a === '--warranty')) {
    const { WARRANTY } = await import('../src/version.js');
    process.stdout.write(`${WARRANTY}\n`);
    process.exit(0);
  }
  if (!(await quick(args)) && !(await explained(args))) await withYargs(args);
}

/** Help texts, and one line for a mistyped command or flag (see usage.ts); false: neither. */
async function explained(args: readonly string[]): Promise<boolean> {
  const { verdict } = await import('./usage.js');
  const v = await verdict([...args]);
  if (v === null) return false;
  if (v.direct) {
    const mod = await commands.find((c) => c.name === args[0])!.load();
    await mod.handler({ _: [args[0]], $0: 'pigeon' });
    return true;
  }
  if (v.stdout) process.stdout.write(v.stdout);
  if (v.stderr) process.stderr.write(v.stderr);
  process.exitCode = v.code;
  return true;
}

/** The quick way: one named command with well-formed flags needs no yargs (see fastparse.ts). */
async function quick(args: readonly string[]): Promise<boolean> {
  const named = commands.find((c) => c.name === args[0]);
  if (!named) return false;
  const mod = await named.load();
  const argv = fastArgv(mod, [...args]);
  if (argv === null) return false;
  await mod.handler(argv as Parameters<typeof mod.handler>[0]);
  return true;
}

/** The full way: help texts, and yargs' own messages for malformed command lines. */
async function withYargs(args: readonly string[]): Promise<void> {
  const { default: yargs } = await import('yargs');
  const cli = yargs([...args])
    .scriptName('pigeon')
    .usage('$0 <command> [flags]\n\nStore-and-forward packets speaking NNCP 8. Flags are Go-style: -cfg FILE, -nice B, -quiet.')
    // Go-style flags: "-cfg" is one flag named cfg, not -c -f -g.
    .parserConfiguration({ ...BASE_PARSER_CONFIG })
    .command(await loadCommands(args))
    .demandCommand(1, 'Name a command; `pigeon --help` lists them.')
    .strict()
    .help('help')
    .alias('help', 'h')
    .version(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((msg, err) => {
      if (err) throw err;
      const name = commands.some((c) => c.name === args[0]) ? `pigeon ${args[0]}` : 'pigeon';
      process.stderr.write(`${name}: ${msg}; ${name} -h lists the flags\n`);
      process.exit(2);
    });

  await cli.parseAsync();
}
