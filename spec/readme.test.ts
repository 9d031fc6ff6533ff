/**
 * The README's walkthrough, pasted into bash as a newcomer would: it must
 * run end to end and deliver the file.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const repo = process.cwd();

function walkthrough(): string {
  const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Five-minute walkthrough'));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README has no walkthrough code block');
  return m[1];
}

test('README walkthrough delivers the file from alice to bob', async (t) => {
  const script = `set -euo pipefail\ncd ${JSON.stringify(repo)}\n${walkthrough()}`;
  const res = await new Promise<{ code: number; out: string }>((resolve) => {
    const child = spawn('bash', ['-c', script], { env: { ...process.env, NNCPNOSYNC: '1', NNCPCFG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
  t.is(res.code, 0, res.out);
  t.regex(res.out, /^hello from alice$/m);
});
