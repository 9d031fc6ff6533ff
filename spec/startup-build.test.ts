/**
 * The executable's fast start (src/codecache.cts, scripts/bundle-cli.mjs):
 * the CLI bundled into dist/cmd/pigeon.bundle.cjs and run from its V8 code
 * cache. Every run here asks PIGEON_BUNDLE_DEBUG=1 which way it went.
 *
 *   - the bundle and its cache are used, by the executable (bin/pigeon.cjs),
 *     by dist/cmd/pigeon.cjs it runs, and by the
 *     ES-module entry (pigeon.js);
 *   - each command family works from it: cfgnew, file → xfer → toss, stat,
 *     exec, hash, cronexpr, help and malformed flags (yargs, outside the
 *     bundle), fspl (dynamic import);
 *   - what locates files through import.meta.url: cfgenc's balloon workers,
 *     the privsep daemon's network child (a full call through it), the
 *     native addon;
 *   - a stale bundle (an input newer, as after a bare tsc), a missing cache
 *     and a cache V8 rejects: the CLI still works (ES modules, or the bundle
 *     compiled from source).
 * The first test builds the bundle when it is not fresh (as after `tsc`
 * without `npm run build`).
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ANY_COMMAND, BUNDLE_FILE, CACHE_FILE, type CacheHead } from '../src/codecache.cjs';
import { makeNodes } from './helpers/nncp.js';
import { freePort, listening, PIGEON_JS, run, runPigeon, startPigeon, tmpDir, until, type RunOptions } from './helpers/util.js';

const CMD = path.dirname(PIGEON_JS);
const ROOT = path.resolve(CMD, '../..');
const BUNDLE = path.join(CMD, BUNDLE_FILE);
const CACHE = path.join(CMD, CACHE_FILE);
const DEBUG = { PIGEON_BUNDLE_DEBUG: '1' };
const USED = /pigeon: bundle .*pigeon\.bundle\.cjs, code cache used/;

function pigeon(args: readonly string[], opts: RunOptions = {}) {
  return runPigeon(args, { ...opts, env: { ...DEBUG, ...opts.env } });
}

test.before(() => {
  const probe = spawnSync(process.execPath, [PIGEON_JS, '-version'], { env: { ...process.env, ...DEBUG }, encoding: 'utf8' });
  if (!USED.test(probe.stderr)) execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'bundle-cli.mjs')], { stdio: 'ignore' });
});

test.serial('the executable, dist/cmd/pigeon.cjs and the ES-module entry run the bundle from its code cache', async (t) => {
  const r = await pigeon(['-version']);
  t.is(r.code, 0);
  t.regex(r.stdout.toString(), /^pigeon \S+ \(speaks NNCP 8\)\n$/);
  t.regex(r.stderr, USED);
  const esm = await run(process.execPath, [path.join(CMD, 'pigeon.js'), '-version'], { env: DEBUG });
  t.regex(esm.stderr, USED);
  t.is(esm.stdout.toString(), r.stdout.toString());
  t.regex(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'), /"pigeon": "bin\/pigeon\.cjs"/);
  const bin = await run(path.join(ROOT, 'bin', 'pigeon.cjs'), ['-version'], { env: DEBUG });
  t.regex(bin.stderr, USED, 'the executable (bin/pigeon.cjs, through /bin/sh) runs the bundle');
  t.is(bin.stdout.toString(), r.stdout.toString());
  const shim = await run(path.join(ROOT, 'compat', 'nncp-stat'), ['-version'], { env: DEBUG });
  t.regex(shim.stderr, USED, 'the compat shims run the bin');
});

test.serial('the cache has sections for toss, file and stat, each smaller than the one for any command, within the file', (t) => {
  const buf = fs.readFileSync(CACHE);
  const a = buf.indexOf(10);
  const b = buf.indexOf(10, a + 1);
  const head = JSON.parse(buf.toString('utf8', a + 1, b)) as CacheHead;
  const sections = head.sections!;
  t.deepEqual(Object.keys(sections).sort(), [ANY_COMMAND, 'file', 'stat', 'toss'].sort());
  const dataLen = buf.length - (b + 1);
  for (const [name, [off, len]] of Object.entries(sections)) {
    t.true(len > 10_000 && off + len <= dataLen, `${name}: ${off}+${len} of ${dataLen}`);
    if (name !== ANY_COMMAND) t.true(len < sections[ANY_COMMAND][1], `${name} is smaller than ${ANY_COMMAND}`);
  }
});

test.serial('each command family works from the bundle', async (t) => {
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'pigeon' });
  const used = (what: string, r: { code: number; stderr: string }, code = 0) => {
    t.is(r.code, code, `${what}: ${r.stderr}`);
    t.regex(r.stderr, USED, what);
  };
  const cfgnew = await pigeon(['cfgnew', '-nocomments']);
  used('cfgnew', cfgnew);
  t.regex(cfgnew.stdout.toString(), /exchprv: [A-Z2-7]{52}/);

  const src = path.join(dir, 'payload');
  fs.writeFileSync(src, 'from the bundle\n');
  used('file', await pigeon(['file', '-quiet', '-cfg', alice.cfgPath, src, 'bob:got']));
  const stat = await pigeon(['stat', '-cfg', alice.cfgPath]);
  used('stat', stat);
  t.regex(stat.stdout.toString(), /bob[\s\S]*Tx:\s+\S+ \S+,\s+1 pkts/);
  const exec = await pigeon(['exec', '-quiet', '-cfg', alice.cfgPath, 'bob', 'cat'], { input: 'exec body\n' });
  used('exec', exec);
  const stick = path.join(dir, 'stick');
  fs.mkdirSync(stick);
  used('xfer -tx', await pigeon(['xfer', '-quiet', '-mkdir', '-cfg', alice.cfgPath, '-tx', stick]));
  used('xfer -rx', await pigeon(['xfer', '-quiet', '-cfg', bob.cfgPath, '-rx', stick]));
  used('toss', await pigeon(['toss', '-quiet', '-cfg', bob.cfgPath]));
  t.is(fs.readFileSync(path.join(bob.incoming, 'got'), 'utf8'), 'from the bundle\n');

  const hash = await pigeon(['hash', '-file', src]);
  used('hash', hash);
  t.regex(hash.stdout.toString(), /^[0-9a-f]{64}\n$/);
  used('cronexpr', await pigeon(['cronexpr', '*/5 * * * *']));

  // yargs stays out of the bundle: help and malformed lines load it.
  const help = await pigeon(['toss', '-h']);
  used('toss -h', help);
  t.regex(help.stdout.toString(), /Process inbound packets/);
  const bad = await pigeon(['toss', '-nosuchflag']);
  used('toss -nosuchflag', bad, 2);
  t.regex(bad.stderr, /^pigeon toss: unknown flag -nosuchflag; pigeon toss -h lists the flags$/m);

  // fspl: a dynamic import() in cmd/main.ts.
  const q = path.join(dir, 'q');
  used('fspl queue-init', await pigeon(['fspl', 'queue-init', '-q', q]));
  t.true(fs.existsSync(path.join(q, 'jobs')));
  const v = await pigeon(['fspl', '--version']);
  used('fspl --version', v);
  t.regex(v.stdout.toString(), /fspl \(speaks Filespooler 1\.2\)/);
});

test.serial('cfgenc from the bundle runs balloon jobs on worker threads (their script found through import.meta.url)', async (t) => {
  if (spawnSync('script', ['--version']).status !== 0) return t.fail('script(1) from util-linux is needed to give the passphrase a terminal');
  const dir = await tmpDir(t);
  const { alice } = await makeNodes(dir, ['alice'], { generator: 'pigeon' });
  // Every worker the CLI starts, noted once it runs.
  const hook = path.join(dir, 'hook.cjs');
  const seen = path.join(dir, 'workers');
  fs.writeFileSync(
    hook,
    `const wt = require('node:worker_threads');
if (wt.isMainThread) { const W = wt.Worker; wt.Worker = class extends W { constructor(u, o) { super(u, o); this.once('online', () => require('node:fs').appendFileSync(${JSON.stringify(seen)}, String(u) + '\\n')); } }; }\n`,
  );
  const eblob = path.join(dir, 'cfg.eblob');
  const plain = path.join(dir, 'cfg.out');
  const pty = (line: string, typed: string) =>
    spawnSync('script', ['-qec', line, '/dev/null'], { input: typed, encoding: 'utf8', env: { ...process.env, ...DEBUG, NODE_OPTIONS: `--require ${hook}` } });
  const enc = pty(`${process.execPath} ${PIGEON_JS} cfgenc -s 2048 -t 2 -p 2 ${alice.cfgPath} > ${eblob}`, 'pass\npass\n');
  t.is(enc.status, 0, enc.stdout);
  t.regex(enc.stdout, USED);
  const dec = pty(`${process.execPath} ${PIGEON_JS} cfgenc -d ${eblob} > ${plain}`, 'pass\n');
  t.is(dec.status, 0, dec.stdout);
  t.is(fs.readFileSync(plain, 'utf8'), fs.readFileSync(alice.cfgPath, 'utf8'));
  const urls = fs.readFileSync(seen, 'utf8').trim().split('\n');
  t.true(urls.length >= 2, urls.join(' '));
  for (const u of urls) t.is(u, new URL('../src/crypto/balloon-worker.js', `file://${CMD}/`).href);
});

test.serial('the privsep daemon from the bundle starts its network child, and a call goes through it', async (t) => {
  const dir = await tmpDir(t);
  const port = await freePort();
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], {
    generator: 'pigeon',
    neighExtra: (owner) => (owner === 'alice' ? { addrs: { lan: `127.0.0.1:${port}` } } : {}),
  });
  const d = startPigeon(t, ['daemon', '-cfg', bob.cfgPath, '-quiet', '-bind', `127.0.0.1:${port}`], { env: DEBUG });
  await listening(port, 15_000, () => `the daemon (${d.stderr()})`);
  t.regex(d.stderr(), USED);
  const src = path.join(dir, 'payload');
  fs.writeFileSync(src, 'through the network child\n');
  const f = await pigeon(['file', '-quiet', '-cfg', alice.cfgPath, src, 'bob:sent']);
  t.is(f.code, 0, f.stderr);
  const c = await pigeon(['call', '-quiet', '-cfg', alice.cfgPath, 'bob']);
  t.is(c.code, 0, c.stderr);
  const rx = path.join(bob.spool, alice.idB32, 'rx');
  await until(() => fs.existsSync(rx) && fs.readdirSync(rx).some((n) => n.length === 52), 10_000, 'the packet in bob rx/');
  const toss = await pigeon(['toss', '-quiet', '-cfg', bob.cfgPath]);
  t.is(toss.code, 0, toss.stderr);
  t.is(fs.readFileSync(path.join(bob.incoming, 'sent'), 'utf8'), 'through the network child\n');
  t.notRegex(d.stderr(), /Error|privsep-child/, 'no complaint about the child');
});

/** Run `body` with `file` moved aside (or changed by `change`), then put it back as it was. */
async function withChanged(file: string, change: (aside: string) => void, body: () => Promise<void>): Promise<void> {
  const aside = `${file}.aside-${process.pid}`;
  const st = fs.statSync(file);
  fs.copyFileSync(file, aside);
  try {
    change(aside);
    await body();
  } finally {
    fs.utimesSync(aside, st.atime, st.mtime);
    fs.renameSync(aside, file);
  }
}

test.serial('stale bundle, missing cache, rejected cache: the CLI still works', async (t) => {
  const dir = await tmpDir(t);
  const { alice } = await makeNodes(dir, ['alice'], { generator: 'pigeon' });
  const statWorks = async (what: string, expect: RegExp) => {
    const r = await pigeon(['stat', '-cfg', alice.cfgPath]);
    t.is(r.code, 0, `${what}: ${r.stderr}`);
    t.regex(r.stdout.toString(), /^self\b/m, what);
    t.regex(r.stderr, expect, what);
  };
  // an input newer than the bundle, as after a bare tsc
  const input = path.join(ROOT, 'dist', 'src', 'errors.js');
  await withChanged(
    input,
    () => fs.utimesSync(input, new Date(), new Date(Date.now() + 60_000)),
    () => statWorks('stale', /not using the bundle: \.\.\/src\/errors\.js is newer than the bundle/),
  );
  await withChanged(
    CACHE,
    () => fs.rmSync(CACHE),
    () => statWorks('no cache', /not using the bundle: no .*pigeon\.bundle\.cache/),
  );
  // the right head, bytes V8 refuses: the bundle runs compiled from source
  await withChanged(
    CACHE,
    (aside) => {
      const buf = fs.readFileSync(aside);
      const body = buf.indexOf(10, buf.indexOf(10) + 1) + 1;
      fs.writeFileSync(CACHE, Buffer.concat([buf.subarray(0, body), Buffer.alloc(buf.length - body, 0x5a)]));
    },
    () => statWorks('rejected cache', /pigeon: bundle .*, code cache not used/),
  );
  await withChanged(
    BUNDLE,
    () => fs.rmSync(BUNDLE),
    () => statWorks('no bundle', /not using the bundle: no .*pigeon\.bundle\.cjs/),
  );
  await statWorks('restored', USED);
});
