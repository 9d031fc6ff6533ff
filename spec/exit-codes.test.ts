/**
 * Exit codes for cron (issue 9, item 8): a toss that finds its queue locked
 * by another toss exits 0 with one line, as nncp-toss does; xfer -rx that
 * could not write a header file (ENOSPC) exits 1; a command whose log
 * records could not be written (log on a full disk, or not a file) says so
 * once and exits 1, and never leaves half a record in the log.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseLog } from '../src/log/log.js';
import { PktType } from '../src/packet/header.js';
import { lab } from './helpers/nncp.js';
import { fakePacket, plainOf, sendPacket } from './helpers/packets.js';
import { listFiles, logRecords, requireNncp, runNncp, runPigeon } from './helpers/util.js';

const enc = new TextEncoder();

/** Mount a tmpfs on `dir` (root only); false when we may not. Unmounted when the test ends. */
function mountTmpfs(t: ExecutionContext, dir: string, opts: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { stdio: 'ignore' }).status !== 0) return false;
  t.teardown(() => {
    spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
  });
  return true;
}

test.serial('a toss whose queue another toss holds: exit 0 and one ERROR line, as nncp-toss', async (t) => {
  if (!requireNncp(t)) return;
  const l = await lab(t, ['alice', 'bob']);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.txt'), enc.encode('x'));
  const lock = await l.ctx.bob.spool.lock(l.nodes.alice.idB32, 'toss');
  let ours;
  let ref;
  try {
    ours = await runPigeon(['toss', '-cfg', l.nodes.bob.cfgPath, '-node', 'alice']);
    ref = await runNncp('nncp-toss', ['-cfg', l.nodes.bob.cfgPath, '-node', 'alice']);
  } finally {
    lock.release();
  }
  t.is(ref.code, 0, 'the reference exits 0');
  t.is(ours.code, 0, ours.stderr);
  for (const r of [ours, ref]) {
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, /ERROR Locking directory: locking .*toss\.lock: resource temporarily unavailable/);
  }
  t.true(fs.existsSync(p.rxPath), 'left to the toss holding the lock');
  const quiet = await (async () => {
    const again = await l.ctx.bob.spool.lock(l.nodes.alice.idB32, 'toss');
    try {
      return await runPigeon(['toss', '-quiet', '-cfg', l.nodes.bob.cfgPath, '-node', 'alice']);
    } finally {
      again.release();
    }
  })();
  t.is(quiet.code, 0);
  t.is(quiet.stderr, '', '-quiet: nothing for cron to mail');
});

test.serial('xfer -rx that cannot write the hdr/ file (ENOSPC: no inode left) exits 1; the packet is in rx/', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const { alice, bob } = l.nodes;
  const spool = path.join(l.dir, 'bobspool');
  if (!mountTmpfs(t, spool, 'size=4m,nr_inodes=1000')) return t.pass('cannot mount a tmpfs here (not root)');
  bob.raw.spool = spool;
  fs.writeFileSync(bob.cfgPath, JSON.stringify(bob.raw));
  for (const d of [path.join(alice.idB32, 'rx', 'hdr'), 'tmp']) fs.mkdirSync(path.join(spool, d), { recursive: true });
  const medium = path.join(l.dir, 'stick');
  const pkt = fakePacket(alice.idB32, bob.idB32, 100, 5000);
  fs.mkdirSync(path.join(medium, bob.idB32, alice.idB32), { recursive: true });
  fs.writeFileSync(path.join(medium, bob.idB32, alice.idB32, pkt.id), pkt.data);
  // One inode left: the packet's temporary file (renamed into rx/) takes it; the hdr/ file finds none.
  const used = Number(spawnSync('df', ['--output=iused', spool], { encoding: 'utf8' }).stdout.trim().split('\n')[1]);
  t.is(spawnSync('mount', ['-o', `remount,nr_inodes=${used + 1}`, spool]).status, 0);

  const r = await runPigeon(['xfer', '-rx', '-noprogress', '-cfg', bob.cfgPath, medium]);
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /ERROR Header writing: .*ENOSPC/);
  t.deepEqual(listFiles(path.join(spool, alice.idB32, 'rx')), [pkt.id], 'imported, without its hdr/ file');
  t.deepEqual(fs.readdirSync(path.join(spool, 'tmp')), [], 'no temporary file left');
});

test('a toss whose log cannot be written (/dev/full, a directory) delivers, says so once, and exits 1', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const sent = ['one', 'two', 'three'];
  for (const name of sent) await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, name), enc.encode(name));
  const r = await runPigeon(['toss', '-quiet', '-log', '/dev/full', '-cfg', l.nodes.bob.cfgPath]);
  t.is(r.code, 1);
  t.deepEqual(fs.readdirSync(l.nodes.bob.incoming).sort(), [...sent].sort(), 'delivered all the same');
  t.deepEqual(r.stderr.trimEnd().split('\n'), [
    'Can not write log /dev/full: write: ENOSPC (no space left on device)',
    'pigeon toss: 3 log records could not be written to /dev/full',
  ]);

  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'four'), enc.encode('4'));
  const dir = path.join(l.dir, 'logdir');
  fs.mkdirSync(dir);
  const r2 = await runPigeon(['toss', '-log', dir, '-cfg', l.nodes.bob.cfgPath]);
  t.is(r2.code, 1);
  t.regex(r2.stderr, /Got file four/);
  t.regex(r2.stderr, /Can not open log: .*EISDIR/);
  t.regex(r2.stderr, /pigeon toss: 1 log record could not be written to /);
});

test.serial('a log on a full disk never gets half a record: a write cut short is taken back', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const logDir = path.join(l.dir, 'logfs');
  if (!mountTmpfs(t, logDir, 'size=64k')) return t.pass('cannot mount a tmpfs here (not root)');
  const logPath = path.join(logDir, 'log');
  // A log that leaves 60 bytes free: the next record's write gets 60 bytes in, then ENOSPC.
  const filler = `\nWhen: 2026-01-01T00:00:00Z\nWho: filler\nMsg: ${'x'.repeat(65536 - 60 - 50)}\n`;
  fs.writeFileSync(logPath, filler);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.txt'), enc.encode('x'));
  const r = await runPigeon(['toss', '-quiet', '-log', logPath, '-cfg', l.nodes.bob.cfgPath]);
  t.is(r.code, 1);
  t.regex(r.stderr, /Can not write log .*ENOSPC/);
  t.is(fs.readFileSync(logPath, 'utf8'), filler, 'the log as it was');
  t.deepEqual(parseLog(fs.readFileSync(logPath, 'utf8')).map((x) => x.who), ['filler']);
  t.true(fs.existsSync(path.join(l.nodes.bob.incoming, 'f.txt')));
  t.deepEqual(logRecords(l.nodes.bob.log), [], 'nothing went to the configured log either');
});
