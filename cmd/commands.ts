/** Every subcommand, in the order `pigeon --help` lists them. */
import type { CommandModule } from 'yargs';
import { pktCommand } from './pkt.js';
import { hashCommand } from './hash.js';
import { logCommand } from './log.js';
import { cfgnewCommand } from './cfgnew.js';
import { cfgminCommand } from './cfgmin.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  pktCommand,
  hashCommand,
  logCommand,
  cfgnewCommand,
  cfgminCommand,
];
