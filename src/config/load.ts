/**
 * Loading the configuration: which file or directory is read ($NNCPCFG,
 * -cfg, the default), reading it, and the -spool/-log and $NNCPSPOOL/
 * $NNCPLOG overrides. The work is done by three modules:
 *
 * - parse.ts     Hjson bytes → plain object (syntax, with the file's checks)
 * - cfgdir.ts    nncp-cfgdir directory → the same plain object
 * - validate.ts  plain object → typed `Config`, against the key tables of
 *                schema.ts (the one place a key is declared)
 *
 * Every fault is a ConfigError on one line: `FILE: key.path: what is wrong`.
 * Unknown keys are accepted, as NNCP accepts them, and reported in
 * `cfg.warnings` so a command can show them.
 */
// Synchronous reads: the file is small and read once, at start, and node:fs/promises
// would cost a start-up some 2 ms (on Node 20 it brings readline and the stream stack).
import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { readConfigDir } from './cfgdir.js';
import { looksLikeEblob } from '../packet/magic.js';
import { ioFault } from './checker.js';
import { parseConfigBytes } from './parse.js';
import type { Config } from './types.js';
import { configFromObject } from './validate.js';

export { cleanPath } from './checker.js';
export { configFromObject } from './validate.js';

/** What the Debian build of NNCP 8.8.2 uses (`nncp-cfgmin -h`). */
const DEFAULT_CFG_PATH = '/etc/nncp.hjson';
export const DEFAULT_SPOOL_PATH = '/var/spool/nncp';
export const DEFAULT_LOG_PATH = '/var/spool/nncp/log';
export const DEFAULT_SENDMAIL_PATH = '/usr/sbin/sendmail';

export interface LoadOptions {
  cfg?: string;
  spool?: string;
  log?: string;
  env?: NodeJS.ProcessEnv;
  /** Refuse a configuration without a `self` section (private keys). */
  needSelf?: boolean;
}

/**
 * Which configuration is read. As in NNCP, a non-empty $NNCPCFG wins over
 * -cfg; then -cfg; then the default.
 */
export function configPath(opts: Pick<LoadOptions, 'cfg' | 'env'>): string {
  const env = opts.env ?? process.env;
  if (env.NNCPCFG) return env.NNCPCFG;
  if (opts.cfg) return opts.cfg;
  return DEFAULT_CFG_PATH;
}

/** The configuration as read, before validation: the path it came from and its plain object. */
export interface RawConfig {
  file: string;
  raw: unknown;
}

/** Read the configuration file (Hjson or eblob, asking for its passphrase) or nncp-cfgdir directory, without validating it. */
export async function loadRawConfig(opts: Pick<LoadOptions, 'cfg' | 'env'> = {}): Promise<RawConfig> {
  const file = configPath(opts);
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    throw new ConfigError(`${file}: ${ioFault(err)}${hintFor(err)}`, { cause: err });
  }
  if (st.isDirectory()) return { file, raw: await readConfigDir(file) };
  let data: Uint8Array;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${file}: ${ioFault(err)}`, { cause: err });
  }
  // The eblob code (balloon hashing, its WebAssembly, the terminal prompt)
  // loads only for an eblob: a plain configuration starts faster without it.
  if (looksLikeEblob(data)) data = await (await import('./eblob.js')).openConfigBytes(data, file);
  return { file, raw: parseConfigBytes(data, file) };
}

/**
 * Load and validate a configuration. Given a path, that file (or config
 * directory) and nothing else: the environment ($NNCPCFG, $NNCPSPOOL,
 * $NNCPLOG) is not consulted. Given options, as a command does: $NNCPCFG
 * wins over `cfg`, then `cfg`, then /etc/nncp.hjson, with -spool/-log and
 * $NNCPSPOOL/$NNCPLOG overrides applied.
 */
export async function loadConfig(pathOrOpts: string | LoadOptions = {}): Promise<Config> {
  const opts: LoadOptions = typeof pathOrOpts === 'string' ? exactly(pathOrOpts) : pathOrOpts;
  const env = opts.env ?? process.env;
  const { file, raw } = await loadRawConfig(opts);
  const cfg = configFromObject(raw, file, { env, needSelf: opts.needSelf });
  const spool = opts.spool || env.NNCPSPOOL;
  if (spool) cfg.spool = spool;
  const log = opts.log || env.NNCPLOG;
  if (log) cfg.log = log;
  return cfg;
}

/** Options that load the file at `file` and nothing else. */
function exactly(file: string): LoadOptions {
  if (file === '') throw new ConfigError('loadConfig(""): give the path of a configuration file or directory');
  return { cfg: file, env: {} };
}

/** Parse configuration text (Hjson) and validate it. */
export function parseConfigText(text: string, file: string, opts: { env?: NodeJS.ProcessEnv; needSelf?: boolean } = {}): Config {
  return configFromObject(parseConfigBytes(Buffer.from(text, 'utf8'), file), file, opts);
}

/** Force the configured umask, if any, on this process. */
export function applyUmask(cfg: Config): void {
  if (cfg.umask !== undefined) process.umask(cfg.umask);
}

function hintFor(err: unknown): string {
  if ((err as NodeJS.ErrnoException)?.code !== 'ENOENT') return '';
  return '; pass -cfg FILE or set $NNCPCFG (pigeon cfgnew makes a new one)';
}
