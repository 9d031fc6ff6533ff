/**
 * nncp-cfgdir's two conversions, as whole operations: a configuration
 * (file, eblob or directory) dumped into a directory, and a directory
 * loaded and printed as Hjson. Both validate the configuration first, as
 * every command loading it would, so that neither carries a fault across.
 */
import { stat } from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { ioFault, isObject } from './checker.js';
import { readConfigDir, renderConfigHjson, writeConfigDir } from './cfgdir.js';
import { loadRawConfig } from './load.js';
import { configFromObject } from './validate.js';

export interface ConvertResult {
  /** The configuration read. */
  file: string;
  /** Lines for stderr: unknown keys left out, keys a directory cannot carry, stale files. */
  warnings: string[];
}

/** Dump the configuration named by `cfg` / $NNCPCFG into the directory `dir` (nncp-cfgdir -dump). */
export async function dumpConfigDir(dir: string, opts: { cfg?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ConvertResult> {
  const { file, raw } = await loadRawConfig(opts);
  const cfg = configFromObject(raw, file, { env: opts.env });
  if (!isObject(raw)) throw new ConfigError(`${file}: expected an object of settings`);
  const warnings = cfg.warnings.map((w) => `${w}: not written to ${dir}`);
  const res = await writeConfigDir(dir, raw);
  return { file, warnings: [...warnings, ...res.warnings] };
}

/** The configuration directory `dir` as Hjson text (nncp-cfgdir -load). */
export async function loadConfigDirText(dir: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ text: string } & ConvertResult> {
  const st = await stat(dir).catch((err) => {
    throw new ConfigError(`${dir}: ${ioFault(err)}`, { cause: err });
  });
  if (!st.isDirectory()) throw new ConfigError(`${dir}: not a directory: -load reads a configuration directory (pigeon cfgdir -dump makes one)`);
  const raw = await readConfigDir(dir);
  const cfg = configFromObject(raw, dir, { env: opts.env });
  return { file: dir, text: renderConfigHjson(raw), warnings: cfg.warnings };
}
