/**
 * Every subcommand, in the order `pigeon --help` lists them. Modules load
 * lazily: a run of `pigeon toss` imports only the toss command (start-up
 * time matters for cron jobs, scripts and tests); `--help` loads them all.
 * To add a command: one line here, `name` equal to the module's command word.
 */
import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyCommand = CommandModule<any, any>;

export interface CommandEntry {
  name: string;
  load: () => Promise<AnyCommand>;
}

export const commands: CommandEntry[] = [
  { name: 'file', load: async () => (await import('./file.js')).fileCommand },
  { name: 'exec', load: async () => (await import('./exec.js')).execCommand },
  { name: 'freq', load: async () => (await import('./freq.js')).freqCommand },
  { name: 'trns', load: async () => (await import('./trns.js')).trnsCommand },
  { name: 'ack', load: async () => (await import('./ack.js')).ackCommand },
  { name: 'toss', load: async () => (await import('./toss.js')).tossCommand },
  { name: 'xfer', load: async () => (await import('./xfer.js')).xferCommand },
  { name: 'bundle', load: async () => (await import('./bundle.js')).bundleCommand },
  { name: 'carry', load: async () => (await import('./carry.js')).carryCommand },
  { name: 'reass', load: async () => (await import('./reass.js')).reassCommand },
  { name: 'rm', load: async () => (await import('./rm.js')).rmCommand },
  { name: 'stat', load: async () => (await import('./stat.js')).statCommand },
  { name: 'check', load: async () => (await import('./check.js')).checkCommand },
  { name: 'web', load: async () => (await import('./web.js')).webCommand },
  { name: 'log', load: async () => (await import('./log.js')).logCommand },
  { name: 'pkt', load: async () => (await import('./pkt.js')).pktCommand },
  { name: 'hash', load: async () => (await import('./hash.js')).hashCommand },
  { name: 'cfgnew', load: async () => (await import('./cfgnew.js')).cfgnewCommand },
  { name: 'cfgmin', load: async () => (await import('./cfgmin.js')).cfgminCommand },
  { name: 'cfgneigh', load: async () => (await import('./cfgneigh.js')).cfgneighCommand },
  { name: 'cfgenc', load: async () => (await import('./cfgenc.js')).cfgencCommand },
  { name: 'cfgdir', load: async () => (await import('./cfgdir.js')).cfgdirCommand },
  { name: 'cronexpr', load: async () => (await import('./cronexpr.js')).cronexprCommand },
  { name: 'caller', load: async () => (await import('./caller.js')).callerCommand },
  { name: 'call', load: async () => (await import('./call.js')).callCommand },
  { name: 'daemon', load: async () => (await import('./daemon.js')).daemonCommand },
  { name: 'fspl', load: async () => (await import('./fspl.js')).fsplCommand },
];

/** The modules to register for this argv: just the named command when there is one, else all. */
export async function loadCommands(argv: readonly string[]): Promise<AnyCommand[]> {
  const first = argv.find((a) => !a.startsWith('-'));
  const one = commands.find((c) => c.name === first);
  return Promise.all((one ? [one] : commands).map((c) => c.load()));
}
