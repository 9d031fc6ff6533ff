// The executable's fast start (src/codecache.cts): bundle the compiled CLI
// (dist/cmd/main.js and everything it imports) into one CommonJS file,
// dist/cmd/pigeon.bundle.cjs, then make its V8 code cache,
// dist/cmd/pigeon.bundle.cache, by training: a few typical commands run
// through dist/cmd/pigeon.cjs in turn, each starting from the cache so far
// and writing it back with what it compiled.
//
// Run after tsc (npm run build does). Usage: node scripts/bundle-cli.mjs [--no-train]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const distDir = path.join(root, 'dist');
const outDir = path.join(distDir, 'cmd');
const { ANY_COMMAND, BUNDLE_FILE, CACHE_FILE, bundleText, writeCache } = await import(path.join(root, "dist", "src", "codecache.cjs"));
const bundlePath = path.join(outDir, BUNDLE_FILE);
const cachePath = path.join(outDir, CACHE_FILE);

// Each module keeps its own import.meta.url (workers, the privsep child, the
// native addon and package.json are found relative to it): the compiled
// file's URL, computed at run time from where the bundle lies.
const ownUrl = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.m?js$/ }, async (args) => {
      const { readFile } = await import('node:fs/promises');
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = path.relative(distDir, args.path);
      // dist/ files: the dist/ URL computed once plus a constant; others (dependencies) through pathToFileURL.
      const url = rel.startsWith('..') ? `__pigeonUrl(${JSON.stringify(rel)})` : `(__pigeonDist + ${JSON.stringify(rel.split(path.sep).join('/'))})`;
      return { contents: text.replaceAll('import.meta.url', url), loader: 'js' };
    });
  },
};

const result = await esbuild.build({
  entryPoints: [path.join(outDir, 'main.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  write: false,
  metafile: true,
  outfile: bundlePath,
  // Addons stay where npm put them; yargs loads only for help texts and malformed command lines.
  external: ['yargs', 'yargs/*', 'zstd-napi', 'zstd-napi/*', 'fs-ext', '@napi-rs/*'],
  // import() of the externals becomes require(): the bundle runs as a vm.Script.
  supported: { 'dynamic-import': false },
  banner: {
    js: [
      // A plain path's file URL is the path after file:// (pathToFileURL's first call costs some 2 ms at start-up); anything else is encoded by it.
      'const __pigeonUrl = (rel) => { const p = require("node:path").join(__dirname, "..", rel); return /^\\/[\\w./-]*$/.test(p) ? "file://" + p : require("node:url").pathToFileURL(p).href; };',
      'const __pigeonDist = __pigeonUrl(".") + "/";',
    ].join('\n'),
  },
  plugins: [ownUrl],
  logLevel: 'warning',
  // Less source to read and hash; names stay (stack traces), 20M instructions less per start.
  minifyWhitespace: true,
  minifySyntax: true,
  // Non-ASCII escaped: the launcher reads the bundle as latin1, a one-byte string without decoding.
  charset: 'ascii',
});
// Identifiers are minified last, over the whole output (lazyBuiltins reads esbuild's own names): a quarter
// less source to read and copy at every start. Property names, and so class and error names, stay.
const code = (await esbuild.transform(lazyBuiltins(result.outputFiles.find((f) => f.path.endsWith('.cjs')).text), { format: 'cjs', minifyIdentifiers: true, minifyWhitespace: true, charset: 'ascii', target: 'node20', logLevel: 'warning' })).code;
if (/[^\x00-\x7f]/.test(code)) throw new Error('bundle-cli: the bundle is not ASCII, but the launcher reads it as latin1');
const id = createHash('sha256').update(code).digest('hex').slice(0, 32);
const inputs = Object.keys(result.metafile.inputs).map((p) => {
  const rel = path.relative(outDir, path.resolve(root, p));
  return [rel, statSync(path.join(outDir, rel)).size];
});
const head = { id, inputs };

// The bundle, then an empty cache naming it (the first training run compiles from source).
const tmpBundle = `${bundlePath}.tmp`;
writeFileSync(tmpBundle, bundleText(id, code));
renameSync(tmpBundle, bundlePath);
const tmpCache = `${cachePath}.tmp`;
writeCache(tmpCache, head, new Uint8Array(0));
renameSync(tmpCache, cachePath);

// Sections of the cache (CacheHead.sections): one trained on every run
// below, for any command, and one each for the commands whose start-up
// matters most, trained on the runs named (see train()). toss's is trained
// on a toss with nothing to do, the cron run that is over in a blink: what
// tossing packets compiles besides is some 120 KB more cache to deserialise
// at every start (about 2.5 ms), for a run that lasts long enough to
// compile it itself.
const SECTIONS = { [ANY_COMMAND]: null, toss: ['toss-empty'], file: ['file'], stat: ['stat'] };
if (!process.argv.includes('--no-train')) {
  const data = {};
  for (const [name, runs] of Object.entries(SECTIONS)) data[name] = train(runs);
  const sections = {};
  let off = 0;
  for (const [name, d] of Object.entries(data)) {
    sections[name] = [off, d.length];
    off += d.length;
  }
  writeCache(tmpCache, { ...head, sections }, Buffer.concat(Object.values(data)));
  renameSync(tmpCache, cachePath);
}

/**
 * Node built-ins that `node -e 0` has not loaded (crypto, net, child_process,
 * stream, fs/promises, ...) cost 2-10 ms each to compile at start-up, and a
 * command that never calls them should not pay. esbuild assigns each
 * `import_x = require("node:m")` (or `__toESM(require("node:m"), 1)`) when a
 * module initialises, and reaches the module only as `import_x.name`: here
 * each such binding becomes an object of getters for exactly the names the
 * bundle reads from it, and the first read requires the module. A binding
 * used any other way stays as esbuild wrote it. fs and path, loaded anyway,
 * get the same getters instead of __toESM's copy of all their properties.
 */
function lazyBuiltins(text) {
  const LAZY = new Set(['crypto', 'child_process', 'stream', 'net', 'fs/promises', 'worker_threads', 'readline', 'http', 'dgram', 'timers/promises', 'vm', 'zlib', 'os', 'events', 'url', 'module', 'buffer', 'util']);
  // fs and path are loaded before any user code; only their __toESM copies (every property, per importing module) are worth replacing.
  const LOADED = new Set(['fs', 'path']);
  const assign = /\b([A-Za-z_$][A-Za-z0-9_$]*)=(__toESM\()?require\("(?:node:)?([a-z_/]+)"\)(?:,1\))?/g;
  let lazy = 0;
  const out = text.replace(assign, (whole, name, toEsm, mod) => {
    if (!LAZY.has(mod) && !(toEsm && LOADED.has(mod))) return whole;
    const uses = [...text.matchAll(new RegExp(`(?<![A-Za-z0-9_$.])${name.replace(/\$/g, '\\$')}(?![A-Za-z0-9_$])(.?)([A-Za-z0-9_$]*)`, 'g'))];
    const names = new Set();
    let other = 0;
    for (const u of uses) {
      if (u[1] === '.') names.add(u[2]);
      else other++;
    }
    if (other !== 2) return whole; // not just its declaration and this assignment: it escapes, keep it eager
    lazy++;
    return `${name}=__lazyBuiltin(()=>require("node:${mod}"),${JSON.stringify([...names])})`;
  });
  if (lazy === 0) return text;
  const helper =
    'function __lazyBuiltin(load,names){let m;const o={};for(const n of names)Object.defineProperty(o,n,{enumerable:true,get(){m??=load();return n==="default"?m:m[n]}});return o}';
  return out.replace('\n', `\n${helper}\n`);
}

/**
 * One training sequence on a fresh pair of nodes, from an empty cache: the
 * runs named in `runs` (null: all of them) each start from the cache so far
 * and write it back with what they compiled; the others run from it. A run
 * is named by its command, and the toss of an empty spool also as
 * `toss-empty`. Returns the cache V8 made.
 */
function train(runs) {
  writeCache(tmpCache, head, new Uint8Array(0));
  renameSync(tmpCache, cachePath);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pigeon-train-'));
  try {
    const pigeonJs = path.join(outDir, 'pigeon.cjs');
    const run = (...args) => named(args[0], ...args);
    const named = (name, ...args) => {
      const trains = runs === null || runs.includes(name);
      const env = { ...process.env, NNCPNOSYNC: '1' };
      delete env.PIGEON_BUNDLE;
      if (trains) env.PIGEON_CODE_CACHE_OUT = tmpCache;
      else delete env.PIGEON_CODE_CACHE_OUT;
      const out = execFileSync(process.execPath, [pigeonJs, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      if (trains) renameSync(tmpCache, cachePath);
      return out;
    };
    // Two nodes that know each other, from pigeon's own cfgnew.
    const cfgs = ['alice', 'bob'].map((name) => ({ name, self: parseSelf(run('cfgnew', '-nocomments')) }));
    for (const n of cfgs) {
      const d = path.join(dir, n.name);
      mkdirSync(path.join(d, 'spool'), { recursive: true });
      mkdirSync(path.join(d, 'in'), { recursive: true });
      const other = cfgs.find((o) => o !== n);
      const pub = (s) => ({ id: s.id, exchpub: s.exchpub, signpub: s.signpub, noisepub: s.noisepub });
      const cfg = {
        spool: path.join(d, 'spool'),
        log: path.join(d, 'log'),
        self: n.self,
        neigh: { self: { ...pub(n.self), incoming: path.join(d, 'in') }, [other.name]: { ...pub(other.self), incoming: path.join(d, 'in') } },
      };
      n.cfg = path.join(d, 'cfg.hjson');
      writeFileSync(n.cfg, JSON.stringify(cfg));
    }
    const [alice, bob] = cfgs;
    const tiny = path.join(dir, 'tiny');
    writeFileSync(tiny, 'a small file\n');
    run('stat', '-cfg', bob.cfg);
    named('toss-empty', 'toss', '-quiet', '-cfg', bob.cfg);
    run('file', '-quiet', '-cfg', alice.cfg, tiny, 'bob:');
    // alice's outbound packet into bob's inbound queue, as xfer or a call would put it.
    mkdirSync(path.join(dir, 'stick'));
    run('xfer', '-quiet', '-mkdir', '-cfg', alice.cfg, '-tx', path.join(dir, 'stick'));
    run('xfer', '-quiet', '-cfg', bob.cfg, '-rx', path.join(dir, 'stick'));
    run('toss', '-quiet', '-cfg', bob.cfg);
    run('stat', '-cfg', alice.cfg);
    const buf = readFileSync(cachePath);
    return buf.subarray(buf.indexOf(10, buf.indexOf(10) + 1) + 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(tmpCache, { force: true });
  }
}

/** The self section of cfgnew's output (Hjson, no comments). */
function parseSelf(text) {
  const pick = (k) => new RegExp(`\\b${k}:\\s*([A-Z2-7]+)`).exec(text)?.[1];
  const self = {};
  for (const k of ['id', 'exchpub', 'exchprv', 'signpub', 'signprv', 'noisepub', 'noiseprv']) {
    const v = pick(k);
    if (!v) throw new Error(`bundle-cli: pigeon cfgnew printed no ${k}`);
    self[k] = v;
  }
  return self;
}
