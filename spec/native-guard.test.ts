/**
 * The native addon is checked before it is loaded: a truncated, replaced,
 * foreign or unverifiable file is refused with a reason and Pigeon runs on
 * node:crypto (it used to die of SIGBUS); `-debug` names the engine.
 * The process tests run a copy of dist/ with its own build/ directory.
 */
import test from 'ava';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { addonProblem } from '../src/native.js';
import { tmpNodes } from './helpers/nncp.js';
import { run, tmpDir } from './helpers/util.js';

const repo = process.cwd();
const ADDON = path.join(repo, 'build', 'pigeon_native.node');
const MANIFEST = path.join(repo, 'build', 'pigeon_native.json');
const haveAddon = fs.existsSync(ADDON) && fs.existsSync(MANIFEST) && process.env.PIGEON_NATIVE !== '0';

/** False (the test passes, loudly skipped) when there is no built addon to test with. */
function addonBuilt(t: any): boolean {
  if (haveAddon) return true;
  process.stderr.write('native-guard.test: SKIPPED: no built addon (npm run build makes build/pigeon_native.node)\n');
  t.pass();
  return false;
}

function manifestFor(data: Buffer, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ file: 'pigeon_native.node', size: data.length, sha256: createHash('sha256').update(data).digest('hex'), platform: process.platform, arch: process.arch, ...extra });
}

/** A directory with build/pigeon_native.node = `data` and a manifest (`manifest` text, or made for `data`; null: none). */
async function buildDir(t: any, data: Buffer, manifest?: string | null): Promise<string> {
  const dir = path.join(await tmpDir(t), 'build');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'pigeon_native.node'), data);
  if (manifest !== null) fs.writeFileSync(path.join(dir, 'pigeon_native.json'), manifest ?? manifestFor(data));
  return path.join(dir, 'pigeon_native.node');
}

test('addonProblem: the real addon passes; truncated, replaced, foreign, unverified ones are refused with a reason', async (t) => {
  if (!addonBuilt(t)) return;
  const good = fs.readFileSync(ADDON);
  t.is(addonProblem(ADDON), null);
  t.is(addonProblem(await buildDir(t, good)), null);
  t.regex(addonProblem(await buildDir(t, good.subarray(0, 5000), manifestFor(good)))!, /5000 bytes where the build wrote \d+ \(truncated/);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 10] ^= 1;
  t.regex(addonProblem(await buildDir(t, flipped, manifestFor(good)))!, /SHA-256/);
  t.regex(addonProblem(await buildDir(t, good, null))!, /pigeon_native\.json is missing/);
  t.regex(addonProblem(await buildDir(t, good, manifestFor(good, { arch: 'mips' })))!, /built for linux\/mips/);
  if (process.platform === 'linux') {
    const other = Buffer.from(good);
    other.writeUInt16LE(process.arch === 'arm64' ? 62 : 183, 18); // another machine's ELF, with a matching manifest
    t.regex(addonProblem(await buildDir(t, other))!, /an ELF file for machine/);
    const text = Buffer.from('not a shared object at all, but long enough');
    t.regex(addonProblem(await buildDir(t, text))!, /not an ELF shared object/);
  }
});

/** A copy of dist/src and dist/cmd using the repository's node_modules, whose build/ holds `addon` (and a manifest made from `manifestOf`). */
async function install(t: any, addon: Buffer, manifestOf: Buffer): Promise<string> {
  const root = await tmpDir(t);
  fs.cpSync(path.join(repo, 'dist', 'src'), path.join(root, 'dist', 'src'), { recursive: true, filter: (s) => !s.endsWith('.map') });
  fs.cpSync(path.join(repo, 'dist', 'cmd'), path.join(root, 'dist', 'cmd'), { recursive: true, filter: (s) => !s.endsWith('.map') });
  fs.copyFileSync(path.join(repo, 'package.json'), path.join(root, 'package.json'));
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(root, 'node_modules'));
  fs.mkdirSync(path.join(root, 'build'));
  fs.writeFileSync(path.join(root, 'build', 'pigeon_native.node'), addon);
  fs.writeFileSync(path.join(root, 'build', 'pigeon_native.json'), manifestFor(manifestOf));
  return path.join(root, 'dist', 'cmd', 'pigeon.js');
}

test('a truncated addon does not crash pigeon: it runs on node:crypto and -debug says why; a good one runs native', async (t) => {
  if (!addonBuilt(t)) return;
  const good = fs.readFileSync(ADDON);
  const { me } = await tmpNodes(t, ['me', 'peer'], { generator: 'pigeon' });
  const bad = await install(t, good.subarray(0, 4096), good);
  const r = await run(process.execPath, [bad, 'stat', '-debug', '-cfg', me.cfgPath], { env: { PIGEON_NATIVE: '' } });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /^Engine: node:crypto$/m);
  t.regex(r.stderr, /AEAD engine: node:crypto \(native addon not in use: .*4096 bytes where the build wrote/);
  t.regex(r.stdout.toString(), /^peer$/m);
  const ok = await install(t, good, good);
  const r2 = await run(process.execPath, [ok, 'stat', '-debug', '-cfg', me.cfgPath], { env: { PIGEON_NATIVE: '' } });
  t.is(r2.code, 0, r2.stderr);
  t.regex(r2.stderr, /^Engine: native$/m);
  t.regex(r2.stderr, /AEAD engine: native addon .*build\/pigeon_native\.node/);
  // without -debug, nothing about engines
  const r3 = await run(process.execPath, [bad, 'stat', '-cfg', me.cfgPath], { env: { PIGEON_NATIVE: '' } });
  t.is(r3.stderr, '');
});
