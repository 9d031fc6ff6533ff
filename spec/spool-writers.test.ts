/**
 * The one temporary-file primitive (TmpFile in src/spool/atomic.ts) on its
 * own, as every durable writer uses it: directory and name prefix, stage
 * callbacks, abort, failed writes, placement without clobbering, the
 * directory fsync; and the spool paths and markers built on it.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { base32Encode } from '../src/codec/base32.js';
import { adoptFile, ensureDir, makeDir, TmpFile, type AdoptStage, type WriteStage } from '../src/spool/atomic.js';
import { nativeFallbackReason, nativeModule } from '../src/native.js';
import { Spool } from '../src/spool/spool.js';
import { tmpDir } from './helpers/util.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const NODE = base32Encode(randomBytes(32));
const AREA = base32Encode(randomBytes(32));
const MSG = base32Encode(randomBytes(32));

test('TmpFile: created in the given directory (made when missing) under the given prefix; "nncp" by default', async (t) => {
  const root = await tmpDir(t);
  const medium = path.join(root, 'medium', 'A', 'B');
  const f = await TmpFile.create(medium, { prefix: 'nncpxfer' });
  t.is(path.dirname(f.path), medium);
  t.regex(path.basename(f.path), /^nncpxfer[0-9a-f]+$/);
  await f.abort();

  const g = await TmpFile.create(root);
  t.regex(path.basename(g.path), /^nncp[0-9a-f]+$/);
  await g.abort();

  const spool = new Spool({ root: path.join(root, 'spool') });
  const h = await spool.tmpFile();
  t.is(path.dirname(h.path), spool.tmpDir());
  t.regex(path.basename(h.path), /^nncp[0-9a-f]+$/);
  await h.abort();
});

test('TmpFile: stage callbacks come in order, for commit and for commitNoClobber', async (t) => {
  const root = await tmpDir(t);
  const stages: WriteStage[] = [];
  const f = await TmpFile.create(root, { noSync: true, onStage: (s) => stages.push(s) });
  await f.write(Buffer.from('abc'));
  t.deepEqual(stages, []);
  await f.seal();
  t.deepEqual(stages, ['written', 'synced', 'closed']);
  await f.seal(); // once sealed, sealing again does nothing
  await f.commit(path.join(root, 'out', 'x'));
  t.deepEqual(stages, ['written', 'synced', 'closed', 'renamed', 'dirsynced']);
  t.is(fs.readFileSync(path.join(root, 'out', 'x'), 'utf8'), 'abc');

  const seen: WriteStage[] = [];
  const g = await TmpFile.create(root, { noSync: true, onStage: (s) => seen.push(s) });
  await g.write(Buffer.from('def'));
  t.is(await g.commitNoClobber(root, 'y'), 'y');
  t.deepEqual(seen, ['written', 'synced', 'closed', 'renamed', 'dirsynced']);
  t.is(fs.readFileSync(path.join(root, 'y'), 'utf8'), 'def');
});

test('TmpFile: abort leaves nothing, whether open, after a write, or sealed; and is idempotent', async (t) => {
  const root = await tmpDir(t);
  const a = await TmpFile.create(root);
  await a.abort();
  const b = await TmpFile.create(root);
  await b.write(randomBytes(3 << 20)); // more than a batch: writes are in flight
  await b.abort();
  await b.abort();
  const c = await TmpFile.create(root);
  await c.write(randomBytes(100));
  await c.seal();
  await c.abort();
  t.deepEqual(fs.readdirSync(root), []);
  await t.throwsAsync(c.commit(path.join(root, 'late')));
  t.deepEqual(fs.readdirSync(root), []);
});

test('TmpFile: a stage callback that throws before the rename leaves nothing, at the destination or in the directory', async (t) => {
  const root = await tmpDir(t);
  for (const at of ['written', 'synced', 'closed'] as const) {
    const f = await TmpFile.create(root, {
      noSync: true,
      onStage: (s) => {
        if (s === at) throw new Error(`killed at ${s}`);
      },
    });
    await f.write(randomBytes(1000));
    const err = await t.throwsAsync(f.commit(path.join(root, 'dst')));
    t.is(err?.message, `killed at ${at}`);
    t.deepEqual(fs.readdirSync(root), [], `nothing left after a failure at ${at}`);
  }
});

test('TmpFile: a failed commit (destination directory cannot be made) leaves the temporary file nowhere', async (t) => {
  const root = await tmpDir(t);
  fs.writeFileSync(path.join(root, 'file'), '');
  const f = await TmpFile.create(path.join(root, 'tmp'), { noSync: true });
  await f.write(randomBytes(10));
  await t.throwsAsync(f.commit(path.join(root, 'file', 'dst')), { code: 'ENOTDIR' });
  t.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
});

// A write that really fails: the file size limit of a child process (SIGXFSZ ignored, so write(2) returns EFBIG).
const CHILD = `
const [mod, dir, dst, how] = process.argv.slice(1);
const { TmpFile } = await import(mod);
const f = await TmpFile.create(dir, { noSync: true });
const data = new Uint8Array(1 << 20).fill(7);
try {
  if (how === 'at') await f.writeAt(data, 0);
  else await f.write(data);
  await f.commit(dst);
  process.stdout.write('committed');
} catch (err) {
  if (how === 'at') await f.abort();
  process.stdout.write(err.code ?? err.message);
}
`;

function runLimited(dir: string, dst: string, how: 'batched' | 'at'): Promise<string> {
  const script = `trap '' XFSZ; ulimit -f 64; exec "$0" "$@"`;
  const argv = [process.execPath, '--input-type=module', '-e', CHILD, path.join(here, '../src/spool/atomic.js'), dir, dst, how];
  const child = spawn('/bin/sh', ['-c', script, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', () => resolve(out)));
}

for (const how of ['batched', 'at'] as const) {
  test(`TmpFile: a failed write (${how === 'at' ? 'writeAt' : 'write'}, file too large) leaves nothing at the destination and no temporary file`, async (t) => {
    const root = await tmpDir(t);
    const dir = path.join(root, 'tmp');
    const dst = path.join(root, 'dst');
    t.is(await runLimited(dir, dst, how), 'EFBIG');
    t.false(fs.existsSync(dst));
    t.deepEqual(fs.readdirSync(dir), []);
  });
}

test('TmpFile.writeAt: positional writes in any order, size is the end; mixing with batched writes is refused', async (t) => {
  const root = await tmpDir(t);
  const f = await TmpFile.create(root, { noSync: true });
  await f.writeAt(Buffer.from('world'), 6);
  await f.writeAt(Buffer.from('hello '), 0);
  t.is(f.size, 11);
  await f.commit(path.join(root, 'x'));
  t.is(fs.readFileSync(path.join(root, 'x'), 'utf8'), 'hello world');

  const g = await TmpFile.create(root, { noSync: true });
  await g.write(Buffer.from('batched'));
  t.throws(() => g.writeAt(Buffer.from('x'), 0), { message: /writeAt after write/ });
  await g.abort();
});

test('TmpFile.commitNoClobber: NAME, then NAME.0, NAME.1…; an existing entry (even a dangling symlink) is never replaced', async (t) => {
  const root = await tmpDir(t);
  fs.writeFileSync(path.join(root, 'f'), 'old');
  fs.symlinkSync(path.join(root, 'nowhere'), path.join(root, 'f.0'));
  const names: string[] = [];
  for (const body of ['one', 'two']) {
    const tmp = await TmpFile.create(root, { noSync: true });
    await tmp.write(Buffer.from(body));
    names.push(await tmp.commitNoClobber(root, 'f'));
  }
  t.deepEqual(names, ['f.1', 'f.2']);
  t.is(fs.readFileSync(path.join(root, 'f'), 'utf8'), 'old');
  t.true(fs.lstatSync(path.join(root, 'f.0')).isSymbolicLink());
  t.is(fs.readFileSync(path.join(root, 'f.1'), 'utf8'), 'one');
  t.is(fs.readFileSync(path.join(root, 'f.2'), 'utf8'), 'two');
  t.deepEqual(fs.readdirSync(root).sort(), ['f', 'f.0', 'f.1', 'f.2']);
});

test.serial('TmpFile: with noSync false (and NNCPNOSYNC unset) the file and then its directory are fsynced; with noSync neither', async (t) => {
  const root = await tmpDir(t);
  // TmpFile fsyncs through fs.fsync (on the thread pool, with descriptors it opened synchronously): watch those calls.
  const original = fs.fsync;
  const synced: string[] = [];
  const prev = process.env.NNCPNOSYNC;
  delete process.env.NNCPNOSYNC;
  (fs as { fsync: typeof fs.fsync }).fsync = function (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) {
    synced.push(fs.readlinkSync(`/proc/self/fd/${fd}`));
    return original.call(fs, fd, cb);
  } as typeof fs.fsync;
  try {
    const stages: string[] = []; // each stage with the number of fsyncs done by then
    const f = await TmpFile.create(path.join(root, 'tmp'), { noSync: false, onStage: (s) => stages.push(`${s}:${synced.length}`) });
    await f.write(Buffer.from('durable'));
    await f.commit(path.join(root, 'dst', 'file'));
    t.deepEqual(synced, [f.path, path.join(root, 'dst')]);
    t.deepEqual(stages, ['written:0', 'synced:1', 'closed:1', 'renamed:1', 'dirsynced:2']);

    synced.length = 0;
    const g = await TmpFile.create(path.join(root, 'tmp'), { noSync: true });
    await g.write(Buffer.from('fast'));
    await g.commit(path.join(root, 'dst', 'other'));
    t.deepEqual(synced, []);
  } finally {
    (fs as { fsync: typeof fs.fsync }).fsync = original;
    if (prev !== undefined) process.env.NNCPNOSYNC = prev;
  }
});

test('adoptFile: links the file it holds into place, with the mode asked, stages in order; a name that meanwhile names another file, or a link across filesystems, is refused with nothing left', async (t) => {
  const root = await tmpDir(t);
  const tmp = path.join(root, 'tmp');
  const src = path.join(root, 'medium', 'pkt');
  fs.mkdirSync(path.dirname(src), { recursive: true });
  fs.writeFileSync(src, 'the packet', { mode: 0o600 });
  const dst = path.join(root, 'spool', 'rx', 'pkt');
  const stages: AdoptStage[] = [];
  let fd = fs.openSync(src, 'r');
  try {
    t.true(await adoptFile(fd, src, dst, { tmpDir: tmp, mode: 0o644, held: false, onStage: (s) => stages.push(s) }));
  } finally {
    fs.closeSync(fd);
  }
  t.deepEqual(stages, ['linked', 'synced', 'renamed', 'dirsynced']);
  t.is(fs.statSync(dst).ino, fs.statSync(src).ino, 'the same file, not a copy');
  t.is(fs.statSync(dst).mode & 0o777, 0o644);
  t.deepEqual(fs.readdirSync(tmp), []);

  // The name was given to another file after ours was opened (and checked).
  fs.rmSync(dst);
  fd = fs.openSync(src, 'r');
  try {
    // Ours moved away (still a file with a name), another put under its name.
    fs.renameSync(src, path.join(root, 'moved'));
    fs.writeFileSync(src, 'another packet');
    t.false(await adoptFile(fd, src, dst, { tmpDir: tmp, held: false }));
    t.false(fs.existsSync(dst));
    t.deepEqual(fs.readdirSync(tmp), [], 'the link to the other file is gone again');
    // With the addon, the file held is what gets the name, whatever `src` names now.
    if (nativeModule() === null) return t.fail(`no native addon: ${nativeFallbackReason()}`);
    const seen: AdoptStage[] = [];
    t.true(await adoptFile(fd, src, dst, { tmpDir: tmp, mode: 0o640, onStage: (s) => seen.push(s) }));
    t.deepEqual(seen, ['synced', 'renamed', 'dirsynced']);
    t.is(fs.readFileSync(dst, 'utf8'), 'the packet');
    t.is(fs.statSync(dst).ino, fs.fstatSync(fd).ino);
    t.is(fs.statSync(dst).mode & 0o777, 0o640);
    fs.rmSync(dst);
  } finally {
    fs.closeSync(fd);
  }
  t.is(fs.readFileSync(src, 'utf8'), 'another packet', 'the other file untouched');
  // Ours replaced (no name left to it): refused either way.
  fd = fs.openSync(src, 'r');
  try {
    fs.writeFileSync(path.join(root, 'third'), 'a third packet');
    fs.renameSync(path.join(root, 'third'), src);
    for (const held of [true, false]) t.false(await adoptFile(fd, src, dst, { tmpDir: tmp, held }), `held: ${held}`);
  } finally {
    fs.closeSync(fd);
  }
  t.false(fs.existsSync(dst));
  t.deepEqual(fs.readdirSync(tmp), []);

  // Another filesystem (/dev/shm is a tmpfs where there is one).
  const shm = fs.existsSync('/dev/shm') && fs.statSync('/dev/shm').dev !== fs.statSync(root).dev ? fs.mkdtempSync('/dev/shm/pigeon-adopt-') : null;
  if (shm === null) return t.log('no other filesystem at /dev/shm: the EXDEV case is not run');
  t.teardown(() => fs.rmSync(shm, { recursive: true, force: true }));
  const far = path.join(shm, 'pkt');
  fs.writeFileSync(far, 'far away');
  fd = fs.openSync(far, 'r');
  try {
    t.false(await adoptFile(fd, far, dst, { tmpDir: tmp }), 'refused, with the addon or without');
  } finally {
    fs.closeSync(fd);
  }
  t.false(fs.existsSync(dst));
  t.deepEqual(fs.readdirSync(tmp), []);
  t.true(fs.existsSync(far));
});

test('adoptFile straight: a free name is linked at once (no temporary name); a taken one is replaced through the temporary name', async (t) => {
  const root = await tmpDir(t);
  const src = path.join(root, 'queue', 'pkt');
  fs.mkdirSync(path.dirname(src));
  fs.writeFileSync(src, 'queued');
  const medium = path.join(root, 'medium');
  fs.mkdirSync(medium);
  const dst = path.join(medium, 'pkt');
  const fd = fs.openSync(src, 'r');
  t.teardown(() => fs.closeSync(fd));
  const adopt = async (): Promise<AdoptStage[]> => {
    const stages: AdoptStage[] = [];
    t.true(await adoptFile(fd, src, dst, { tmpDir: medium, prefix: 'nncpxfer', straight: true, onStage: (s) => stages.push(s) }));
    t.is(fs.statSync(dst).ino, fs.statSync(src).ino);
    t.deepEqual(fs.readdirSync(medium), ['pkt'], 'no temporary name left');
    return stages;
  };
  t.deepEqual(await adopt(), ['renamed', 'dirsynced']);
  fs.rmSync(dst);
  fs.writeFileSync(dst, 'a bad copy');
  t.deepEqual(await adopt(), ['linked', 'synced', 'renamed', 'dirsynced']);
  t.is(fs.readFileSync(dst, 'utf8'), 'queued');
});

test('makeDir and ensureDir: one level vs all levels; an existing entry is left to the caller, a dangling symlink is refused', async (t) => {
  const root = await tmpDir(t);
  t.true(await makeDir(path.join(root, 'a')));
  t.false(await makeDir(path.join(root, 'a')));
  await t.throwsAsync(makeDir(path.join(root, 'b', 'c')), { code: 'ENOENT' });
  await ensureDir(path.join(root, 'b', 'c'), 0o700);
  t.is(fs.statSync(path.join(root, 'b', 'c')).mode & 0o777, 0o700);
  fs.symlinkSync(path.join(root, 'nowhere'), path.join(root, 'dangling'));
  t.false(await makeDir(path.join(root, 'dangling')));
  await t.throwsAsync(ensureDir(path.join(root, 'dangling')), { code: 'EEXIST' });
  fs.writeFileSync(path.join(root, 'file'), '');
  await t.throwsAsync(ensureDir(path.join(root, 'file', 'x')), { code: 'ENOTDIR' });
});

test('Spool: every path of the layout, and the area/ markers', async (t) => {
  const s = new Spool({ root: '/sp' });
  t.is(s.hdrDir(NODE, 'rx'), `/sp/${NODE}/rx/hdr`);
  t.is(s.hdrPathOf(`/sp/${NODE}/tx/P`), `/sp/${NODE}/tx/hdr/P`);
  t.is(s.seenDir(NODE), `/sp/${NODE}/rx/seen`);
  t.is(s.partPath(NODE, 'P'), `/sp/${NODE}/rx/P.part`);
  t.is(s.nockPath(NODE, 'P'), `/sp/${NODE}/rx/P.nock`);
  t.is(s.areaDir(NODE), `/sp/${NODE}/area`);
  t.is(s.areaDir(NODE, AREA), `/sp/${NODE}/area/${AREA}`);
  t.is(s.areaSeenPath(NODE, AREA, MSG), `/sp/${NODE}/area/${AREA}/${MSG}`);
  t.is(s.nameLinkPath('bob'), '/sp/bob');
  t.is(s.lockPath(NODE, 'rx'), `/sp/${NODE}/rx.lock`);

  const root = await tmpDir(t);
  const spool = new Spool({ root, umask: 0o027, noSync: true });
  t.false(await spool.isAreaSeen(NODE, AREA, MSG));
  await spool.markAreaSeen(NODE, AREA, MSG);
  await spool.markAreaSeen(NODE, AREA, MSG); // idempotent
  t.true(await spool.isAreaSeen(NODE, AREA, MSG));
  const st = fs.statSync(spool.areaSeenPath(NODE, AREA, MSG));
  t.is(st.size, 0);
  t.is(st.mode & 0o777, 0o640);
  t.is(fs.statSync(spool.areaDir(NODE, AREA)).mode & 0o777, 0o750);
  t.true(await spool.hasRoom(0));
  t.false(await spool.hasRoom(Number.MAX_SAFE_INTEGER));
});
