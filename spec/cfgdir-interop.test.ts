/**
 * `pigeon cfgdir -dump/-load` against `nncp-cfgdir`: the same directory
 * (names, contents, modes) from the same configuration, the same Hjson text
 * from the same directory, and each side reading what the other wrote.
 */
import test from 'ava';
import Hjson from 'hjson';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { parseConfigText } from '../src/config/load.js';
import { generateAreaKeys } from '../src/crypto/keys.js';
import { makeNodes } from './helpers/nncp.js';
import { asText, fileContents, listFiles, requireNncp, runNncp, runPigeon, tmpDir, type RunResult } from './helpers/util.js';

function out(what: string, r: RunResult): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.toString('utf8');
}

/** A configuration using every key nncp-cfgdir knows. */
async function richConfig(dir: string): Promise<string> {
  const nodes = await makeNodes(dir, ['alice', 'bob', 'carol'], {
    neighExtra: (_owner, neigh) =>
      neigh === 'bob'
        ? {
            via: ['carol'],
            onlinedeadline: 1800,
            maxonlinetime: 3600,
            rxrate: 10,
            txrate: 20,
            addrs: { lan: '[fe80::1234%igb0]:5400', internet: 'alice.com:3389' },
            freq: { path: path.join(dir, 'pub'), chunked: 1024, minsize: 2048, maxsize: 4096 },
            calls: [
              {
                cron: '*/2 * * * *', onlinedeadline: 1800, maxonlinetime: 1750, nice: 'PRIORITY+10', rxrate: 10, txrate: 20, xx: 'rx', addr: 'lan',
                'when-tx-exists': true, nock: true, 'mcd-ignore': true, autotoss: true, 'autotoss-doseen': true, 'autotoss-nofile': true,
                'autotoss-nofreq': true, 'autotoss-noexec': true, 'autotoss-notrns': true, 'autotoss-noarea': true,
              },
              { cron: '*/5 * * * *', nock: false },
            ],
          }
        : { freq: {} },
  });
  const a = generateAreaKeys();
  const b = generateAreaKeys();
  const alice = nodes.alice;
  Object.assign(alice.raw, {
    umask: '022',
    noprogress: true,
    nohdr: true,
    'mcd-listen': ['eth0', 'veth.*'],
    'mcd-send': { eth0: 10, 'veth.*': 5 },
    'yggdrasil-aliases': { myprv: 'abcd', 'default-endpoints': 'tcp://[::1]:2345' },
    notify: {
      file: { from: 'nncp@localhost', to: 'user+file@example.com' },
      freq: { from: 'nncp@localhost', to: 'user+freq@example.com' },
      exec: {
        'bob.somehandle': { from: 'nncp+bob@localhost', to: 'user+somehandle@example.com' },
        '*.anotherhandle': { from: 'nncp@localhost', to: 'user+anotherhandle@example.com' },
      },
    },
    areas: {
      nodelist: {
        id: base32Encode(a.id), pub: base32Encode(a.pub), prv: base32Encode(a.prv), subs: ['bob', 'carol'],
        incoming: path.join(dir, 'areain'), exec: { sendmail: ['/usr/sbin/sendmail', '-t'] }, 'allow-unknown': true,
      },
      other: { id: base32Encode(b.id) },
    },
  });
  writeFileSync(alice.cfgPath, JSON.stringify(alice.raw, null, 2));
  return alice.cfgPath;
}

/** `v` with every Map's entries sorted by key (a Map compares in insertion order). */
function sortedMaps(v: unknown): unknown {
  if (v instanceof Map) return new Map([...v.entries()].sort(([x], [y]) => (String(x) < String(y) ? -1 : 1)).map(([k, x]) => [k, sortedMaps(x)]));
  if (Array.isArray(v)) return v.map(sortedMaps);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sortedMaps(x)]));
  return v;
}

/** Relative path -> "MODE content" for every file, and "MODE/" for every directory. */
function tree(root: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const f of listFiles(root, { dirs: true })) {
    const mode = (statSync(path.join(root, f)).mode & 0o777).toString(8);
    o[f] = f.endsWith('/') ? `${mode}/` : `${mode} ${readFileSync(path.join(root, f), 'utf8')}`;
  }
  return o;
}

test('pigeon cfgdir -dump writes the directory nncp-cfgdir -dump writes, byte for byte and mode for mode', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const cfg = await richConfig(dir);
  out('nncp-cfgdir -dump', await runNncp('nncp-cfgdir', ['-cfg', cfg, '-dump', path.join(dir, 'theirs')]));
  const r = await runPigeon(['cfgdir', '-cfg', cfg, '-dump', path.join(dir, 'ours')]);
  out('pigeon cfgdir -dump', r);
  t.is(r.stderr.toString(), '');
  const theirs = tree(path.join(dir, 'theirs'));
  t.true(Object.keys(theirs).length > 60);
  t.deepEqual(tree(path.join(dir, 'ours')), theirs);
  t.is(theirs['self/signprv'].slice(0, 4), '600 ');
  t.is(theirs['areas/nodelist/prv'].slice(0, 4), '600 ');
});

test('pigeon cfgdir -load prints what nncp-cfgdir -load prints, from either side\'s directory', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const cfg = await richConfig(dir);
  out('nncp-cfgdir -dump', await runNncp('nncp-cfgdir', ['-cfg', cfg, '-dump', path.join(dir, 'theirs')]));
  out('pigeon cfgdir -dump', await runPigeon(['cfgdir', '-cfg', cfg, '-dump', path.join(dir, 'ours')]));
  const reference = out('nncp-cfgdir -load', await runNncp('nncp-cfgdir', ['-load', path.join(dir, 'theirs')]));
  t.is(out('nncp-cfgdir -load ours', await runNncp('nncp-cfgdir', ['-load', path.join(dir, 'ours')])), reference);
  t.is(out('pigeon cfgdir -load theirs', await runPigeon(['cfgdir', '-load', path.join(dir, 'theirs')])), reference);
  t.is(out('pigeon cfgdir -load ours', await runPigeon(['cfgdir', '-load', path.join(dir, 'ours')])), reference);
  t.regex(reference, /^\{\n {2}spool: /);
  t.regex(reference, /\n {6}freq: \{\n {6}\}\n/);
  t.regex(reference, /\n {6}subs: \[\]\n/);

  // The printed file is the same configuration again, and dumps to the same directory.
  const back = path.join(dir, 'back.hjson');
  writeFileSync(back, reference);
  const a = parseConfigText(readFileSync(cfg, 'utf8'), cfg, { env: {} });
  const b = parseConfigText(reference, back, { env: {} });
  t.deepEqual(sortedMaps({ ...b, path: '' }), sortedMaps({ ...a, path: '' }));
  out('pigeon cfgdir -dump again', await runPigeon(['cfgdir', '-cfg', back, '-dump', path.join(dir, 'again')]));
  t.deepEqual(tree(path.join(dir, 'again')), tree(path.join(dir, 'theirs')));
});

test('each side runs on the other side\'s configuration directory (-cfg DIR)', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const cfg = await richConfig(dir);
  out('nncp-cfgdir -dump', await runNncp('nncp-cfgdir', ['-cfg', cfg, '-dump', path.join(dir, 'theirs')]));
  out('pigeon cfgdir -dump', await runPigeon(['cfgdir', '-cfg', cfg, '-dump', path.join(dir, 'ours')]));
  const min = out('nncp-cfgmin', await runNncp('nncp-cfgmin', ['-cfg', cfg]));
  t.is(out('nncp-cfgmin -cfg ours', await runNncp('nncp-cfgmin', ['-cfg', path.join(dir, 'ours')])), min);
  t.is(out('pigeon cfgmin -cfg theirs', await runPigeon(['cfgmin', '-cfg', path.join(dir, 'theirs')])), min);
});

test('cfgdir -dump keeps the default mcd-send ".*" as nncp-cfgdir does, and says it is skipped when read', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'new.hjson');
  writeFileSync(cfg, out('nncp-cfgnew', await runNncp('nncp-cfgnew', [])));
  out('nncp-cfgdir -dump', await runNncp('nncp-cfgdir', ['-cfg', cfg, '-dump', path.join(dir, 'theirs')]));
  const r = asText(await runPigeon(['cfgdir', '-cfg', cfg, '-dump', path.join(dir, 'ours')]));
  t.is(r.code, 0, r.stderr);
  t.deepEqual(tree(path.join(dir, 'ours')), tree(path.join(dir, 'theirs')));
  t.true(existsSync(path.join(dir, 'ours', 'mcd-send', '.*')));
  t.regex(r.stderr, /^pigeon cfgdir: warning: mcd-send\.".\*": written as .*mcd-send\/\.\*, but names starting with "\." are skipped/);
  t.is(r.stderr.split('\n').filter(Boolean).length, 1);
  t.is(out('pigeon -load', await runPigeon(['cfgdir', '-load', path.join(dir, 'ours')])), out('nncp -load', await runNncp('nncp-cfgdir', ['-load', path.join(dir, 'ours')])));
});

test('cfgdir: mistakes get one line naming what to do', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'cfg.hjson');
  writeFileSync(cfg, out('pigeon cfgnew', await runPigeon(['cfgnew', '-nocomments'])));
  const one = async (args: string[], re: RegExp, code = 1): Promise<void> => {
    const r = asText(await runPigeon(['cfgdir', ...args]));
    t.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.is(r.stdout, '');
  };
  await one([], /^pigeon cfgdir: give one of -dump and -load: pigeon cfgdir \[-cfg FILE\] -dump DIR/);
  await one(['-cfg', cfg, '-dump', '-load', dir], /give one of -dump and -load/);
  await one(['-load'], /name the directory/);
  await one(['-load', path.join(dir, 'none')], /none: no such file/);
  await one(['-load', cfg], /cfg\.hjson: not a directory: -load reads a configuration directory/);
  await one(['-cfg', path.join(dir, 'missing.hjson'), '-dump', path.join(dir, 'd')], /missing\.hjson: no such file/);
  t.false(existsSync(path.join(dir, 'd')));

  // A directory that is not a valid configuration is refused on -load, as by nncp-cfgdir.
  const bad = path.join(dir, 'bad');
  out('dump', await runPigeon(['cfgdir', '-cfg', cfg, '-dump', bad]));
  writeFileSync(path.join(bad, 'neigh', 'self', 'id'), 'NOTANID\n');
  await one(['-load', bad], /bad: neigh\.self\.id/);

  // A neighbour name that cannot be a file name is refused before anything is written.
  const raw = Hjson.parse(readFileSync(cfg, 'utf8'));
  raw.neigh['a/b'] = Hjson.parse(out('pigeon cfgnew', await runPigeon(['cfgnew', '-nocomments']))).neigh.self;
  const slash = path.join(dir, 'slash.hjson');
  writeFileSync(slash, JSON.stringify(raw));
  const r = asText(await runPigeon(['cfgdir', '-cfg', slash, '-dump', path.join(dir, 's')]));
  t.is(r.code, 1);
  t.regex(r.stderr, /neigh\."a\/b": "a\/b" cannot be a file name in a configuration directory/);
  t.false(existsSync(path.join(dir, 's', 'neigh', 'a')));
});

test('cfgdir -dump into a used directory overwrites, keeps the rest as nncp-cfgdir does, and names what it kept', async (t) => {
  const dir = await tmpDir(t);
  const cfg = path.join(dir, 'cfg.hjson');
  writeFileSync(cfg, out('pigeon cfgnew', await runPigeon(['cfgnew', '-nocomments'])));
  const d = path.join(dir, 'd');
  mkdirSync(path.join(d, 'neigh', 'old'), { recursive: true });
  writeFileSync(path.join(d, 'neigh', 'old', 'id'), 'X\n');
  writeFileSync(path.join(d, 'spool'), '/elsewhere\n');
  writeFileSync(path.join(d, '.hidden'), '');
  chmodSync(path.join(d, 'spool'), 0o644);
  const r = asText(await runPigeon(['cfgdir', '-cfg', cfg, '-dump', d]));
  t.is(r.code, 0, r.stderr);
  t.is(readFileSync(path.join(d, 'spool'), 'utf8'), '/var/spool/nncp\n');
  t.regex(r.stderr, /d: 1 file\(s\) there were not written by this dump and are still read as configuration: neigh\/old\/id; remove them/);
  t.true(existsSync(path.join(d, 'neigh', 'old', 'id')));
  // Nothing but the configuration's own files: no temporary files left behind.
  t.deepEqual([...fileContents(d).keys()].filter((f) => f.includes('pigeon-cfgdir')), []);
});
