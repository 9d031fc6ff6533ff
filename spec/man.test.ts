/**
 * The man pages (man/pigeon.1, man/pigeon-CMD.1): written by
 * scripts/gen-man.mjs from the same flag tables as -h, committed, declared
 * in package.json, rendered by man(1) without warnings.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { commands } from '../cmd/commands.js';
import { record } from '../cmd/fastparse.js';
import { manPages } from '../cmd/usage.js';
import { pigeonVersion } from '../src/version.js';

const root = process.cwd();
const manDir = path.join(root, 'man');

test('the committed pages are exactly what the generator writes from the flag tables (npm run build regenerates them)', async (t) => {
  const pages = await manPages(pigeonVersion());
  t.deepEqual(fs.readdirSync(manDir).sort(), [...pages.keys()].sort());
  for (const [name, text] of pages) t.is(fs.readFileSync(path.join(manDir, name), 'utf8'), text, `${name} is stale: run npm run build`);
  t.deepEqual([...pages.keys()].sort(), ['pigeon.1', ...commands.map((c) => `pigeon-${c.name}.1`)].sort(), 'one page per command, and pigeon.1');
});

test('package.json declares every page and ships man/', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { man: string[]; files: string[]; scripts: Record<string, string> };
  t.deepEqual([...pkg.man].sort(), fs.readdirSync(manDir).map((n) => `man/${n}`).sort());
  t.true(pkg.files.includes('man'));
  t.regex(pkg.scripts.build, /scripts\/gen-man\.mjs/);
});

test('each command\'s page lists exactly its flags, and the top page every command', async (t) => {
  for (const c of commands) {
    const mod = await c.load();
    const rec = record(String(mod.command), mod.builder);
    const text = fs.readFileSync(path.join(manDir, `pigeon-${c.name}.1`), 'utf8');
    const listed = [...text.matchAll(/^\.BI? \\-([a-z0-9\\-]+)/gm)].map((m) => m[1].replace(/\\-/g, '-')).sort();
    const expected = c.name === 'fspl' ? [] : [...rec.options.keys(), 'h', 'version', 'warranty'].sort();
    t.deepEqual(listed, expected, c.name);
    t.regex(text, new RegExp(`^\\.TH PIGEON\\\\-${c.name.toUpperCase()} 1 `, 'm'));
  }
  const top = fs.readFileSync(path.join(manDir, 'pigeon.1'), 'utf8');
  for (const c of commands) t.true(top.includes(`.BR pigeon\\-${c.name} (1)`), c.name);
});

const haveMan = spawnSync('man', ['--version']).status === 0;

test('man -l renders every page without warnings', (t) => {
  if (!haveMan) return t.pass('man(1) is not installed');
  for (const name of fs.readdirSync(manDir)) {
    const r = spawnSync('man', ['--warnings', '-l', path.join(manDir, name)], { env: { ...process.env, MANWIDTH: '80', MAN_KEEP_FORMATTING: '' }, encoding: 'utf8' });
    t.is(r.status, 0, name);
    t.is(r.stderr, '', `${name}: ${r.stderr}`);
    t.regex(r.stdout, /NAME/, name);
  }
  const file = execFileSync('man', ['-l', path.join(manDir, 'pigeon-file.1')], { env: { ...process.env, MANWIDTH: '80' }, encoding: 'utf8' });
  t.regex(file, /pigeon file \[flags\] SRC NODE:\[DST\]/);
  t.regex(file, /-nice string\n\s+Outbound packet niceness \(default "B"\)/);
});
