/**
 * The spool's trash (src/spool/trash.ts): a file put there leaves its name
 * by a rename (same inode, nothing freed), and empty() removes this run's
 * trash directory and any left by an earlier run, in a detached `rm` or,
 * when that cannot start, in-process.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Trash, TRASH_PREFIX } from '../src/spool/trash.js';

function scratch(t: { teardown(fn: () => void): void }): { tmp: string; file(name: string): string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pigeon-trash-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const tmp = path.join(root, 'spool', 'tmp');
  return {
    tmp,
    file(name: string) {
      const p = path.join(root, name);
      fs.writeFileSync(p, `contents of ${name}`);
      return p;
    },
  };
}

const trashDirs = (tmp: string) => (fs.existsSync(tmp) ? fs.readdirSync(tmp).filter((n) => n.startsWith(TRASH_PREFIX)) : []);

async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

test('put moves the file into a trash directory in tmp/ (same inode); empty removes it', async (t) => {
  const s = scratch(t);
  const a = s.file('A');
  const b = s.file('B');
  const ino = fs.statSync(a).ino;
  const trash = new Trash(s.tmp);
  t.true(trash.put(a));
  t.true(trash.put(b));
  t.false(fs.existsSync(a));
  t.false(fs.existsSync(b));
  const dirs = trashDirs(s.tmp);
  t.is(dirs.length, 1, 'one directory per run');
  t.deepEqual(fs.readdirSync(path.join(s.tmp, dirs[0])).sort(), ['A', 'B']);
  t.is(fs.statSync(path.join(s.tmp, dirs[0], 'A')).ino, ino);
  await trash.empty();
  t.true(await until(() => trashDirs(s.tmp).length === 0), 'the trash is removed after empty()');
  t.true(fs.existsSync(s.tmp), 'tmp/ itself stays');
});

test('empty takes trash directories an earlier (killed) run left, even when this run put nothing', async (t) => {
  const s = scratch(t);
  const killed = new Trash(s.tmp);
  t.true(killed.put(s.file('old')));
  // killed: no empty()
  t.is(trashDirs(s.tmp).length, 1);
  fs.writeFileSync(path.join(s.tmp, 'nncp1234'), 'a temporary file of someone else');
  await new Trash(s.tmp).empty();
  t.true(await until(() => trashDirs(s.tmp).length === 0));
  t.deepEqual(fs.readdirSync(s.tmp), ['nncp1234'], 'nothing but trash is touched');
});

test('empty without a tmp/ does nothing', async (t) => {
  const s = scratch(t);
  await new Trash(s.tmp).empty();
  t.false(fs.existsSync(s.tmp));
});

test('when rm cannot be started, empty removes the trash itself before it resolves', async (t) => {
  const s = scratch(t);
  const trash = new Trash(s.tmp);
  t.true(trash.put(s.file('A')));
  const saved = process.env.PATH;
  process.env.PATH = path.join(s.tmp, 'no-such-dir');
  try {
    await trash.empty();
  } finally {
    process.env.PATH = saved;
  }
  t.deepEqual(trashDirs(s.tmp), []);
});

test('put of a missing file, or into a trash directory removed meanwhile, says false and leaves the file be', async (t) => {
  const s = scratch(t);
  const trash = new Trash(s.tmp);
  t.false(trash.put(path.join(s.tmp, '..', 'missing')));
  t.true(trash.put(s.file('A')));
  for (const d of trashDirs(s.tmp)) fs.rmSync(path.join(s.tmp, d), { recursive: true }); // another run's empty()
  const b = s.file('B');
  t.false(trash.put(b), 'its directory is gone');
  t.true(fs.existsSync(b), 'the file stays where it was, for the caller to unlink');
  t.true(trash.put(b), 'the next put makes a new directory');
  t.false(fs.existsSync(b));
  t.is(trashDirs(s.tmp).length, 1);
});
