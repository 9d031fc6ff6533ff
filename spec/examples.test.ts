/**
 * examples/: the systemd units, cron file, logrotate file, sudoers line and
 * the zfs receive exec handle are valid for their tools (sh -n,
 * systemd-analyze verify, visudo -c and logrotate -d when installed), and
 * every pigeon command line in them names a real command and real flags.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { commands } from '../cmd/commands.js';
import { flagProblem, record } from '../cmd/fastparse.js';
import { PIGEON_JS, tmpDir } from './helpers/util.js';

const dir = path.join(process.cwd(), 'examples');
const read = (name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');
const have = (tool: string, args: string[] = ['--version']): boolean => spawnSync(tool, args).error === undefined;

/** Every `pigeon CMD ...` line of the units and the cron file (ExecStart=, cron commands; comments excluded). */
function pigeonLines(): { file: string; words: string[] }[] {
  const out: { file: string; words: string[] }[] = [];
  for (const file of fs.readdirSync(dir).filter((n) => /\.(service|cron)$/.test(n))) {
    for (const line of read(file).split('\n')) {
      if (/^\s*#/.test(line)) continue;
      const m = /(?:^|[\s=/])pigeon\s+(\S.*)$/.exec(line);
      if (m) out.push({ file, words: m[1].trim().split(/\s+/) });
    }
  }
  return out;
}

test('every pigeon command line in examples/ names a command and flags it takes', async (t) => {
  const found = pigeonLines();
  t.true(found.length >= 6, JSON.stringify(found));
  for (const { file, words } of found) {
    const c = commands.find((x) => x.name === words[0]);
    t.truthy(c, `${file}: pigeon ${words.join(' ')}`);
    const mod = await c!.load();
    t.is(flagProblem(record(String(mod.command), mod.builder), words.slice(1)), null, `${file}: pigeon ${words.join(' ')}`);
  }
});

test('the zfs receive handle is valid sh and refuses a wrong sender, no sender, and arguments from the sender', (t) => {
  const script = path.join(dir, 'zfs-receive-handle.sh');
  t.is(spawnSync('sh', ['-n', script]).status, 0);
  t.truthy(fs.statSync(script).mode & 0o111, 'executable');
  // As the toss runs it: exactly NNCP_SELF, NNCP_SENDER and NNCP_NICE in the environment.
  const runIt = (args: string[], sender?: string) =>
    spawnSync(script, args, { env: { NNCP_SELF: 'SELF', NNCP_NICE: '96', ...(sender ? { NNCP_SENDER: sender } : {}) }, input: 'stream', encoding: 'utf8' });
  const wrong = runIt(['GOODID', 'tank/backup/laptop'], 'EVILID');
  t.is(wrong.status, 1);
  t.is(wrong.stderr, 'zfs-receive-handle: sender EVILID may not write tank/backup/laptop (only GOODID may)\n');
  const none = runIt(['GOODID', 'tank/backup/laptop']);
  t.is(none.status, 2);
  t.regex(none.stderr, /NNCP_SENDER is not set/);
  const extra = runIt(['GOODID', 'tank/backup/laptop', '-o', 'mountpoint=/'], 'GOODID');
  t.is(extra.status, 2);
  t.regex(extra.stderr, /got 4 argument\(s\)/);
});

test('systemd units pass systemd-analyze verify', async (t) => {
  if (!have('systemd-analyze')) return t.pass('systemd-analyze is not installed');
  const tmp = await tmpDir(t);
  // verify wants ExecStart's program and the Documentation= man pages to exist.
  fs.mkdirSync(path.join(tmp, 'man', 'man1'), { recursive: true });
  for (const m of fs.readdirSync('man')) fs.copyFileSync(path.join('man', m), path.join(tmp, 'man', 'man1', m));
  const units = fs.readdirSync(dir).filter((n) => n.endsWith('.service'));
  t.true(units.includes('pigeon-daemon.service') && units.includes('pigeon-caller.service'));
  for (const u of units) fs.writeFileSync(path.join(tmp, u), read(u).replaceAll('/usr/local/bin/pigeon', PIGEON_JS));
  const r = spawnSync('systemd-analyze', ['verify', ...units.map((u) => path.join(tmp, u))], { env: { ...process.env, MANPATH: path.join(tmp, 'man'), SYSTEMD_LOG_LEVEL: 'warning' }, encoding: 'utf8' });
  t.is(r.stderr, '');
  t.is(r.status, 0);
});

test('the cron file: environment lines, and five time fields, a user and a command on the others', (t) => {
  const text = read('pigeon.cron');
  let jobs = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    if (/^[A-Z_]+=\S+$/.test(line)) continue;
    const f = line.trim().split(/\s+/);
    t.true(f.length >= 7, line);
    for (const field of f.slice(0, 5)) t.regex(field, /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/, line);
    t.regex(f[5], /^[a-z_][a-z0-9_-]*$/, `user in: ${line}`);
    t.is(f[6], 'pigeon', line);
    jobs++;
  }
  t.true(jobs >= 3);
  t.true(text.endsWith('\n'), 'cron ignores a last line without a newline');
});

test('logrotate and sudoers files', async (t) => {
  const rot = read('pigeon.logrotate');
  t.regex(rot, /^\/\S+ \{$/m);
  t.is((rot.match(/\{/g) ?? []).length, (rot.match(/\}/g) ?? []).length);
  t.notRegex(rot.replace(/^#.*$/gm, ''), /copytruncate/, 'pigeon opens the log per record: rename is safe');
  if (have('logrotate')) {
    const tmp = await tmpDir(t);
    const conf = path.join(tmp, 'pigeon');
    fs.writeFileSync(conf, rot.replace('/var/spool/nncp/log', path.join(tmp, 'log')).replace(/^\s*create .*$/m, ''));
    const r = spawnSync('logrotate', ['-d', '-s', path.join(tmp, 'state'), conf], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.notRegex(r.stderr, /error/i);
  }
  const sudoers = read('pigeon.sudoers');
  const rules = sudoers.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  t.deepEqual(rules, ['nncp ALL=(root) NOPASSWD: /usr/sbin/zfs receive -u -F tank/backup/laptop']);
  t.true(read('zfs-receive-handle.sh').includes('sudo -n /usr/sbin/zfs receive -u -F "$dataset"'), 'the handle runs what sudoers allows');
  if (have('visudo', ['-V'])) {
    const tmp = await tmpDir(t);
    fs.writeFileSync(path.join(tmp, 's'), sudoers);
    const r = spawnSync('visudo', ['-c', '-f', path.join(tmp, 's')], { encoding: 'utf8' });
    t.is(r.status, 0, r.stdout + r.stderr);
  }
});
