#!/usr/bin/env node
/** The `pigeon` executable: one subcommand per nncp-* program. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands.js';

const cli = yargs(hideBin(process.argv))
  .scriptName('pigeon')
  .usage('$0 <command> [flags]\n\nStore-and-forward packets speaking NNCP 8. Flags are Go-style: -cfg FILE, -nice B, -quiet.')
  // Go-style flags: "-cfg" is one flag named cfg, not -c -f -g.
  .parserConfiguration({ 'short-option-groups': false, 'camel-case-expansion': false, 'boolean-negation': false })
  .command(commands)
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
