/** The executable: `npx pigeon` from the repository, help for every command, -version. */
import test from 'ava';
import { spawn } from 'node:child_process';
import { commands } from '../cmd/commands.js';
import { runPigeon } from './helpers/util.js';

test('npx pigeon --help works from the repository root and lists every command', async (t) => {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('npx', ['--no-install', 'pigeon', '--help'], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    child.stdout.on('data', (b) => (s += b));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`npx exited ${code}`))));
  });
  for (const c of commands) t.regex(out, new RegExp(`pigeon ${c.name}\\b`), c.name);
});

for (const c of commands) {
  test(`pigeon ${c.name} -h describes its flags`, async (t) => {
    const r = await runPigeon([c.name, '-h']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout.toString(), /Options:/);
    if (!['cfgnew', 'cfgenc', 'hash', 'cronexpr'].includes(c.name)) t.regex(r.stdout.toString(), /-cfg\b/);
  });
}

test('-version and an unknown flag', async (t) => {
  const v = await runPigeon(['stat', '-version']);
  t.is(v.code, 0);
  t.regex(v.stdout.toString(), /^pigeon \d+\.\d+\.\d+/);
  const bad = await runPigeon(['stat', '-nosuchflag']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /nosuchflag/);
  t.false(bad.stderr.includes('    at '), 'no stack trace');
});
