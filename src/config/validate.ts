/**
 * Validation: a parsed configuration object (from an Hjson file or a config
 * directory) → the typed `Config`. Which keys exist is schema.ts's business;
 * this module checks each known key's value, converts units, resolves
 * references between sections and checks the keys against each other.
 *
 * Where NNCP 8.8.2 accepts something that cannot work, we refuse it and say
 * why: an id that is not BLAKE2b-256(signpub), private keys that do not match
 * their public halves, neigh.self differing from self, two neighbours with
 * one id, negative rates, an empty exec command, a relative area incoming.
 */
import { base32Encode } from '../codec/base32.js';
import { bytesEqual } from '../codec/bytes.js';
// node:crypto derivations (ecc.ts) keep loading fast; keys.ts is noble, slow to warm up.
import { ed25519Public, x25519Public } from '../crypto/ecc.js';
import { areaIdFromPub, nodeIdFromSignPub } from '../crypto/keys.js';
import { tryParseNice } from '../nice.js';
import { parseCron } from '../cron/cronexpr.js';
import { errorLine } from '../errors.js';
import { Checker, describe, formatKeyPath, isObject, type KeyPath, type Raw } from './checker.js';
import { DEFAULT_DEADLINE_S, envDeadlineSeconds } from './env.js';
import { ACK_KEYS, AREA_KEYS, CALL_FLAGS, CALL_KEYS, FREQ_KEYS, FROMTO_KEYS, NEIGH_KEYS, NOTIFY_KEYS, SELF_KEYS, TOP_KEYS } from './schema.js';
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

/** Niceness of a call that does not set one. */
const DEFAULT_CALL_NICE = 255;

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

  const defDeadline = envDeadlineSeconds(env) ?? DEFAULT_DEADLINE_S;
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
      if (listed && !bytesEqual(mine, listed)) c.fail(['neigh', 'self', k], `differs from self.${k}: neigh.self must carry this node's own public keys`);
    }
  }

  if (notify && (notify.file || notify.freq || notify.exec.size) && !byName.get('self')!.exec.has('sendmail')) {
    c.warn(['notify'], 'no notification can be sent: neigh.self.exec has no sendmail; add sendmail: ["/usr/sbin/sendmail"] there');
  }

  const areas = new Map<string, AreaConfig>();
  const areasById = new Map<string, AreaConfig>();
  const areasRaw = c.optObj(top, 'areas', []);
  if (areasRaw) {
    for (const name of Object.keys(areasRaw)) {
      const area = readArea(c, name, c.obj(areasRaw[name], ['areas', name]), lookup);
      areas.set(name, area);
      const other = areasById.get(area.idB32);
      if (other) c.warn(['areas', name, 'id'], `same id as areas.${formatKeyPath([other.name])}; packets of that id go to the latter`);
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
  if (!bytesEqual(nodeIdFromSignPub(signPub), id)) c.fail([...p, 'id'], `does not match self.signpub: the id is BLAKE2b-256 of signpub, ${base32Encode(nodeIdFromSignPub(signPub))}`);
  if (!bytesEqual(signPrv.subarray(32), signPub)) c.fail([...p, 'signprv'], 'is not the private half of self.signpub');
  // Deriving a public half needs node:crypto (some 10 ms to load, 1 ms a
  // key), which a command that never uses a private key (toss of an empty
  // spool, stat) should not pay: each private key is checked at its first
  // read, and a mismatch is the same ConfigError then.
  const checked = (check: () => void): (() => void) => {
    let done = false;
    return () => {
      if (!done) check();
      done = true;
    };
  };
  const checkSign = checked(() => {
    if (!bytesEqual(ed25519Public(signPrv.subarray(0, 32)), signPub)) c.fail([...p, 'signprv'], 'is not the private half of self.signpub');
  });
  const checkExch = checked(() => {
    if (!bytesEqual(x25519Public(exchPrv), exchPub)) c.fail([...p, 'exchprv'], 'is not the private half of self.exchpub');
  });
  const checkNoise = checked(() => {
    if (!bytesEqual(x25519Public(noisePrv), noisePub)) c.fail([...p, 'noiseprv'], 'is not the private half of self.noisepub');
  });
  return {
    id,
    idB32: base32Encode(id),
    exchPub,
    signPub,
    noisePub,
    get exchPrv() {
      checkExch();
      return exchPrv;
    },
    get signPrv() {
      checkSign();
      return signPrv;
    },
    get noisePrv() {
      checkNoise();
      return noisePrv;
    },
  };
}

function readNeighbour(c: Checker, name: string, o: Raw, p: KeyPath, defDeadline: number): Neighbour {
  c.keys(o, p, NEIGH_KEYS);
  const id = c.key(o, 'id', p, 32);
  const exchPub = c.key(o, 'exchpub', p, 32);
  const signPub = c.key(o, 'signpub', p, 32);
  const noiseStr = c.optStr(o, 'noisepub', p);
  const noisePub = noiseStr === undefined ? undefined : c.decodeKey(noiseStr, [...p, 'noisepub'], 32);
  const expect = nodeIdFromSignPub(signPub);
  if (!bytesEqual(expect, id)) c.fail([...p, 'id'], `does not match its signpub: the id is BLAKE2b-256 of signpub, ${base32Encode(expect)}`);

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

  let ack: Neighbour['ack'];
  const ackRaw = c.optObj(o, 'ack', p);
  if (ackRaw) {
    const ap = [...p, 'ack'];
    c.keys(ackRaw, ap, ACK_KEYS);
    ack = {};
    if (typeof ackRaw.nice === 'number') c.fail([...ap, 'nice'], `expected a string, like "NORMAL" or "${ackRaw.nice}" in quotes, got the number ${ackRaw.nice}`);
    const niceStr = c.optStr(ackRaw, 'nice', ap);
    if (niceStr !== undefined) {
      const n = tryParseNice(niceStr);
      if (n === null) c.fail([...ap, 'nice'], `${JSON.stringify(niceStr)} is not a niceness: use 1..255 or FLASH, PRIORITY, NORMAL, BULK (F, P, N, B) with an optional +N/-N, or MAX`);
      ack.nice = n;
    }
    const minSize = c.optInt(ackRaw, 'minsize', ap, 0, 'the size is a number of KiB, 0 or more');
    if (minSize !== undefined) ack.minSize = minSize * 1024;
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
        autoTossGenAck: false,
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
    ack,
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
      if (!k.includes('.')) c.warn(ep, `matches nothing, keys are NODE.HANDLE or *.HANDLE`);
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
    if (!bytesEqual(x25519Public(prv), pub)) c.fail([...p, 'prv'], `is not the private half of areas.${formatKeyPath([name])}.pub`);
  }
  if (pub && !bytesEqual(areaIdFromPub(pub), id)) {
    c.warn([...p, 'id'], `is not BLAKE2b-256 of its pub (nncp-cfgnew -area makes it so)`);
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
