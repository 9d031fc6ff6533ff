/**
 * Reading and validating the configuration: Hjson file or nncp-cfgdir
 * directory → typed `Config`.
 *
 * Every fault is a ConfigError on one line: `FILE: key.path: what is wrong`.
 * Unknown keys are accepted, as NNCP accepts them, and reported in
 * `cfg.warnings` so a command can show them.
 *
 * Where NNCP 8.8.2 accepts something that cannot work, we refuse it and say
 * why: an id that is not BLAKE2b-256(signpub), private keys that do not match
 * their public halves, neigh.self differing from self, two neighbours with
 * one id, negative rates, an empty exec command, a relative area incoming.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import Hjson from 'hjson';
import { base32Decode, base32Encode, base32Len } from '../codec/base32.js';
// node:crypto derivations (ecc.ts) keep loading fast; keys.ts is noble, slow to warm up.
import { ed25519Public, x25519Public } from '../crypto/ecc.js';
import { areaIdFromPub, nodeIdFromSignPub } from '../crypto/keys.js';
import { tryParseNice } from '../nice.js';
import { parseCron } from '../cron/cronexpr.js';
import { ConfigError, errorLine } from '../errors.js';
import { openConfigBytes } from './eblob.js';
import type {
  AreaConfig,
  CallConfig,
  Config,
  FreqConfig,
  FromTo,
  Neighbour,
  NotifyConfig,
  SelfNode,
} from './types.js';

/** What the Debian build of NNCP 8.8.2 uses (`nncp-cfgmin -h`). */
export const DEFAULT_CFG_PATH = '/etc/nncp.hjson';
export const DEFAULT_SPOOL_PATH = '/var/spool/nncp';
export const DEFAULT_LOG_PATH = '/var/spool/nncp/log';
export const DEFAULT_SENDMAIL_PATH = '/usr/sbin/sendmail';
/** Seconds; $NNCPDEADLINE overrides it, as in NNCP. */
export const DEFAULT_ONLINE_DEADLINE = 10;
/** Niceness of a call that does not set one. */
export const DEFAULT_CALL_NICE = 255;

export interface LoadOptions {
  cfg?: string;
  spool?: string;
  log?: string;
  env?: NodeJS.ProcessEnv;
  /** Refuse a configuration without a `self` section (private keys). */
  needSelf?: boolean;
}

type Raw = Record<string, unknown>;
type KeyPath = readonly (string | number)[];

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

/** Load, validate, and apply -spool/-log and $NNCPSPOOL/$NNCPLOG overrides. */
export async function loadConfig(opts: LoadOptions = {}): Promise<Config> {
  const env = opts.env ?? process.env;
  const file = configPath(opts);
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    throw new ConfigError(`${file}: ${ioFault(err)}${hintFor(err)}`, { cause: err });
  }
  let raw: unknown;
  if (st.isDirectory()) {
    raw = await readConfigDir(file);
  } else {
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch (err) {
      throw new ConfigError(`${file}: ${ioFault(err)}`, { cause: err });
    }
    raw = parseConfigBytes(await openConfigBytes(data, file), file);
  }
  const cfg = configFromObject(raw, file, { env, needSelf: opts.needSelf });
  const spool = opts.spool || env.NNCPSPOOL;
  if (spool) cfg.spool = spool;
  const log = opts.log || env.NNCPLOG;
  if (log) cfg.log = log;
  return cfg;
}

/** Force the configured umask, if any, on this process. */
export function applyUmask(cfg: Config): void {
  if (cfg.umask !== undefined) process.umask(cfg.umask);
}

function ioFault(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT': return 'no such file';
    case 'ENOTDIR': return 'a component of the path is not a directory';
    case 'EACCES': case 'EPERM': return 'cannot read it: permission denied';
    case 'EISDIR': return 'is a directory';
    default: return `cannot read it: ${errorLine(err)}`;
  }
}

function hintFor(err: unknown): string {
  if ((err as NodeJS.ErrnoException)?.code !== 'ENOENT') return '';
  return '; pass -cfg FILE or set $NNCPCFG (pigeon cfgnew makes a new one)';
}

/** Parse Hjson bytes into a plain object, or throw a one-line ConfigError. */
export function parseConfigBytes(data: Uint8Array, file: string): Raw {
  if (data.length >= 5 && Buffer.from(data.subarray(0, 5)).toString('latin1') === 'NNCPB') {
    throw new ConfigError(`${file}: is encrypted with nncp-cfgenc, which pigeon does not read; decrypt it with nncp-cfgenc -d`);
  }
  const text = Buffer.from(data).toString('utf8');
  let raw: unknown;
  try {
    raw = Hjson.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const m = /^([\s\S]*?)\s+at line (\d+),(\d+)\s*>>>/.exec(msg);
    const what = (m ? m[1] : msg).replace(/\s+/g, ' ').trim();
    const where = m ? `line ${m[2]}, column ${m[3]}: ` : '';
    throw new ConfigError(`${file}: ${where}Hjson syntax error: ${what}`);
  }
  if (raw === null || raw === undefined || (typeof raw === 'string' && raw.trim() === '')) return {};
  if (!isObject(raw)) throw new ConfigError(`${file}: expected an object of settings at the top level, got ${describe(raw)}`);
  return raw;
}

/** Parse configuration text (Hjson) and validate it. */
export function parseConfigText(text: string, file: string, opts: { env?: NodeJS.ProcessEnv; needSelf?: boolean } = {}): Config {
  return configFromObject(parseConfigBytes(Buffer.from(text, 'utf8'), file), file, opts);
}

// ---------------------------------------------------------------- validation

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string': return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
    case 'number': return `the number ${v}`;
    case 'boolean': return String(v);
    case 'object': return 'an object';
    default: return typeof v;
  }
}

/** `neigh.bob.calls[0].cron`; names that are not plain words are quoted. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += (out ? '.' : '') + (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p));
  }
  return out;
}

const TOP_KEYS = ['spool', 'log', 'umask', 'noprogress', 'nohdr', 'mcd-listen', 'mcd-send', 'notify', 'self', 'neigh', 'areas', 'yggdrasil-aliases'];
const SELF_KEYS = ['id', 'exchpub', 'exchprv', 'signpub', 'signprv', 'noisepub', 'noiseprv'];
const NEIGH_KEYS = ['id', 'exchpub', 'signpub', 'noisepub', 'incoming', 'exec', 'freq', 'via', 'calls', 'addrs', 'rxrate', 'txrate', 'onlinedeadline', 'maxonlinetime'];
const FREQ_KEYS = ['path', 'chunked', 'minsize', 'maxsize'];
const CALL_FLAGS = {
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
} as const;
const CALL_KEYS = ['cron', 'nice', 'xx', 'rxrate', 'txrate', 'addr', 'onlinedeadline', 'maxonlinetime', ...Object.keys(CALL_FLAGS)];
const NOTIFY_KEYS = ['file', 'freq', 'exec'];
const FROMTO_KEYS = ['from', 'to'];
const AREA_KEYS = ['id', 'pub', 'prv', 'subs', 'incoming', 'exec', 'allow-unknown'];

class Checker {
  readonly warnings: string[] = [];
  constructor(readonly file: string) {}

  fail(path: KeyPath, msg: string): never {
    throw new ConfigError(path.length ? `${this.file}: ${formatKeyPath(path)}: ${msg}` : `${this.file}: ${msg}`);
  }

  /** Warn about keys outside `known` (NNCP ignores them silently). */
  keys(o: Raw, path: KeyPath, known: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!known.includes(k)) this.warnings.push(`${this.file}: ${formatKeyPath([...path, k])}: unknown key, ignored`);
    }
  }

  obj(v: unknown, path: KeyPath): Raw {
    if (!isObject(v)) this.fail(path, `expected an object ({ … }), got ${describe(v)}`);
    return v;
  }

  optObj(o: Raw, k: string, path: KeyPath): Raw | undefined {
    const v = o[k];
    return v === undefined || v === null ? undefined : this.obj(v, [...path, k]);
  }

  str(o: Raw, k: string, path: KeyPath): string {
    const v = o[k];
    if (v === undefined || v === null) this.fail([...path, k], 'missing');
    if (typeof v !== 'string') this.fail([...path, k], `expected a string, got ${describe(v)}`);
    return v;
  }

  optStr(o: Raw, k: string, path: KeyPath): string | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail([...path, k], `expected a string, got ${describe(v)}`);
    return v;
  }

  bool(o: Raw, k: string, path: KeyPath): boolean {
    const v = o[k];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail([...path, k], `expected true or false, got ${describe(v)}`);
    return v;
  }

  /** Whole number within [min, max]; `what` explains the range in the message. */
  optInt(o: Raw, k: string, path: KeyPath, min: number, what: string): number | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail([...path, k], `expected a whole number, got ${describe(v)}`);
    if (v < min) this.fail([...path, k], `${v} is out of range: ${what}`);
    return v;
  }

  strList(v: unknown, path: KeyPath): string[] {
    if (!Array.isArray(v)) this.fail(path, `expected a list of strings ([ … ]), got ${describe(v)}`);
    v.forEach((s, i) => {
      if (typeof s !== 'string') this.fail([...path, i], `expected a string, got ${describe(s)}`);
    });
    return v as string[];
  }

  strMap(v: unknown, path: KeyPath): Map<string, string> {
    const o = this.obj(v, path);
    const out = new Map<string, string>();
    for (const [k, s] of Object.entries(o)) {
      if (typeof s !== 'string') this.fail([...path, k], `expected a string, got ${describe(s)}`);
      out.set(k, s);
    }
    return out;
  }

  /** A Base32 key of exactly `n` bytes. */
  key(o: Raw, k: string, path: KeyPath, n: number): Uint8Array {
    return this.decodeKey(this.str(o, k, path), [...path, k], n);
  }

  decodeKey(s: string, path: KeyPath, n: number): Uint8Array {
    const want = base32Len(n);
    if (s.length !== want) this.fail(path, `expected ${want} Base32 characters, got ${s.length}`);
    const b = base32Decode(s);
    if (b === null) {
      const bad = [...s].findIndex((c) => !/[A-Z2-7]/.test(c));
      const why = bad >= 0 ? `${JSON.stringify(s[bad])} at position ${bad + 1}` : 'non-zero trailing bits';
      this.fail(path, `expected ${want} Base32 characters (A-Z, 2-7), found ${why}`);
    }
    return b;
  }

  absPath(o: Raw, k: string, path: KeyPath): string | undefined {
    const s = this.optStr(o, k, path);
    if (s === undefined) return undefined;
    const clean = cleanPath(s);
    if (!clean.startsWith('/')) this.fail([...path, k], `must be an absolute path, got ${JSON.stringify(s)}`);
    return clean;
  }

  exec(v: unknown, path: KeyPath): Map<string, string[]> {
    const o = this.obj(v, path);
    const out = new Map<string, string[]>();
    for (const [handle, argv] of Object.entries(o)) {
      const p = [...path, handle];
      if (!Array.isArray(argv)) this.fail(p, `expected a command as a list of strings, like ["/usr/sbin/sendmail", "-t"], got ${describe(argv)}`);
      const list = this.strList(argv, p);
      if (list.length === 0 || list[0] === '') this.fail(p, 'empty command: give the program and its arguments, like ["/usr/sbin/sendmail", "-t"]');
      out.set(handle, list);
    }
    return out;
  }
}

/** Go's path.Clean for the paths NNCP cleans (spool, log, incoming, freq.path). */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Validate a parsed configuration object (from Hjson or a config dir). */
export function configFromObject(
  input: unknown,
  file: string,
  opts: { env?: NodeJS.ProcessEnv; needSelf?: boolean } = {},
): Config {
  const env = opts.env ?? process.env;
  const c: Checker = new Checker(file);
  const top = c.obj(input, []);
  c.keys(top, [], TOP_KEYS);

  let defDeadline = DEFAULT_ONLINE_DEADLINE;
  if (env.NNCPDEADLINE) {
    if (!/^\d+$/.test(env.NNCPDEADLINE)) throw new ConfigError(`$NNCPDEADLINE: expected a whole number of seconds, got ${JSON.stringify(env.NNCPDEADLINE)}`);
    defDeadline = Number(env.NNCPDEADLINE);
  }

  const spool = c.absPath(top, 'spool', []) ?? c.fail(['spool'], 'missing: give the absolute path of the spool directory');
  const log = c.absPath(top, 'log', []) ?? c.fail(['log'], 'missing: give the absolute path of the log file');

  let umask: number | undefined;
  const umaskRaw = top.umask;
  if (umaskRaw !== undefined && umaskRaw !== null) {
    if (typeof umaskRaw !== 'string') c.fail(['umask'], `expected an octal string like "022" (in quotes), got ${describe(umaskRaw)}`);
    if (!/^[0-7]{1,4}$/.test(umaskRaw) || parseInt(umaskRaw, 8) > 0o777) c.fail(['umask'], `expected an octal mask from "000" to "777", got ${JSON.stringify(umaskRaw)}`);
    umask = parseInt(umaskRaw, 8);
  }

  const mcdListen = top['mcd-listen'] == null ? [] : c.strList(top['mcd-listen'], ['mcd-listen']);
  const mcdSend = new Map<string, number>();
  const mcdSendRaw = c.optObj(top, 'mcd-send', []);
  if (mcdSendRaw) {
    for (const k of Object.keys(mcdSendRaw)) {
      const n = c.optInt(mcdSendRaw, k, ['mcd-send'], 1, 'the interval is a positive number of seconds');
      if (n === undefined) c.fail(['mcd-send', k], 'expected a whole number of seconds, got null');
      mcdSend.set(k, n);
    }
  }

  const yggRaw = top['yggdrasil-aliases'];
  const yggdrasilAliases = yggRaw == null ? new Map<string, string>() : c.strMap(yggRaw, ['yggdrasil-aliases']);

  const notify = readNotify(c, c.optObj(top, 'notify', []));

  // self: our private keys.
  let self: SelfNode | undefined;
  const selfRaw = c.optObj(top, 'self', []);
  if (selfRaw) self = readSelf(c, selfRaw);
  else if (opts.needSelf) c.fail(['self'], 'missing: this command needs the node\'s private keys (pigeon cfgnew makes them)');

  // neigh: first the nodes themselves, then via, which refers to them.
  const neighRaw = c.optObj(top, 'neigh', []) ?? c.fail(['neigh'], 'missing: at least the node itself must be listed there as "self"');
  if (!isObject(neighRaw.self)) c.fail(['neigh', 'self'], 'missing: list this node\'s own public keys as neighbour "self" (pigeon cfgnew writes it)');
  const neighbours = new Map<string, Neighbour>();
  const byName = new Map<string, Neighbour>();
  const vias: [Neighbour, string[]][] = [];
  for (const name of Object.keys(neighRaw)) {
    const path = ['neigh', name];
    const o = c.obj(neighRaw[name], path);
    const node = readNeighbour(c, name, o, path, defDeadline);
    const other = neighbours.get(node.idB32);
    if (other) c.fail([...path, 'id'], `same node id as neigh.${formatKeyPath([other.name])}: each node must be listed once`);
    neighbours.set(node.idB32, node);
    byName.set(name, node);
    if (o.via != null) vias.push([node, c.strList(o.via, [...path, 'via'])]);
  }
  const lookup = (ref: string): Neighbour | undefined => byName.get(ref) ?? neighbours.get(ref);
  for (const [node, refs] of vias) {
    refs.forEach((ref, i) => {
      const hop = lookup(ref);
      if (!hop) c.fail(['neigh', node.name, 'via', i], `unknown node ${JSON.stringify(ref)}: not in neigh`);
      node.via.push(hop.id);
    });
  }

  if (self) {
    const me = byName.get('self')!;
    for (const [k, mine, listed] of [
      ['id', self.id, me.id],
      ['exchpub', self.exchPub, me.exchPub],
      ['signpub', self.signPub, me.signPub],
      ['noisepub', self.noisePub, me.noisePub],
    ] as const) {
      if (listed && !sameBytes(mine, listed)) c.fail(['neigh', 'self', k], `differs from self.${k}: neigh.self must carry this node's own public keys`);
    }
  }

  const areas = new Map<string, AreaConfig>();
  const areasById = new Map<string, AreaConfig>();
  const areasRaw = c.optObj(top, 'areas', []);
  if (areasRaw) {
    for (const name of Object.keys(areasRaw)) {
      const area = readArea(c, name, c.obj(areasRaw[name], ['areas', name]), lookup);
      areas.set(name, area);
      const other = areasById.get(area.idB32);
      if (other) c.warnings.push(`${file}: areas.${formatKeyPath([name])}.id: same id as areas.${formatKeyPath([other.name])}; packets of that id go to the latter`);
      else areasById.set(area.idB32, area);
    }
  }

  return {
    path: file,
    spool,
    log,
    umask,
    noProgress: c.bool(top, 'noprogress', []),
    noHdr: c.bool(top, 'nohdr', []),
    self,
    neighbours,
    byName,
    areas,
    areasById,
    mcdListen,
    mcdSend,
    notify,
    yggdrasilAliases,
    warnings: c.warnings,
  };
}

function readSelf(c: Checker, o: Raw): SelfNode {
  const p = ['self'];
  c.keys(o, p, SELF_KEYS);
  const id = c.key(o, 'id', p, 32);
  const exchPub = c.key(o, 'exchpub', p, 32);
  const exchPrv = c.key(o, 'exchprv', p, 32);
  const signPub = c.key(o, 'signpub', p, 32);
  const signPrv = c.key(o, 'signprv', p, 64);
  const noisePub = c.key(o, 'noisepub', p, 32);
  const noisePrv = c.key(o, 'noiseprv', p, 32);
  if (!sameBytes(nodeIdFromSignPub(signPub), id)) c.fail([...p, 'id'], `does not match self.signpub: the id is BLAKE2b-256 of signpub, ${base32Encode(nodeIdFromSignPub(signPub))}`);
  if (!sameBytes(signPrv.subarray(32), signPub) || !sameBytes(ed25519Public(signPrv.subarray(0, 32)), signPub)) c.fail([...p, 'signprv'], 'is not the private half of self.signpub');
  if (!sameBytes(x25519Public(exchPrv), exchPub)) c.fail([...p, 'exchprv'], 'is not the private half of self.exchpub');
  if (!sameBytes(x25519Public(noisePrv), noisePub)) c.fail([...p, 'noiseprv'], 'is not the private half of self.noisepub');
  return { id, idB32: base32Encode(id), exchPub, exchPrv, signPub, signPrv, noisePub, noisePrv };
}

function readNeighbour(c: Checker, name: string, o: Raw, p: KeyPath, defDeadline: number): Neighbour {
  c.keys(o, p, NEIGH_KEYS);
  const id = c.key(o, 'id', p, 32);
  const exchPub = c.key(o, 'exchpub', p, 32);
  const signPub = c.key(o, 'signpub', p, 32);
  const noiseStr = c.optStr(o, 'noisepub', p);
  const noisePub = noiseStr === undefined ? undefined : c.decodeKey(noiseStr, [...p, 'noisepub'], 32);
  const expect = nodeIdFromSignPub(signPub);
  if (!sameBytes(expect, id)) c.fail([...p, 'id'], `does not match its signpub: the id is BLAKE2b-256 of signpub, ${base32Encode(expect)}`);

  const freq: FreqConfig = {};
  const freqRaw = c.optObj(o, 'freq', p);
  if (freqRaw) {
    const fp = [...p, 'freq'];
    c.keys(freqRaw, fp, FREQ_KEYS);
    freq.path = c.absPath(freqRaw, 'path', fp);
    const chunked = c.optInt(freqRaw, 'chunked', fp, 1, 'the chunk size is a positive number of KiB');
    if (chunked !== undefined) freq.chunked = chunked * 1024;
    const minSize = c.optInt(freqRaw, 'minsize', fp, 0, 'the size is a number of KiB, 0 or more');
    if (minSize !== undefined) freq.minSize = minSize * 1024;
    const maxSize = c.optInt(freqRaw, 'maxsize', fp, 0, 'the size is a number of KiB, 0 or more');
    if (maxSize !== undefined) freq.maxSize = maxSize * 1024;
  }

  const rate = 'use 0 or leave it out for no limit, or a positive number of packets per second';
  const rxRate = c.optInt(o, 'rxrate', p, 0, rate) ?? 0;
  const txRate = c.optInt(o, 'txrate', p, 0, rate) ?? 0;
  const onlineDeadline = c.optInt(o, 'onlinedeadline', p, 1, 'the deadline is at least 1 second') ?? defDeadline;
  const maxOnlineTime = c.optInt(o, 'maxonlinetime', p, 0, 'the time is a number of seconds, 0 for no limit') ?? 0;
  const addrs = o.addrs == null ? new Map<string, string>() : c.strMap(o.addrs, [...p, 'addrs']);

  const calls: CallConfig[] = [];
  if (o.calls != null) {
    if (!Array.isArray(o.calls)) c.fail([...p, 'calls'], `expected a list of call objects ([ { cron: … } ]), got ${describe(o.calls)}`);
    o.calls.forEach((v, i) => {
      const cp = [...p, 'calls', i];
      const co = c.obj(v, cp);
      c.keys(co, cp, CALL_KEYS);
      const cron = c.str(co, 'cron', cp);
      try {
        parseCron(cron);
      } catch (err) {
        c.fail([...cp, 'cron'], errorLine(err));
      }
      if (typeof co.nice === 'number') c.fail([...cp, 'nice'], `expected a string, like "PRIORITY+10" or "${co.nice}" in quotes, got the number ${co.nice}`);
      const niceStr = c.optStr(co, 'nice', cp);
      let nice = DEFAULT_CALL_NICE;
      if (niceStr !== undefined) {
        const n = tryParseNice(niceStr);
        if (n === null) c.fail([...cp, 'nice'], `${JSON.stringify(niceStr)} is not a niceness: use 1..255 or FLASH, PRIORITY, NORMAL, BULK (F, P, N, B) with an optional +N/-N, or MAX`);
        nice = n;
      }
      const xx = c.optStr(co, 'xx', cp);
      if (xx !== undefined && xx !== 'rx' && xx !== 'tx') c.fail([...cp, 'xx'], `expected "rx" or "tx", got ${JSON.stringify(xx)}`);
      const addrRaw = c.optStr(co, 'addr', cp);
      const call: CallConfig = {
        cron,
        nice,
        xx: xx as 'rx' | 'tx' | undefined,
        addr: addrRaw === undefined ? undefined : addrs.get(addrRaw) ?? addrRaw,
        onlineDeadline: c.optInt(co, 'onlinedeadline', cp, 1, 'the deadline is at least 1 second') ?? onlineDeadline,
        maxOnlineTime: c.optInt(co, 'maxonlinetime', cp, 0, 'the time is a number of seconds, 0 for no limit') ?? 0,
        rxRate: c.optInt(co, 'rxrate', cp, 0, rate) ?? rxRate,
        txRate: c.optInt(co, 'txrate', cp, 0, rate) ?? txRate,
        whenTxExists: false,
        noCK: false,
        mcdIgnore: false,
        autoToss: false,
        autoTossDoSeen: false,
        autoTossNoFile: false,
        autoTossNoFreq: false,
        autoTossNoExec: false,
        autoTossNoTrns: false,
        autoTossNoArea: false,
        autoTossNoACK: false,
      };
      for (const [k, field] of Object.entries(CALL_FLAGS)) call[field] = c.bool(co, k, cp);
      calls.push(call);
    });
  }

  return {
    name,
    id,
    idB32: base32Encode(id),
    exchPub,
    signPub,
    noisePub,
    exec: o.exec == null ? new Map() : c.exec(o.exec, [...p, 'exec']),
    incoming: c.absPath(o, 'incoming', p),
    freq,
    via: [],
    addrs,
    rxRate,
    txRate,
    onlineDeadline,
    maxOnlineTime,
    calls,
    ack: {},
  };
}

function readFromTo(c: Checker, o: Raw, p: KeyPath): FromTo {
  c.keys(o, p, FROMTO_KEYS);
  return { from: c.str(o, 'from', p), to: c.str(o, 'to', p) };
}

function readNotify(c: Checker, o: Raw | undefined): NotifyConfig | undefined {
  if (!o) return undefined;
  const p = ['notify'];
  c.keys(o, p, NOTIFY_KEYS);
  const n: NotifyConfig = { exec: new Map() };
  const file = c.optObj(o, 'file', p);
  if (file) n.file = readFromTo(c, file, [...p, 'file']);
  const freq = c.optObj(o, 'freq', p);
  if (freq) n.freq = readFromTo(c, freq, [...p, 'freq']);
  const exec = c.optObj(o, 'exec', p);
  if (exec) {
    for (const k of Object.keys(exec)) {
      const ep = [...p, 'exec', k];
      if (!k.includes('.')) c.warnings.push(`${c.file}: ${formatKeyPath(ep)}: matches nothing, keys are NODE.HANDLE or *.HANDLE`);
      n.exec.set(k, readFromTo(c, c.obj(exec[k], ep), ep));
    }
  }
  return n;
}

function readArea(c: Checker, name: string, o: Raw, lookup: (ref: string) => Neighbour | undefined): AreaConfig {
  const p = ['areas', name];
  c.keys(o, p, AREA_KEYS);
  const id = c.key(o, 'id', p, 32);
  const pubStr = c.optStr(o, 'pub', p);
  const prvStr = c.optStr(o, 'prv', p);
  const pub = pubStr === undefined ? undefined : c.decodeKey(pubStr, [...p, 'pub'], 32);
  let prv: Uint8Array | undefined;
  if (prvStr !== undefined) {
    if (!pub) c.fail([...p, 'prv'], 'given without pub: an area keypair needs both');
    prv = c.decodeKey(prvStr, [...p, 'prv'], 32);
    if (!sameBytes(x25519Public(prv), pub)) c.fail([...p, 'prv'], `is not the private half of areas.${formatKeyPath([name])}.pub`);
  }
  if (pub && !sameBytes(areaIdFromPub(pub), id)) {
    c.warnings.push(`${c.file}: ${formatKeyPath([...p, 'id'])}: is not BLAKE2b-256 of its pub (nncp-cfgnew -area makes it so)`);
  }
  const subs: string[] = [];
  if (o.subs != null) {
    c.strList(o.subs, [...p, 'subs']).forEach((ref, i) => {
      const node = lookup(ref);
      if (!node) c.fail([...p, 'subs', i], `unknown node ${JSON.stringify(ref)}: not in neigh`);
      subs.push(node.idB32);
    });
  }
  return {
    name,
    id,
    idB32: base32Encode(id),
    pub,
    prv,
    subs,
    exec: o.exec == null ? new Map() : c.exec(o.exec, [...p, 'exec']),
    incoming: c.absPath(o, 'incoming', p),
    allowUnknown: c.bool(o, 'allow-unknown', p),
  };
}

// ------------------------------------------------- nncp-cfgdir directory layout

/**
 * Read the directory layout nncp-cfgdir writes into the same object an
 * Hjson file parses to: one file per string (one trailing newline dropped),
 * newline-separated lists, subdirectories for dictionaries, empty flag files
 * for true booleans, names starting with "." skipped.
 */
export async function readConfigDir(dir: string): Promise<Raw> {
  const fail = (path: KeyPath, msg: string): never => {
    throw new ConfigError(`${dir}: ${formatKeyPath(path)}: ${msg}`);
  };
  const full = (path: KeyPath) => posix.join(dir, ...path.map(String));
  const text = async (path: KeyPath): Promise<string | undefined> => {
    try {
      const s = await readFile(full(path), 'utf8');
      return s.endsWith('\n') ? s.slice(0, -1) : s;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      return fail(path, `${full(path)}: ${ioFault(err)}`);
    }
  };
  const lines = async (path: KeyPath) => (await text(path))?.split('\n');
  const int = async (path: KeyPath): Promise<number | undefined> => {
    const s = await text(path);
    if (s === undefined) return undefined;
    if (!/^[+-]?\d+$/.test(s)) fail(path, `expected a whole number in ${full(path)}, got ${JSON.stringify(s)}`);
    return Number(s);
  };
  const exists = async (path: KeyPath) => stat(full(path)).then(() => true, () => false);
  const list = async (path: KeyPath, dirsOnly = false): Promise<string[]> => {
    try {
      const ents = await readdir(full(path), { withFileTypes: true });
      return ents.filter((e) => !e.name.startsWith('.') && (!dirsOnly || e.isDirectory())).map((e) => e.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      return fail(path, `${full(path)}: ${ioFault(err)}`);
    }
  };
  const set = (o: Raw, k: string, v: unknown) => {
    if (v !== undefined) o[k] = v;
  };
  const stringMap = async (path: KeyPath): Promise<Raw | undefined> => {
    const names = await list(path);
    if (names.length === 0) return undefined;
    const o: Raw = {};
    for (const n of names) o[n] = await text([...path, n]);
    return o;
  };
  const execMap = async (path: KeyPath): Promise<Raw | undefined> => {
    const names = await list(path);
    if (names.length === 0) return undefined;
    const o: Raw = {};
    for (const n of names) o[n] = await lines([...path, n]);
    return o;
  };
  const fromTo = async (path: KeyPath) => ({ from: await text([...path, 'from']), to: await text([...path, 'to']) });

  const top: Raw = {};
  set(top, 'spool', await text(['spool']));
  set(top, 'log', await text(['log']));
  set(top, 'umask', await text(['umask']));
  if (await exists(['noprogress'])) top.noprogress = true;
  if (await exists(['nohdr'])) top.nohdr = true;
  set(top, 'mcd-listen', await lines(['mcd-listen']));
  const mcdSend = await list(['mcd-send']);
  if (mcdSend.length) {
    const o: Raw = {};
    for (const n of mcdSend) o[n] = await int(['mcd-send', n]);
    top['mcd-send'] = o;
  }

  const notify: Raw = {};
  if (await exists(['notify', 'file'])) notify.file = await fromTo(['notify', 'file']);
  if (await exists(['notify', 'freq'])) notify.freq = await fromTo(['notify', 'freq']);
  const notifyExec = await list(['notify', 'exec'], true);
  if (notifyExec.length) {
    const o: Raw = {};
    for (const n of notifyExec) o[n] = await fromTo(['notify', 'exec', n]);
    notify.exec = o;
  }
  if (Object.keys(notify).length) top.notify = notify;

  if (await exists(['self'])) {
    const o: Raw = {};
    for (const k of SELF_KEYS) set(o, k, await text(['self', k]));
    top.self = o;
  }

  const neigh: Raw = {};
  for (const name of await list(['neigh'])) {
    const p = ['neigh', name];
    const o: Raw = {};
    for (const k of ['id', 'exchpub', 'signpub', 'noisepub', 'incoming']) set(o, k, await text([...p, k]));
    set(o, 'exec', await execMap([...p, 'exec']));
    if (await exists([...p, 'freq'])) {
      const f: Raw = {};
      set(f, 'path', await text([...p, 'freq', 'path']));
      for (const k of ['chunked', 'minsize', 'maxsize']) set(f, k, await int([...p, 'freq', k]));
      o.freq = f;
    }
    set(o, 'via', await lines([...p, 'via']));
    set(o, 'addrs', await stringMap([...p, 'addrs']));
    for (const k of ['rxrate', 'txrate', 'onlinedeadline', 'maxonlinetime']) set(o, k, await int([...p, k]));
    const callDirs = (await list([...p, 'calls'], true)).filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b));
    if (callDirs.length) {
      const calls: Raw[] = [];
      for (const n of callDirs) {
        const cp = [...p, 'calls', n];
        const call: Raw = {};
        for (const k of ['cron', 'nice', 'xx', 'addr']) set(call, k, await text([...cp, k]));
        for (const k of ['rxrate', 'txrate', 'onlinedeadline', 'maxonlinetime']) set(call, k, await int([...cp, k]));
        for (const k of Object.keys(CALL_FLAGS)) if (await exists([...cp, k])) call[k] = true;
        calls.push(call);
      }
      o.calls = calls;
    }
    neigh[name] = o;
  }
  top.neigh = neigh;

  const areaNames = await list(['areas']);
  if (areaNames.length) {
    const areas: Raw = {};
    for (const name of areaNames) {
      const p = ['areas', name];
      const o: Raw = {};
      for (const k of ['id', 'pub', 'prv', 'incoming']) set(o, k, await text([...p, k]));
      set(o, 'subs', await lines([...p, 'subs']));
      set(o, 'exec', await execMap([...p, 'exec']));
      if (await exists([...p, 'allow-unknown'])) o['allow-unknown'] = true;
      areas[name] = o;
    }
    top.areas = areas;
  }

  set(top, 'yggdrasil-aliases', await stringMap(['yggdrasil-aliases']));
  return top;
}
