/**
 * Configuration loading: every fault is one line naming the file and the key
 * path; valid configurations (the reference's templates, pigeon's, ones using
 * every documented field, nncp-cfgdir directories) load with the right
 * values. Where the reference binary is present, each refused case is also
 * run through nncp-cfgmin to record whether NNCP refuses it too.
 */
import test from 'ava';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { renderNewConfig } from '../src/config/cfgnew.js';
import { applyUmask, cleanPath, loadConfig } from '../src/config/load.js';
import { tryParseNice as parseNiceness } from '../src/nice.js';
import { findNode, type SelfNode } from '../src/config/types.js';
import { generateNodeKeys } from '../src/crypto/keys.js';
import { ConfigError } from '../src/errors.js';
import { haveNncp, runNncp, tmpDir } from './helpers/util.js';

type Raw = Record<string, any>;

const b32 = base32Encode;
const pubOf = (k: SelfNode) => ({ id: k.idB32, exchpub: b32(k.exchPub), signpub: b32(k.signPub), noisepub: b32(k.noisePub) });
const selfOf = (k: SelfNode) => ({
  id: k.idB32,
  exchpub: b32(k.exchPub),
  exchprv: b32(k.exchPrv),
  signpub: b32(k.signPub),
  signprv: b32(k.signPrv),
  noiseprv: b32(k.noisePrv),
  noisepub: b32(k.noisePub),
});

const me = generateNodeKeys();
const bob = generateNodeKeys();
const alice = generateNodeKeys();

function baseRaw(): Raw {
  return {
    spool: '/var/spool/nncp',
    log: '/var/spool/nncp/log',
    self: selfOf(me),
    neigh: {
      self: { ...pubOf(me), exec: { sendmail: ['/usr/sbin/sendmail'] } },
      bob: { ...pubOf(bob), incoming: '/home/bob/incoming' },
      alice: pubOf(alice),
    },
  };
}

/** Maps as sorted plain objects and bytes as hex, so that key order does not matter. */
function canon(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v instanceof Map) return Object.fromEntries([...v.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, canon(x)]));
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canon(x)]));
  return v;
}

async function writeCfg(dir: string, name: string, content: Raw | string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

async function loadError(file: string, opts: { needSelf?: boolean; env?: NodeJS.ProcessEnv; useKey?: PrivateKey } = {}): Promise<string> {
  try {
    const cfg = await loadConfig({ cfg: file, env: opts.env ?? {}, needSelf: opts.needSelf });
    if (opts.useKey) void cfg.self![opts.useKey];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  }
  throw new Error(`${file} loaded, but it should not have`);
}

/** Refused configurations: mutation of the base, the exact message after "FILE: ", and whether NNCP 8.8.2 refuses it too. */
interface BadCase {
  title: string;
  mutate: (raw: Raw) => void;
  message: string;
  nncpRefuses: boolean;
  needSelf?: boolean;
  /** Refused not at load but at the first read of this private key. */
  onUse?: PrivateKey;
}

type PrivateKey = 'exchPrv' | 'signPrv' | 'noisePrv';

const shortExch = b32(bob.exchPub).slice(0, 48);
const lowerExch = b32(bob.exchPub).toLowerCase();

const badCases: BadCase[] = [
  { title: 'spool missing', mutate: (r) => delete r.spool, message: 'spool: missing: give the absolute path of the spool directory', nncpRefuses: true },
  { title: 'relative spool', mutate: (r) => (r.spool = 'var/spool'), message: 'spool: must be an absolute path, got "var/spool"', nncpRefuses: true },
  { title: 'log of wrong type', mutate: (r) => (r.log = 5), message: 'log: expected a string, got the number 5', nncpRefuses: true },
  { title: 'bad umask', mutate: (r) => (r.umask = '999'), message: 'umask: expected an octal mask from "000" to "777", got "999"', nncpRefuses: true },
  { title: 'umask as a number', mutate: (r) => (r.umask = 22), message: 'umask: expected an octal string like "022" (in quotes), got the number 22', nncpRefuses: true },
  { title: 'noprogress not a boolean', mutate: (r) => (r.noprogress = 'yes'), message: 'noprogress: expected true or false, got the string "yes"', nncpRefuses: true },
  { title: 'notify.file not an object', mutate: (r) => (r.notify = { file: 'x' }), message: 'notify.file: expected an object ({ … }), got the string "x"', nncpRefuses: true },
  { title: 'yggdrasil alias not a string', mutate: (r) => (r['yggdrasil-aliases'] = { a: 1 }), message: 'yggdrasil-aliases.a: expected a string, got the number 1', nncpRefuses: true },
  { title: 'neigh.self missing', mutate: (r) => delete r.neigh.self, message: 'neigh.self: missing: list this node\'s own public keys as neighbour "self" (pigeon cfgnew writes it)', nncpRefuses: true },
  { title: 'exchpub too short', mutate: (r) => (r.neigh.bob.exchpub = shortExch), message: 'neigh.bob.exchpub: expected 52 Base32 characters, got 48', nncpRefuses: true },
  {
    title: 'exchpub not Base32',
    mutate: (r) => (r.neigh.bob.exchpub = lowerExch),
    message: `neigh.bob.exchpub: expected 52 Base32 characters (A-Z, 2-7), found ${JSON.stringify(lowerExch.match(/[^A-Z2-7]/)![0])} at position ${lowerExch.search(/[^A-Z2-7]/) + 1}`,
    nncpRefuses: true,
  },
  { title: 'signpub missing', mutate: (r) => delete r.neigh.bob.signpub, message: 'neigh.bob.signpub: missing', nncpRefuses: true },
  { title: 'id too short', mutate: (r) => (r.neigh.bob.id = 'ABC'), message: 'neigh.bob.id: expected 52 Base32 characters, got 3', nncpRefuses: true },
  {
    title: 'id does not match signpub',
    mutate: (r) => (r.neigh.bob.id = alice.idB32),
    message: `neigh.bob.id: does not match its signpub: the id is BLAKE2b-256 of signpub, ${bob.idB32}`,
    nncpRefuses: false,
  },
  { title: 'rxrate as a string', mutate: (r) => (r.neigh.bob.rxrate = '5'), message: 'neigh.bob.rxrate: expected a whole number, got the string "5"', nncpRefuses: true },
  { title: 'txrate fractional', mutate: (r) => (r.neigh.bob.txrate = 5.5), message: 'neigh.bob.txrate: expected a whole number, got the number 5.5', nncpRefuses: true },
  {
    title: 'negative rxrate',
    mutate: (r) => (r.neigh.bob.rxrate = -5),
    message: 'neigh.bob.rxrate: -5 is out of range: use 0 or leave it out for no limit, or a positive number of packets per second',
    nncpRefuses: false,
  },
  { title: 'onlinedeadline 0', mutate: (r) => (r.neigh.bob.onlinedeadline = 0), message: 'neigh.bob.onlinedeadline: 0 is out of range: the deadline is at least 1 second', nncpRefuses: true },
  { title: 'relative incoming', mutate: (r) => (r.neigh.bob.incoming = 'rel/dir'), message: 'neigh.bob.incoming: must be an absolute path, got "rel/dir"', nncpRefuses: true },
  { title: 'relative freq.path', mutate: (r) => (r.neigh.bob.freq = { path: 'pub' }), message: 'neigh.bob.freq.path: must be an absolute path, got "pub"', nncpRefuses: true },
  { title: 'freq.chunked 0', mutate: (r) => (r.neigh.bob.freq = { path: '/x', chunked: 0 }), message: 'neigh.bob.freq.chunked: 0 is out of range: the chunk size is a positive number of KiB', nncpRefuses: true },
  { title: 'via names an unknown node', mutate: (r) => (r.neigh.bob.via = ['alice', 'carol']), message: 'neigh.bob.via[1]: unknown node "carol": not in neigh', nncpRefuses: true },
  { title: 'via not a list', mutate: (r) => (r.neigh.bob.via = 'alice'), message: 'neigh.bob.via: expected a list of strings ([ … ]), got the string "alice"', nncpRefuses: true },
  {
    title: 'exec entry not a list',
    mutate: (r) => (r.neigh.bob.exec = { sh: '/bin/sh' }),
    message: 'neigh.bob.exec.sh: expected a command as a list of strings, like ["/usr/sbin/sendmail", "-t"], got the string "/bin/sh"',
    nncpRefuses: true,
  },
  {
    title: 'exec entry empty',
    mutate: (r) => (r.neigh.bob.exec = { sh: [] }),
    message: 'neigh.bob.exec.sh: empty command: give the program and its arguments, like ["/usr/sbin/sendmail", "-t"]',
    nncpRefuses: false,
  },
  { title: 'exec argument not a string', mutate: (r) => (r.neigh.bob.exec = { sh: ['/bin/sh', 1] }), message: 'neigh.bob.exec.sh[1]: expected a string, got the number 1', nncpRefuses: true },
  { title: 'call without cron', mutate: (r) => (r.neigh.bob.calls = [{ nice: 'P' }]), message: 'neigh.bob.calls[0].cron: missing', nncpRefuses: true },
  { title: 'call with bad cron', mutate: (r) => (r.neigh.bob.calls = [{ cron: 'foo' }]), message: 'neigh.bob.calls[0].cron: cron expression "foo": 1 field(s), expected 5 (minute hour day-of-month month day-of-week), 6 (… year), 7 (second …) or @hourly, @daily, @weekly, @monthly, @yearly', nncpRefuses: true },
  {
    title: 'call nice as a number',
    mutate: (r) => (r.neigh.bob.calls = [{ cron: '* * * * *', nice: 5 }]),
    message: 'neigh.bob.calls[0].nice: expected a string, like "PRIORITY+10" or "5" in quotes, got the number 5',
    nncpRefuses: true,
  },
  {
    title: 'call nice invalid',
    mutate: (r) => (r.neigh.bob.calls = [{ cron: '* * * * *' }, { cron: '@hourly', nice: 'FOO' }]),
    message: 'neigh.bob.calls[1].nice: "FOO" is not a niceness: use 1..255 or FLASH, PRIORITY, NORMAL, BULK (F, P, N, B) with an optional +N/-N, or MAX',
    nncpRefuses: true,
  },
  { title: 'call xx invalid', mutate: (r) => (r.neigh.bob.calls = [{ cron: '* * * * *', xx: 'both' }]), message: 'neigh.bob.calls[0].xx: expected "rx" or "tx", got "both"', nncpRefuses: true },
  { title: 'calls not a list', mutate: (r) => (r.neigh.bob.calls = { cron: '* * * * *' }), message: 'neigh.bob.calls: expected a list of call objects ([ { cron: … } ]), got an object', nncpRefuses: true },
  {
    title: 'two neighbours with one id',
    mutate: (r) => (r.neigh.bobby = { ...r.neigh.bob }),
    message: 'neigh.bobby.id: same node id as neigh.bob: each node must be listed once',
    nncpRefuses: false,
  },
  {
    title: 'self private key of another node',
    mutate: (r) => (r.self.exchprv = b32(bob.exchPrv)),
    message: 'self.exchprv: is not the private half of self.exchpub',
    nncpRefuses: false,
    onUse: 'exchPrv',
  },
  {
    title: 'self noise key of another node',
    mutate: (r) => (r.self.noiseprv = b32(bob.noisePrv)),
    message: 'self.noiseprv: is not the private half of self.noisepub',
    nncpRefuses: false,
    onUse: 'noisePrv',
  },
  {
    title: 'self sign seed of another node',
    mutate: (r) => (r.self.signprv = b32(new Uint8Array([...bob.signPrv.subarray(0, 32), ...me.signPub]))),
    message: 'self.signprv: is not the private half of self.signpub',
    nncpRefuses: false,
    onUse: 'signPrv',
  },
  { title: 'self signprv too short', mutate: (r) => (r.self.signprv = r.self.signprv.slice(0, 52)), message: 'self.signprv: expected 103 Base32 characters, got 52', nncpRefuses: true },
  {
    title: 'neigh.self differs from self',
    mutate: (r) => {
      r.neigh.self = pubOf(bob);
      delete r.neigh.bob; // else bob's id would be listed twice
    },
    message: 'neigh.self.id: differs from self.id: neigh.self must carry this node\'s own public keys',
    nncpRefuses: false,
  },
  { title: 'self missing when needed', mutate: (r) => delete r.self, needSelf: true, message: 'self: missing: this command needs the node\'s private keys (pigeon cfgnew makes them)', nncpRefuses: false },
  {
    title: 'area subscriber unknown',
    mutate: (r) => (r.areas = { echo: { id: bob.idB32, subs: ['alice', 'carol'] } }),
    message: 'areas.echo.subs[1]: unknown node "carol": not in neigh',
    nncpRefuses: true,
  },
  {
    title: 'area prv without pub',
    mutate: (r) => (r.areas = { 'whatever.pvt': { id: bob.idB32, prv: b32(bob.exchPrv) } }),
    message: 'areas."whatever.pvt".prv: given without pub: an area keypair needs both',
    nncpRefuses: true,
  },
  { title: 'area without id', mutate: (r) => (r.areas = { echo: { subs: [] } }), message: 'areas.echo.id: missing', nncpRefuses: true },
  {
    title: 'area relative incoming',
    mutate: (r) => (r.areas = { echo: { id: bob.idB32, incoming: 'areas/echo' } }),
    message: 'areas.echo.incoming: must be an absolute path, got "areas/echo"',
    nncpRefuses: false,
  },
];

for (const c of badCases) {
  test(`refused: ${c.title}`, async (t) => {
    const dir = await tmpDir(t);
    const raw = baseRaw();
    c.mutate(raw);
    const file = await writeCfg(dir, 'cfg.hjson', raw);
    if (c.onUse) {
      const cfg = await loadConfig({ cfg: file, env: {}, needSelf: c.needSelf }); // loads: the private keys are checked at their first use
      for (const k of ['exchPrv', 'signPrv', 'noisePrv'] as const) if (k !== c.onUse) t.notThrows(() => cfg.self![k], `${k} is not the bad one`);
    }
    const msg = await loadError(file, { needSelf: c.needSelf, useKey: c.onUse });
    t.is(msg, `${file}: ${c.message}`);
    t.false(msg.includes('\n'));
    if (haveNncp() && !c.needSelf) {
      const res = await runNncp('nncp-cfgmin', ['-cfg', file]);
      t.is(res.code !== 0, c.nncpRefuses, `nncp-cfgmin: ${res.stderr.trim()}`);
    }
  });
}

test('the base configuration itself loads, here and in the reference', async (t) => {
  const dir = await tmpDir(t);
  const file = await writeCfg(dir, 'cfg.hjson', baseRaw());
  const cfg = await loadConfig({ cfg: file, env: {}, needSelf: true });
  t.is(cfg.byName.get('bob')!.incoming, '/home/bob/incoming');
  if (haveNncp()) t.is((await runNncp('nncp-cfgmin', ['-cfg', file])).code, 0);
});

test('missing file', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'nope.hjson');
  t.is(await loadError(file), `${file}: no such file; pass -cfg FILE or set $NNCPCFG (pigeon cfgnew makes a new one)`);
});

test('unreadable file', async (t) => {
  const dir = await tmpDir(t);
  const file = await writeCfg(dir, 'cfg.hjson', baseRaw());
  const under = path.join(file, 'x');
  t.is(await loadError(under), `${under}: a component of the path is not a directory`);
  if (process.getuid?.() !== 0) {
    await chmod(file, 0o000);
    t.is(await loadError(file), `${file}: cannot read it: permission denied`);
  } else {
    t.log('running as root: the permission-denied case cannot be provoked');
  }
});

test('Hjson syntax errors name the line', async (t) => {
  const dir = await tmpDir(t);
  const f1 = await writeCfg(dir, 'a.hjson', '{\n  spool: /x\n  log: [1,\n}\n');
  t.is(await loadError(f1), `${f1}: line 4, column 1: Hjson syntax error: Found a punctuator character '}' when expecting a quoteless string (check your syntax)`);
  const f2 = await writeCfg(dir, 'b.hjson', '{\n  spool: /x\n  neigh: {\n}\n');
  t.regex(await loadError(f2), new RegExp(`^${f2.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 5, column 1: Hjson syntax error: End of input while parsing an object`));
  const f3 = await writeCfg(dir, 'c.hjson', '[1, 2]');
  t.is(await loadError(f3), `${f3}: expected an object of settings at the top level, got a list`);
  const f4 = path.join(dir, 'enc.hjson');
  await writeFile(f4, Buffer.concat([Buffer.from('NNCPB\0\0\x03'), Buffer.alloc(40)]));
  // Pigeon reads eblobs now (spec/cfgenc*.test.ts); this one is cut short, which is said before any passphrase is asked.
  t.is(await loadError(f4), `${f4}: truncated eblob: 48 bytes, less than its 56-byte header`);
});

test('$NNCPDEADLINE must be a number', async (t) => {
  const dir = await tmpDir(t);
  const file = await writeCfg(dir, 'cfg.hjson', baseRaw());
  t.is(await loadError(file, { env: { NNCPDEADLINE: 'soon' } }), '$NNCPDEADLINE: expected a whole number of seconds, got "soon"');
});

test('unknown keys are accepted, as NNCP accepts them, and reported as warnings', async (t) => {
  const dir = await tmpDir(t);
  const raw = baseRaw();
  raw.bogus = 1;
  raw.neigh.bob.incomming = '/typo';
  raw.neigh.bob.calls = [{ cron: '@daily', autotoss_nofile: true }];
  const file = await writeCfg(dir, 'cfg.hjson', raw);
  const cfg = await loadConfig({ cfg: file, env: {} });
  t.deepEqual(cfg.warnings, [
    `${file}: bogus: unknown key, ignored`,
    `${file}: neigh.bob.incomming: unknown key, ignored (did you mean incoming?)`,
    `${file}: neigh.bob.calls[0].autotoss_nofile: unknown key, ignored (did you mean autotoss-nofile?)`,
  ]);
  if (haveNncp()) t.is((await runNncp('nncp-cfgmin', ['-cfg', file])).code, 0);
});

test('every documented field, with units converted and references resolved', async (t) => {
  const dir = await tmpDir(t);
  const carol = generateNodeKeys();
  const text = `{
  spool: /var/spool/nncp/
  log: /var/spool//nncp/log
  umask: "022"
  noprogress: true
  nohdr: true
  mcd-listen: ["em[0-3]", "igb_.*"]
  mcd-send: {"em[0-3]": 60, igb_.*: 5}
  yggdrasil-aliases: {
    myprv: 60bb27aa
    alice-endpoint: tcp://example.com:1234?key=689c13fb
  }
  notify: {
    file: {
      from: nncp@localhost
      to: user+file@example.com
    }
    freq: {
      from: nncp@localhost
      to: user+freq@example.com
    }
    exec: {
      bob.somehandle: {
        from: nncp+bob@localhost
        to: user+somehandle@example.com
      }
      "*.anotherhandle": {
        from: nncp@localhost
        to: user+anotherhandle@example.com
      }
    }
  }
  self: ${JSON.stringify(selfOf(me))}
  neigh: {
    self: ${JSON.stringify({ ...pubOf(me), exec: { sendmail: ['/usr/sbin/sendmail'] } })}
    alice: {
      id: "${alice.idB32}"
      exchpub: ${b32(alice.exchPub)}
      signpub: ${b32(alice.signPub)}
      noisepub: ${b32(alice.noisePub)}
      exec: {flag: ["/usr/bin/touch", "-t"]}
      incoming: "/home/alice/incoming/"
      onlinedeadline: 1800
      maxonlinetime: 3600
      addrs: {
        lan: "[fe80::1234%igb0]:5400"
        internet: alice.com:3389
        proxied: "|ssh remote.host nncp-daemon -ucspi"
      }
      calls: [
        {
          cron: "*/1 * * * MON-FRI"
          onlinedeadline: 3600
          nice: PRIORITY+10
          autotoss: true
          autotoss-doseen: true
        }
        {
          cron: "30 * * * SAT,SUN"
          maxonlinetime: 1750
          nice: NORMAL
          rxrate: 10
          txrate: 20
        }
        {
          cron: "0 * * * SAT,SUN"
          xx: rx
          addr: lan
        }
        {
          cron: "*/5 * * * * * *"
          when-tx-exists: true
          nock: true
          mcd-ignore: true
          autotoss-nofile: true
          autotoss-nofreq: true
          autotoss-noexec: true
          autotoss-notrns: true
          autotoss-noarea: true
          addr: "[::1]:5400"
        }
      ]
    }
    bob: {
      id: ${bob.idB32}
      exchpub: ${b32(bob.exchPub)}
      signpub: ${b32(bob.signPub)}
      exec: {
        sendmail: ["/usr/sbin/sendmail"]
        warcer: ["/path/to/warcer.sh"]
      }
      freq: {
        path: "/home/bob/pub"
        chunked: 1024
        minsize: 2048
        maxsize: 4096
      }
      via: ["alice", "${carol.idB32}"]
      rxrate: 10
      txrate: 20
    }
    carol: ${JSON.stringify(pubOf(carol))}
  }
  areas: {
    nodelist: {
      id: ${bob.idB32}
      subs: ["alice", "bob", "${carol.idB32}"]
      incoming: /home/incoming/areas/nodelist
      exec: {sendmail: ["/usr/sbin/sendmail"]}
      allow-unknown: true
    }
  }
}`;
  const file = await writeCfg(dir, 'full.hjson', text);
  const cfg = await loadConfig({ cfg: file, env: {}, needSelf: true });
  t.deepEqual(cfg.warnings, []);
  t.is(cfg.spool, '/var/spool/nncp');
  t.is(cfg.log, '/var/spool/nncp/log');
  t.is(cfg.umask, 0o22);
  t.true(cfg.noProgress);
  t.true(cfg.noHdr);
  t.deepEqual(cfg.mcdListen, ['em[0-3]', 'igb_.*']);
  t.deepEqual([...cfg.mcdSend], [['em[0-3]', 60], ['igb_.*', 5]]);
  t.is(cfg.yggdrasilAliases.get('alice-endpoint'), 'tcp://example.com:1234?key=689c13fb');
  t.deepEqual(cfg.notify?.file, { from: 'nncp@localhost', to: 'user+file@example.com' });
  t.deepEqual(cfg.notify?.exec.get('*.anotherhandle'), { from: 'nncp@localhost', to: 'user+anotherhandle@example.com' });
  t.deepEqual(cfg.self?.signPrv, me.signPrv);

  const a = findNode(cfg, 'alice');
  t.is(a.incoming, '/home/alice/incoming');
  t.deepEqual(a.exec.get('flag'), ['/usr/bin/touch', '-t']);
  t.is(a.onlineDeadline, 1800);
  t.is(a.maxOnlineTime, 3600);
  t.is(a.addrs.get('proxied'), '|ssh remote.host nncp-daemon -ucspi');
  t.deepEqual(a.freq, {});
  t.is(a.calls.length, 4);
  t.like(a.calls[0], { cron: '*/1 * * * MON-FRI', onlineDeadline: 3600, nice: 106, autoToss: true, autoTossDoSeen: true, maxOnlineTime: 0, rxRate: 0 });
  t.like(a.calls[1], { nice: 160, onlineDeadline: 1800, maxOnlineTime: 1750, rxRate: 10, txRate: 20, autoToss: false });
  t.like(a.calls[2], { nice: 255, xx: 'rx', addr: '[fe80::1234%igb0]:5400' });
  t.like(a.calls[3], {
    addr: '[::1]:5400',
    whenTxExists: true,
    noCK: true,
    mcdIgnore: true,
    autoTossNoFile: true,
    autoTossNoFreq: true,
    autoTossNoExec: true,
    autoTossNoTrns: true,
    autoTossNoArea: true,
    autoTossDoSeen: false,
  });

  const b = findNode(cfg, 'bob');
  t.is(b.noisePub, undefined);
  t.deepEqual(b.freq, { path: '/home/bob/pub', chunked: 1024 * 1024, minSize: 2048 * 1024, maxSize: 4096 * 1024 });
  t.deepEqual(b.via, [alice.id, carol.id]);
  t.is(b.rxRate, 10);
  t.is(b.txRate, 20);
  t.is(b.onlineDeadline, 10);
  t.is(b.incoming, undefined);

  const area = cfg.areas.get('nodelist')!;
  t.deepEqual(area.subs, [alice.idB32, bob.idB32, carol.idB32]);
  t.is(area.incoming, '/home/incoming/areas/nodelist');
  t.true(area.allowUnknown);
  t.is(cfg.areasById.get(bob.idB32), area);

  if (haveNncp()) t.is((await runNncp('nncp-cfgmin', ['-cfg', file])).code, 0, 'the reference loads it too');
});

test('findNode: by name, by Base32 id, unknown', async (t) => {
  const dir = await tmpDir(t);
  const file = await writeCfg(dir, 'cfg.hjson', baseRaw());
  const cfg = await loadConfig({ cfg: file, env: {} });
  t.is(findNode(cfg, 'bob').idB32, bob.idB32);
  t.is(findNode(cfg, bob.idB32).name, 'bob');
  t.is(findNode(cfg, 'self').idB32, me.idB32);
  const err = t.throws(() => findNode(cfg, 'carol'), { instanceOf: ConfigError });
  t.is(err?.message, `unknown node carol: not in neigh of ${file}`);
});

test('path and override precedence: $NNCPCFG over -cfg, -spool over $NNCPSPOOL over the file', async (t) => {
  const dir = await tmpDir(t);
  const one = await writeCfg(dir, 'one.hjson', baseRaw());
  const twoRaw = baseRaw();
  twoRaw.spool = '/srv/two';
  const two = await writeCfg(dir, 'two.hjson', twoRaw);
  t.is((await loadConfig({ cfg: one, env: { NNCPCFG: two } })).path, two);
  t.is((await loadConfig({ cfg: one, env: { NNCPCFG: '' } })).path, one);
  const c1 = await loadConfig({ cfg: one, env: { NNCPSPOOL: '/env/spool', NNCPLOG: 'FD:3' } });
  t.is(c1.spool, '/env/spool');
  t.is(c1.log, 'FD:3');
  const c2 = await loadConfig({ cfg: one, spool: '/flag/spool', log: '/flag/log', env: { NNCPSPOOL: '/env/spool', NNCPLOG: '/env/log' } });
  t.is(c2.spool, '/flag/spool');
  t.is(c2.log, '/flag/log');
  const c3 = await loadConfig({ cfg: one, env: { NNCPDEADLINE: '42' } });
  t.is(c3.byName.get('bob')!.onlineDeadline, 42);
  const c4 = await loadConfig({ cfg: one, env: {} });
  t.is(c4.byName.get('bob')!.onlineDeadline, 10);
});

test('pigeon cfgnew templates load, with and without comments', async (t) => {
  const dir = await tmpDir(t);
  for (const noComments of [false, true]) {
    const keys = generateNodeKeys();
    const file = await writeCfg(dir, `new-${noComments}.hjson`, renderNewConfig(keys, { noComments }));
    const cfg = await loadConfig({ cfg: file, env: {}, needSelf: true });
    t.deepEqual(cfg.warnings, []);
    t.deepEqual(cfg.self, keys);
    t.is(cfg.spool, '/var/spool/nncp');
    t.deepEqual(cfg.byName.get('self')!.exec.get('sendmail'), ['/usr/sbin/sendmail']);
    t.deepEqual([...cfg.byName.keys()], ['self']);
    if (!noComments) t.deepEqual([...cfg.mcdSend], [['.*', 10]]);
  }
});

test('nncp-cfgnew templates load, with and without comments', async (t) => {
  if (!haveNncp()) {
    t.log('SKIP: reference nncp-cfgnew not installed');
    t.pass();
    return;
  }
  const dir = await tmpDir(t);
  for (const args of [[], ['-nocomments']]) {
    const res = await runNncp('nncp-cfgnew', args);
    const file = await writeCfg(dir, `n${args.length}.hjson`, res.stdout.toString('utf8'));
    const cfg = await loadConfig({ cfg: file, env: {}, needSelf: true });
    t.deepEqual(cfg.warnings, []);
    t.is(findNode(cfg, 'self').idB32, cfg.self!.idB32);
    t.is(cfg.log, '/var/spool/nncp/log');
    t.deepEqual(cfg.mcdListen, args.length ? [] : ['.*']);
  }
  // An area section from nncp-cfgnew -area, pasted into a config.
  const area = await runNncp('nncp-cfgnew', ['-area', 'echo']);
  const base = (await runNncp('nncp-cfgnew', ['-nocomments'])).stdout.toString('utf8');
  const file = await writeCfg(dir, 'area.hjson', base.replace(/\n}\n$/, '\n' + area.stdout.toString('utf8') + '}\n'));
  const cfg = await loadConfig({ cfg: file, env: {} });
  t.truthy(cfg.areas.get('echo')?.prv);
  t.deepEqual(cfg.warnings, []);
});

test('nncp-cfgdir directory layout loads like the file it was dumped from', async (t) => {
  if (!haveNncp()) {
    t.log('SKIP: reference nncp-cfgdir not installed');
    t.pass();
    return;
  }
  const dir = await tmpDir(t);
  const raw = baseRaw();
  raw.umask = '027';
  raw.noprogress = true;
  raw['mcd-send'] = { 'em[0-3]': 60, igb0: 5 }; // (names starting with "." are skipped in a config dir, by design)
  raw['mcd-listen'] = ['em0', 'em1'];
  raw.notify = { file: { from: 'a@b', to: 'c@d' }, exec: { 'bob.x': { from: 'e@f', to: 'g@h' } } };
  Object.assign(raw.neigh.bob, {
    exec: { sh: ['/bin/sh', '-c'] },
    freq: { path: '/pub', chunked: 64, maxsize: 100 },
    via: ['alice'],
    addrs: { lan: '10.0.0.1:5400' },
    rxrate: 3,
    onlinedeadline: 60,
    calls: [{ cron: '@hourly', addr: 'lan', autotoss: true, nice: 'B' }, { cron: '*/2 * * * *', xx: 'tx' }],
  });
  raw.areas = { echo: { id: alice.idB32, subs: ['bob'], 'allow-unknown': true, exec: { cat: ['/bin/cat'] } } };
  raw['yggdrasil-aliases'] = { myprv: 'abc' };
  const file = await writeCfg(dir, 'cfg.hjson', raw);
  const cfgDir = path.join(dir, 'cfgdir');
  const dump = await runNncp('nncp-cfgdir', ['-cfg', file, '-dump', cfgDir]);
  t.is(dump.code, 0, dump.stderr);
  const fromFile = await loadConfig({ cfg: file, env: {} });
  const fromDir = await loadConfig({ cfg: cfgDir, env: {} });
  t.is(fromDir.path, cfgDir);
  t.deepEqual(canon({ ...fromDir, path: '' }), canon({ ...fromFile, path: '' }));

  // A fault inside the directory names the directory and the key path.
  await writeFile(path.join(cfgDir, 'neigh', 'bob', 'rxrate'), 'lots\n');
  t.is(await loadError(cfgDir), `${cfgDir}: neigh.bob.rxrate: expected a whole number in ${cfgDir}/neigh/bob/rxrate, got "lots"`);
  await mkdir(path.join(dir, 'empty'));
  t.is(await loadError(path.join(dir, 'empty')), `${path.join(dir, 'empty')}: spool: missing: give the absolute path of the spool directory`);
});

test.serial('applyUmask sets the configured umask', async (t) => {
  const dir = await tmpDir(t);
  const raw = baseRaw();
  raw.umask = '027';
  const file = await writeCfg(dir, 'cfg.hjson', raw);
  const cfg = await loadConfig({ cfg: file, env: {} });
  const before = process.umask();
  try {
    applyUmask(cfg);
    t.is(process.umask(), 0o027);
  } finally {
    process.umask(before);
  }
});

test('niceness and path helpers follow NNCP', (t) => {
  t.is(parseNiceness('PRIORITY+10'), 106);
  t.is(parseNiceness('p+10'), 106);
  t.is(parseNiceness('F-31'), 1);
  t.is(parseNiceness('F-32'), null);
  t.is(parseNiceness('B+31'), 255);
  t.is(parseNiceness('B+32'), null);
  t.is(parseNiceness('N+32'), 192);
  t.is(parseNiceness('max'), 255);
  t.is(parseNiceness('0'), null);
  t.is(parseNiceness('255'), 255);
  t.is(parseNiceness('256'), null);
  t.is(parseNiceness('Normal'), 160);
  t.is(parseNiceness('x+1'), null);
  t.is(cleanPath('/a//b/../c/'), '/a/c');
  t.is(cleanPath('/'), '/');
  t.is(cleanPath(''), '.');
});
