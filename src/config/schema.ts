/**
 * The key tables: every configuration key pigeon knows, where it may appear
 * and what shape it has. This is the one place a key is declared.
 *
 * - validate.ts warns about keys outside these tables (NNCP ignores them)
 *   and then checks each known key's value;
 * - cfgdir.ts reads exactly these keys from an nncp-cfgdir directory, in
 *   the layout each shape below names, and writes them there (cfgdir -dump);
 *   the order of the keys here is the order nncp-cfgdir -load prints them.
 *
 * A new key is added here, then given its checks in validate.ts.
 */

/**
 * The shape of a key's value, and so its layout in a config directory:
 *
 * | shape      | Hjson value                | nncp-cfgdir layout                            |
 * |------------|----------------------------|-----------------------------------------------|
 * | `string`   | string                     | a file (one trailing newline dropped)         |
 * | `int`      | whole number               | a file holding the number                     |
 * | `flag`     | true / false               | an empty file, present for true               |
 * | `lines`    | list of strings            | a file, one string a line                     |
 * | `lines[]`  | list of strings            | as `lines`; read as [] when the file is absent |
 * | `strings`  | object of strings          | a directory of `string` files                 |
 * | `ints`     | object of whole numbers    | a directory of `int` files                    |
 * | `commands` | object of lists of strings | a directory of `lines` files                  |
 * | object     | object of `keys`           | a subdirectory                                |
 * | each       | object of objects          | a directory of subdirectories, one per name   |
 * | list       | list of objects            | numbered subdirectories 0, 1, …               |
 */
export type Field =
  | 'string'
  | 'int'
  | 'flag'
  | 'lines'
  | 'lines[]'
  | 'strings'
  | 'ints'
  | 'commands'
  /** `keepEmpty`: present as soon as its directory exists, even empty. */
  | { readonly object: Schema; readonly keepEmpty: boolean }
  /**
   * `dirsOnly`: plain files among the names are skipped.
   * `always`: present (maybe empty) even when the directory is missing.
   */
  | { readonly each: Schema; readonly dirsOnly: boolean; readonly always: boolean }
  | { readonly list: Schema };

export type Schema = { readonly [key: string]: Field };

/** Call flags: configuration key → CallConfig field. */
export const CALL_FLAGS = {
  'when-tx-exists': 'whenTxExists',
  nock: 'noCK',
  'mcd-ignore': 'mcdIgnore',
  autotoss: 'autoToss',
  'autotoss-doseen': 'autoTossDoSeen',
  'autotoss-nofile': 'autoTossNoFile',
  'autotoss-nofreq': 'autoTossNoFreq',
  'autotoss-noexec': 'autoTossNoExec',
  'autotoss-notrns': 'autoTossNoTrns',
  'autotoss-noarea': 'autoTossNoArea',
  /** NNCP 8.9 (pigeon's; 8.8.2 ignores it). */
  'autotoss-gen-ack': 'autoTossGenAck',
} as const;

const flags = (names: readonly string[]): Schema => Object.fromEntries(names.map((k) => [k, 'flag' as const]));

export const SELF_KEYS: Schema = {
  id: 'string',
  exchpub: 'string',
  exchprv: 'string',
  signpub: 'string',
  signprv: 'string',
  noisepub: 'string',
  noiseprv: 'string',
};

export const FREQ_KEYS: Schema = { path: 'string', chunked: 'int', minsize: 'int', maxsize: 'int' };

/** NNCP 8.9's neighbour `ack` section (pigeon's; 8.8.2 ignores it). */
export const ACK_KEYS: Schema = { nice: 'string', minsize: 'int' };

export const CALL_KEYS: Schema = {
  cron: 'string',
  nice: 'string',
  xx: 'string',
  rxrate: 'int',
  txrate: 'int',
  addr: 'string',
  onlinedeadline: 'int',
  maxonlinetime: 'int',
  ...flags(Object.keys(CALL_FLAGS)),
};

export const NEIGH_KEYS: Schema = {
  id: 'string',
  exchpub: 'string',
  signpub: 'string',
  noisepub: 'string',
  incoming: 'string',
  exec: 'commands',
  freq: { object: FREQ_KEYS, keepEmpty: true },
  ack: { object: ACK_KEYS, keepEmpty: true },
  via: 'lines',
  calls: { list: CALL_KEYS },
  addrs: 'strings',
  rxrate: 'int',
  txrate: 'int',
  onlinedeadline: 'int',
  maxonlinetime: 'int',
};

export const FROMTO_KEYS: Schema = { from: 'string', to: 'string' };

export const NOTIFY_KEYS: Schema = {
  file: { object: FROMTO_KEYS, keepEmpty: true },
  freq: { object: FROMTO_KEYS, keepEmpty: true },
  exec: { each: FROMTO_KEYS, dirsOnly: true, always: false },
};

export const AREA_KEYS: Schema = {
  id: 'string',
  pub: 'string',
  prv: 'string',
  subs: 'lines[]',
  incoming: 'string',
  exec: 'commands',
  'allow-unknown': 'flag',
};

export const TOP_KEYS: Schema = {
  spool: 'string',
  log: 'string',
  umask: 'string',
  noprogress: 'flag',
  nohdr: 'flag',
  'mcd-listen': 'lines',
  'mcd-send': 'ints',
  notify: { object: NOTIFY_KEYS, keepEmpty: false },
  self: { object: SELF_KEYS, keepEmpty: true },
  neigh: { each: NEIGH_KEYS, dirsOnly: false, always: true },
  areas: { each: AREA_KEYS, dirsOnly: false, always: false },
  'yggdrasil-aliases': 'strings',
};
