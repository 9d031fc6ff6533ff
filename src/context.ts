/**
 * The context every command works in: the validated configuration, its
 * spool, the logger and the output switches. Commands build one with
 * makeContext() from their common flags and pass it down explicitly.
 */
import { applyUmask, loadConfig } from './config/load.js';
import type { Config, Neighbour } from './config/types.js';
import { findNode } from './config/types.js';
import { Logger } from './log/log.js';
import { syncDisabled } from './spool/atomic.js';
import { Spool } from './spool/spool.js';

export interface Context {
  cfg: Config;
  spool: Spool;
  log: Logger;
  quiet: boolean;
  debug: boolean;
  /** Draw progress bars (terminal, or forced with -progress; off with -noprogress / noprogress). */
  progress: boolean;
}

export interface ContextFlags {
  cfg?: string;
  spool?: string;
  log?: string;
  quiet?: boolean;
  debug?: boolean;
  progress?: boolean;
  noprogress?: boolean;
  /** Refuse a configuration without private keys. */
  needSelf?: boolean;
  /**
   * Where the configuration's warnings go (unknown keys, keys with
   * non-canonical Base32 trailing bits, ...): one line each. Default: stderr
   * as `pigeon: warning: FILE: key.path: what`, unless quiet.
   */
  onWarning?: (warning: string) => void;
}

/**
 * Load the configuration and build the context. The one process-wide
 * effect: a configured `umask` is applied to the process (process.umask),
 * as the reference does, so that every file Pigeon creates gets it.
 */
export async function makeContext(flags: ContextFlags): Promise<Context> {
  const cfg = await loadConfig({ cfg: flags.cfg, spool: flags.spool, log: flags.log, needSelf: flags.needSelf });
  applyUmask(cfg);
  const quiet = flags.quiet ?? false;
  const onWarning = flags.onWarning ?? (quiet ? () => {} : (w: string) => process.stderr.write(`pigeon: warning: ${w}\n`));
  for (const w of cfg.warnings) onWarning(w);
  const debug = flags.debug ?? false;
  const progress = flags.progress ? true : flags.noprogress || cfg.noProgress || quiet ? false : Boolean(process.stderr.isTTY);
  return {
    cfg,
    spool: new Spool({ root: cfg.spool, noHdr: cfg.noHdr, noSync: syncDisabled(), umask: cfg.umask }),
    log: new Logger({ path: cfg.log, quiet, debug }),
    quiet,
    debug,
    progress,
  };
}

/** The neighbour named (or identified) by `nameOrId`; a ConfigError naming it otherwise. */
export function node(ctx: Context, nameOrId: string): Neighbour {
  return findNode(ctx.cfg, nameOrId);
}
