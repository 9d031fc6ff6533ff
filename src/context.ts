/**
 * The context every command works in: the validated configuration, its
 * spool, the logger and the output switches. Commands build one with
 * makeContext() from their common flags and pass it down explicitly.
 */
import { applyUmask, loadConfig } from './config/load.js';
import type { Config, Neighbour } from './config/types.js';
import { findNode } from './config/types.js';
import { aead, aeadFallbackReason } from './crypto/aead.js';
import { Logger } from './log/log.js';
import { nativeAddonFile } from './native.js';
import { stderrIsTerminal } from './progress.js';
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
  /** The environment read for $NNCPCFG, $NNCPSPOOL, $NNCPLOG (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * Where the configuration's warnings go (unknown keys, keys with
   * non-canonical Base32 trailing bits, ...): one line each. Default: stderr
   * as `pigeon: warning: FILE: key.path: what`, unless quiet.
   */
  onWarning?: (warning: string) => void;
}

/**
 * Load the configuration and build the context. Given a path, that file
 * and nothing else (as loadConfig(path)); given flags, as a command does. The one process-wide
 * effect: a configured `umask` is applied to the process (process.umask),
 * as the reference does, so that every file Pigeon creates gets it.
 */
export async function makeContext(pathOrFlags: string | ContextFlags): Promise<Context> {
  const flags: ContextFlags = typeof pathOrFlags === 'string' ? { cfg: pathOrFlags, env: {} } : pathOrFlags;
  const cfg = await loadConfig({ cfg: flags.cfg, spool: flags.spool, log: flags.log, needSelf: flags.needSelf, env: flags.env });
  applyUmask(cfg);
  const quiet = flags.quiet ?? false;
  const onWarning = flags.onWarning ?? (quiet ? () => {} : (w: string) => process.stderr.write(`pigeon: warning: ${w}\n`));
  for (const w of cfg.warnings) onWarning(w);
  const debug = flags.debug ?? false;
  const progress = flags.progress ? true : flags.noprogress || cfg.noProgress || quiet ? false : stderrIsTerminal();
  const log = new Logger({ path: cfg.log, quiet, debug });
  if (debug) logEngine(log);
  return {
    cfg,
    spool: new Spool({ root: cfg.spool, noHdr: cfg.noHdr, noSync: syncDisabled(), umask: cfg.umask }),
    log,
    quiet,
    debug,
    progress,
  };
}

/** With -debug: which AEAD engine runs, and why not the native one. */
function logEngine(log: Logger): void {
  const engine = aead().engine;
  if (engine === 'native') log.debug('engine', [['Engine', engine], ['Path', nativeAddonFile()]], `AEAD engine: native addon ${nativeAddonFile()}`);
  else log.debug('engine', [['Engine', engine], ['Why', aeadFallbackReason()]], `AEAD engine: node:crypto (native addon not in use: ${aeadFallbackReason()})`);
}

/** The neighbour named (or identified) by `nameOrId`; a ConfigError naming it otherwise. */
export function node(ctx: Context, nameOrId: string): Neighbour {
  return findNode(ctx.cfg, nameOrId);
}
