#!/usr/bin/env node
/** The `pigeon` executable: one subcommand per nncp-* program. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadCommands } from './commands.js';

const args = hideBin(process.argv);

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
const cli = yargs(args)
  .scriptName('pigeon')
  .usage('$0 <command> [flags]\n\nStore-and-forward packets speaking NNCP 8. Flags are Go-style: -cfg FILE, -nice B, -quiet.')
  // Go-style flags: "-cfg" is one flag named cfg, not -c -f -g.
  .parserConfiguration({ 'short-option-groups': false, 'camel-case-expansion': false, 'boolean-negation': false })
  .command(await loadCommands(args))
  .demandCommand(1, 'Name a command; `pigeon --help` lists them.')
  .strict()
  .help('help')
  .alias('help', 'h')
  .version(false)
  .wrap(Math.min(100, process.stdout.columns ?? 100))
  .fail((msg, err, y) => {
    if (err) throw err;
    process.stderr.write(`pigeon: ${msg}\n`);
    process.stderr.write('Run with -h for the flags.\n');
    process.exit(2);
  });

await cli.parseAsync();
