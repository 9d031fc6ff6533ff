/**
 * The package as a user gets it: `npm pack`, then `npm install -g` of the
 * tarball into a fresh prefix. The tarball ships compat/, man/, examples/,
 * the type declarations and the addon's source, never a built addon; the
 * install builds the addon on this machine; the installed `pigeon` runs,
 * its library imports (docs/api.md's example runs against it) and its
 * declarations type-check; without a C compiler the install still
 * succeeds and pigeon runs on node:crypto.
 *
 * Dependencies come from npm's cache, or the registry (no other network).
 * Installing with every dependency's install script compiles zstd-napi's
 * libzstd from source when its prebuilt binary cannot be fetched from
 * GitHub: minutes. So by default the install runs with --ignore-scripts
 * and then does what the scripts do: this package's install script for
 * real, and the two native dependencies' builds copied from this
 * repository's node_modules (same versions). With PIGEON_PACK_FULL=1 the
 * install runs every script, as a user's does.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tmpNodes } from './helpers/nncp.js';
import { run, tmpDir } from './helpers/util.js';
import { runApiExample } from './helpers/apidoc.js';

const repo = process.cwd();
const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8'));
const full = process.env.PIGEON_PACK_FULL === '1';

function npm(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) {
  return run('npm', args, { cwd: opts.cwd, env: { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...opts.env }, timeout: opts.timeout ?? 600_000 });
}

function filesUnder(root: string, sub: string): string[] {
  const base = path.join(root, sub);
  if (!fs.existsSync(base)) return [];
  return (fs.readdirSync(base, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(base, f)).isFile()).sort();
}

test('npm pack, npm install -g into a fresh prefix: pigeon runs, native addon built here, man/compat/examples and the library are there', async (t) => {
  t.timeout(full ? 1_800_000 : 300_000);
  const dir = await tmpDir(t);
  // 1. pack (dist/ is already built: npm test builds before ava)
  const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: repo });
  t.is(packed.code, 0, packed.stderr);
  const info = JSON.parse(packed.stdout.toString())[0];
  t.is(info.name, 'pigeon-nncp');
  const shipped: string[] = info.files.map((f: { path: string }) => f.path);
  t.false(shipped.some((f) => f.startsWith('build/')), 'a built addon is shipped');
  t.false(shipped.some((f) => f.startsWith('dist/spec/') || f.startsWith('dist/bench/') || f.endsWith('.map')));
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/cmd/pigeon.js', 'native/aead.c', 'scripts/build-native.mjs', 'compat/nncp-toss', pkg.types]) t.true(shipped.includes(f), f);
  for (const d of ['compat', 'man', 'examples']) t.deepEqual(shipped.filter((f) => f.startsWith(d + '/')).sort(), filesUnder(repo, d).map((f) => `${d}/${f}`), d);

  // 2. install into a fresh prefix
  const prefix = path.join(dir, 'prefix');
  const tgz = path.join(dir, info.filename);
  const env = { npm_config_prefix: prefix };
  const inst = await npm(['install', '-g', '--prefer-offline', ...(full ? [] : ['--ignore-scripts']), tgz], { cwd: dir, env });
  t.is(inst.code, 0, inst.stderr);
  const home = path.join(prefix, 'lib', 'node_modules', 'pigeon-nncp');
  const bin = path.join(prefix, 'bin', 'pigeon');
  if (!full) {
    for (const dep of ['fs-ext', 'zstd-napi']) fs.cpSync(path.join(repo, 'node_modules', dep, 'build'), path.join(home, 'node_modules', dep, 'build'), { recursive: true });
    const script = pkg.scripts.install as string;
    t.is(script, 'node scripts/build-native.mjs');
    execFileSync('sh', ['-c', script], { cwd: home, stdio: 'ignore' });
  }
  t.true(fs.existsSync(path.join(home, 'build', 'pigeon_native.node')), 'the install built the addon');
  for (const d of ['compat', 'man', 'examples']) t.deepEqual(filesUnder(home, d), filesUnder(repo, d), d);

  // 3. the executable, with the addon built here
  const v = await run(bin, ['-version']);
  t.is(v.code, 0, v.stderr);
  t.regex(v.stdout.toString(), /^pigeon \d/);
  const { me } = await tmpNodes(t, ['me', 'peer'], { generator: 'pigeon' });
  const st = await run(bin, ['stat', '-debug', '-cfg', me.cfgPath], { env: { PIGEON_NATIVE: '' } });
  t.is(st.code, 0, st.stderr);
  t.regex(st.stderr, /^Engine: native$/m);
  t.regex(st.stdout.toString(), /^peer$/m);
  const compat = await run(path.join(home, 'compat', 'nncp-stat'), ['-json', '-cfg', me.cfgPath]);
  t.is(compat.code, 0, compat.stderr);
  t.is(JSON.parse(compat.stdout.toString().split('\n')[0]).node, 'peer');

  // 4. the library: docs/api.md's example against the installed package, and its declarations
  const ex = await runApiExample(t, home);
  t.is(ex.r.code, 0, ex.r.stderr + ex.r.stdout.toString());
  t.is(fs.readFileSync(path.join(ex.nodes.bob.incoming, 'note.txt'), 'utf8'), 'hello from the library\n');
  const tsDir = path.join(dir, 'ts');
  fs.mkdirSync(path.join(tsDir, 'node_modules'), { recursive: true });
  fs.symlinkSync(home, path.join(tsDir, 'node_modules', 'pigeon-nncp'));
  fs.writeFileSync(path.join(tsDir, 'package.json'), '{"type":"module"}\n');
  fs.writeFileSync(
    path.join(tsDir, 'use.ts'),
    "import { loadConfig, spoolStatus, makeContext, type NodeStatus } from 'pigeon-nncp';\n" +
      "const ctx = await makeContext('x.hjson');\nconst s: NodeStatus[] = await spoolStatus(ctx);\nconst n: number = s[0].tx.pkts;\nconst c = await loadConfig('x.hjson');\nexport const id: string = c.self!.idB32 + n;\n" +
      "// @ts-expect-error: the declarations know spoolStatus's options\nawait spoolStatus(ctx, { nosuch: 1 });\n",
  );
  const tsc = await run(process.execPath, [path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--typeRoots', path.join(repo, 'node_modules', '@types'), '--types', 'node', 'use.ts'], { cwd: tsDir });
  t.is(tsc.code, 0, tsc.stdout.toString() + tsc.stderr);

  // 5. no C compiler: the install script says so in one line, succeeds, and pigeon runs on node:crypto
  fs.rmSync(path.join(home, 'build'), { recursive: true });
  const nocc = await run('sh', ['-c', pkg.scripts.install], { cwd: home, env: { CC: '/bin/false' } });
  t.is(nocc.code, 0);
  t.regex(nocc.stderr, /^pigeon: native AEAD not built \(.*\); falling back to node:crypto, which is slower\n$/);
  const st2 = await run(bin, ['stat', '-debug', '-cfg', me.cfgPath], { env: { PIGEON_NATIVE: '' } });
  t.is(st2.code, 0, st2.stderr);
  t.regex(st2.stderr, /^Engine: node:crypto$/m);
});
