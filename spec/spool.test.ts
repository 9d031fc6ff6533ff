/**
 * The spool on its own: atomic writes, listing, hdr/ files, seen markers,
 * locks between pigeon processes. Interop with the reference's spool is in
 * spool-interop.test.ts.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { base32Encode } from '../src/codec/base32.js';
import { PigeonError } from '../src/errors.js';
import { encodeEncHeader, ENC_HEADER_SIZE } from '../src/packet/header.js';
import { TmpFile, writeAtomic } from '../src/spool/atomic.js';
import { lockDir } from '../src/spool/lock.js';
import { Spool, type Skipped } from '../src/spool/spool.js';
import { tmpDir } from './helpers/util.js';

const here = path.dirname(fileURLToPath(import.meta.url));

const A_BYTES = randomBytes(32);
const B_BYTES = randomBytes(32);
const NODE_A = base32Encode(A_BYTES);
const NODE_B = base32Encode(B_BYTES);
const randomId = (): string => base32Encode(randomBytes(32));

/** A real 172-byte encrypted header (random key and signature: listing does not verify them). */
function header(nice: number): Uint8Array {
  return encodeEncHeader({ nice, sender: A_BYTES, recipient: B_BYTES, exchPub: randomBytes(32), signature: randomBytes(64) });
}

/** A fake packet file: a real encrypted header followed by `bodyLen` random bytes. */
function writePacket(dir: string, name: string, hdr: Uint8Array, bodyLen = 100): string {
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.concat([hdr, randomBytes(bodyLen)]));
  return p;
}

async function* throwingSource(): AsyncGenerator<Uint8Array> {
  yield new Uint8Array(1000).fill(1);
  yield new Uint8Array(1000).fill(2);
  throw new Error('source broke');
}

test('writeAtomic: a failing source leaves nothing at the destination and nothing in tmp/', async (t) => {
  const root = await tmpDir(t);
  const tmp = path.join(root, 'tmp');
  const dst = path.join(root, 'out', 'file');
  const err = await t.throwsAsync(writeAtomic(dst, throwingSource(), { tmpDir: tmp }));
  t.is(err?.message, 'source broke');
  t.false(fs.existsSync(dst));
  t.deepEqual(fs.readdirSync(tmp), []);
});

test('writeAtomic: writes the whole content, creates the directory, leaves tmp/ empty, mode 0666 less umask', async (t) => {
  const root = await tmpDir(t);
  const tmp = path.join(root, 'tmp');
  const dst = path.join(root, 'a', 'b', 'file');
  const chunks = [randomBytes(70_000), randomBytes(1), randomBytes(200_000)];
  const n = await writeAtomic(dst, (async function* () { yield* chunks; })(), { tmpDir: tmp });
  t.is(n, 270_001);
  t.deepEqual(fs.readFileSync(dst), Buffer.concat(chunks));
  t.deepEqual(fs.readdirSync(tmp), []);
  const umask = process.umask();
  t.is(fs.statSync(dst).mode & 0o777, 0o666 & ~umask);
  t.is(fs.statSync(path.dirname(dst)).mode & 0o777, 0o777 & ~umask);
});

test.serial('writeAtomic: NNCPNOSYNC and noSync paths produce the same file', async (t) => {
  const root = await tmpDir(t);
  const data = randomBytes(5000);
  const prev = process.env.NNCPNOSYNC;
  process.env.NNCPNOSYNC = '1';
  try {
    await writeAtomic(path.join(root, 'x'), data, { tmpDir: path.join(root, 'tmp') });
  } finally {
    if (prev === undefined) delete process.env.NNCPNOSYNC;
    else process.env.NNCPNOSYNC = prev;
  }
  await writeAtomic(path.join(root, 'y'), data, { tmpDir: path.join(root, 'tmp'), noSync: true });
  t.deepEqual(fs.readFileSync(path.join(root, 'x')), data);
  t.deepEqual(fs.readFileSync(path.join(root, 'y')), data);
});

test('TmpFile: lives in tmp/ under an nncp* name until commit; abort removes it; explicit mode wins over umask', async (t) => {
  const root = await tmpDir(t);
  const tmpD = path.join(root, 'tmp');
  const f = await TmpFile.create(tmpD, { mode: 0o600 });
  t.is(path.dirname(f.path), tmpD);
  t.regex(path.basename(f.path), /^nncp[0-9a-f]+$/);
  await f.write(Buffer.from('hello '));
  await f.write(Buffer.from('world'));
  t.is(f.size, 11);
  t.false(fs.existsSync(path.join(root, 'dst')));
  await f.commit(path.join(root, 'dst'));
  t.is(fs.readFileSync(path.join(root, 'dst'), 'utf8'), 'hello world');
  t.is(fs.statSync(path.join(root, 'dst')).mode & 0o777, 0o600);
  await t.throwsAsync(f.write(Buffer.from('late')));

  const g = await TmpFile.create(tmpD);
  await g.write(randomBytes(10));
  t.true(fs.existsSync(g.path));
  await g.abort();
  await g.abort();
  t.false(fs.existsSync(g.path));
  t.deepEqual(fs.readdirSync(tmpD), []);
});

test('Spool: paths follow the reference layout', (t) => {
  const s = new Spool({ root: '/sp' });
  t.is(s.tmpDir(), '/sp/tmp');
  t.is(s.nodeDir(NODE_A), `/sp/${NODE_A}`);
  t.is(s.queueDir(NODE_A, 'tx'), `/sp/${NODE_A}/tx`);
  t.is(s.packetPath(NODE_A, 'rx', 'P'), `/sp/${NODE_A}/rx/P`);
  t.is(s.hdrPath(NODE_A, 'tx', 'P'), `/sp/${NODE_A}/tx/hdr/P`);
  t.is(s.seenPath(NODE_A, 'P'), `/sp/${NODE_A}/rx/seen/P`);
  t.is(s.lockPath(NODE_A, 'toss'), `/sp/${NODE_A}/toss.lock`);
});

test('Spool.list: complete packets only, ordered by niceness, filtered by nice; garbage ignored, bad headers reported', async (t) => {
  const root = await tmpDir(t);
  const spool = new Spool({ root });
  const tx = spool.queueDir(NODE_B, 'tx');
  const ids = { bulk: randomId(), normal: randomId(), flash: randomId(), normal2: randomId() };
  writePacket(tx, ids.bulk, header(224), 300);
  writePacket(tx, ids.normal, header(160), 10);
  writePacket(tx, ids.flash, header(32), 0);
  writePacket(tx, ids.normal2, header(160), 1);
  // things that are not complete packets
  writePacket(tx, randomId() + '.part', header(1));
  writePacket(tx, randomId() + '.nock', header(1));
  writePacket(tx, randomId() + '.seen', header(1));
  writePacket(tx, 'nncp1234abcd', header(1));
  writePacket(tx, '1'.repeat(52), header(1)); // 52 chars but not Base32
  writePacket(tx, randomId().slice(0, 51), header(1));
  fs.mkdirSync(path.join(tx, 'seen'), { recursive: true });
  // packet-named files that cannot be listed
  const short = randomId();
  fs.writeFileSync(path.join(tx, short), header(7).subarray(0, 100));
  const old = randomId();
  const oldHdr = Buffer.from(header(7));
  oldHdr[7] = 5; // NNCPE v5
  fs.writeFileSync(path.join(tx, old), oldHdr);
  const foreign = randomId();
  fs.writeFileSync(path.join(tx, foreign), randomBytes(400));

  const seenSkips: Skipped[] = [];
  const { jobs, skipped } = await spool.scan(NODE_B, 'tx', { onSkip: (s) => seenSkips.push(s) });
  const normals = [ids.normal, ids.normal2].sort();
  t.deepEqual(jobs.map((j) => j.id), [ids.flash, ...normals, ids.bulk]);
  t.deepEqual(jobs.map((j) => j.nice), [32, 160, 160, 224]);
  const bulk = jobs[3];
  t.is(bulk.path, path.join(tx, ids.bulk));
  t.is(bulk.size, ENC_HEADER_SIZE + 300);
  t.is(bulk.sender, NODE_A);
  t.is(bulk.recipient, NODE_B);
  t.deepEqual(Buffer.from(bulk.headerRaw), fs.readFileSync(bulk.path).subarray(0, ENC_HEADER_SIZE));

  t.deepEqual(skipped.map((s) => s.name).sort(), [short, old, foreign].sort());
  t.deepEqual(seenSkips, skipped);
  const why = new Map(skipped.map((s) => [s.name, s.reason]));
  t.regex(why.get(short)!, /truncated/);
  t.regex(why.get(old)!, /old format/);
  t.regex(why.get(foreign)!, /magic/);
  t.true(fs.existsSync(path.join(tx, short)), 'a bad packet is left where it is');

  t.deepEqual((await spool.list(NODE_B, 'tx', { nice: 160 })).map((j) => j.id), [ids.flash, ...normals]);
  t.deepEqual((await spool.list(NODE_B, 'tx', { nice: 31 })).map((j) => j.id), []);
  t.deepEqual(await spool.list(NODE_B, 'rx'), [], 'a missing queue is an empty one');
  t.deepEqual(await spool.list(NODE_A, 'tx'), []);
});

test('Spool.list: hdr/ files are created, then preferred over the packet; nohdr neither reads nor writes them', async (t) => {
  const root = await tmpDir(t);
  const id = randomId();
  const real = header(200);
  writePacket(path.join(root, NODE_B, 'rx'), id, real);

  const noHdr = new Spool({ root, noHdr: true });
  t.is((await noHdr.list(NODE_B, 'rx'))[0].nice, 200);
  t.false(fs.existsSync(path.join(root, NODE_B, 'rx', 'hdr')));

  const spool = new Spool({ root });
  t.is((await spool.list(NODE_B, 'rx'))[0].nice, 200);
  const hdrFile = spool.hdrPath(NODE_B, 'rx', id);
  t.deepEqual(new Uint8Array(fs.readFileSync(hdrFile)), real);
  t.deepEqual(fs.readdirSync(spool.tmpDir()), []);

  // a (deliberately different) hdr/ file is what listing believes
  fs.writeFileSync(hdrFile, header(5));
  t.is((await spool.list(NODE_B, 'rx'))[0].nice, 5);
  t.is((await noHdr.list(NODE_B, 'rx'))[0].nice, 200);

  // a damaged hdr/ file is replaced from the packet
  fs.writeFileSync(hdrFile, 'garbage');
  t.is((await spool.list(NODE_B, 'rx'))[0].nice, 200);
  t.deepEqual(new Uint8Array(fs.readFileSync(hdrFile)), real);
});

test('Spool.commitPacket: packet under its id and its hdr/ file; neighbour link; umask applied exactly', async (t) => {
  const root = await tmpDir(t);
  const spool = new Spool({ root, umask: 0o027 });
  const hdr = header(96);
  const body = randomBytes(1000);
  const tmp = await spool.tmpFile();
  await tmp.write(hdr);
  await tmp.write(body);
  const id = randomId();
  const p = await spool.commitPacket(tmp, NODE_B, 'tx', id, hdr);
  t.is(p, path.join(root, NODE_B, 'tx', id));
  t.deepEqual(fs.readFileSync(p), Buffer.concat([hdr, body]));
  t.deepEqual(new Uint8Array(fs.readFileSync(spool.hdrPath(NODE_B, 'tx', id))), hdr);
  t.is(fs.statSync(p).mode & 0o777, 0o640);
  t.is(fs.statSync(spool.hdrPath(NODE_B, 'tx', id)).mode & 0o777, 0o640);
  t.is(fs.statSync(spool.queueDir(NODE_B, 'tx')).mode & 0o777, 0o750);
  t.is(fs.statSync(path.join(root, NODE_B, 'tx', 'hdr')).mode & 0o777, 0o750);
  t.deepEqual(fs.readdirSync(spool.tmpDir()), []);

  await spool.linkNeighbour(NODE_B, 'bob');
  t.is(fs.readlinkSync(path.join(root, 'bob')), path.join(root, NODE_B));
  await spool.linkNeighbour(NODE_A, 'bob'); // existing link is left alone, no error
  t.is(fs.readlinkSync(path.join(root, 'bob')), path.join(root, NODE_B));
  await spool.linkNeighbour(NODE_A, '../escape');
  t.false(fs.existsSync(path.join(root, '..', 'escape')));

  const [job] = await spool.list(NODE_B, 'tx');
  await spool.remove(job);
  t.false(fs.existsSync(p));
  t.false(fs.existsSync(spool.hdrPath(NODE_B, 'tx', id)));
});

test('Spool: seen markers in rx/seen/, and .part/.nock listing', async (t) => {
  const root = await tmpDir(t);
  const spool = new Spool({ root });
  const id = randomId();
  t.false(await spool.isSeen(NODE_A, id));
  await spool.markSeen(NODE_A, id);
  t.true(await spool.isSeen(NODE_A, id));
  t.is(fs.statSync(path.join(root, NODE_A, 'rx', 'seen', id)).size, 0);
  await spool.markSeen(NODE_A, id); // idempotent
  t.false(await spool.isSeen(NODE_A, randomId()));

  const rx = spool.queueDir(NODE_A, 'rx');
  const part = randomId();
  const nock = randomId();
  fs.writeFileSync(path.join(rx, part + '.part'), randomBytes(33));
  fs.writeFileSync(path.join(rx, nock + '.nock'), randomBytes(44));
  fs.writeFileSync(path.join(rx, 'junk.part'), '');
  t.deepEqual(await spool.partials(NODE_A, '.part'), [{ id: part, path: path.join(rx, part + '.part'), size: 33 }]);
  t.deepEqual(await spool.partials(NODE_A, '.nock'), [{ id: nock, path: path.join(rx, nock + '.nock'), size: 44 }]);
  t.deepEqual(await spool.list(NODE_A, 'rx'), []);
});

const CHILD = `
const [mod, spool, node, ctx, mode] = process.argv.slice(1);
const { lockDir } = await import(mod);
try {
  const l = await lockDir(spool, node, ctx);
  process.stdout.write('locked\\n');
  if (mode === 'hold') {
    process.stdin.resume();
    process.stdin.on('end', () => { l.release(); process.exit(0); });
  }
} catch (err) {
  process.stdout.write(err.code + ' ' + err.message + '\\n');
  process.exit(3);
}
`;

function runChild(args: string[]): { out: Promise<string>; child: ReturnType<typeof spawn>; firstLine: Promise<string>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, path.join(here, '../src/spool/lock.js'), ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let buf = '';
  let gotLine: (s: string) => void;
  const firstLine = new Promise<string>((res) => (gotLine = res));
  child.stdout!.on('data', (d) => {
    buf += d;
    if (buf.includes('\n')) gotLine(buf.split('\n')[0]);
  });
  const exit = new Promise<number | null>((res) => child.on('exit', (code) => { gotLine(buf); res(code); }));
  return { out: exit.then(() => buf), child, firstLine, exit };
}

test('locks exclude each other across pigeon processes, and within one', async (t) => {
  const root = await tmpDir(t);
  const holder = runChild([root, NODE_A, 'tx', 'hold']);
  t.teardown(() => holder.child.kill());
  t.is(await holder.firstLine, 'locked');
  t.true(fs.existsSync(path.join(root, NODE_A, 'rx')), 'taking a lock makes sure rx/ exists, as the reference does');

  const err = await t.throwsAsync(lockDir(root, NODE_A, 'tx'), { instanceOf: PigeonError });
  t.is((err as PigeonError).code, 'ELOCKED');
  t.is(err?.message, `${path.join(root, NODE_A, 'tx.lock')} is locked by another process (nncp or pigeon); try again when it finishes`);
  // other contexts and other nodes are independent
  const rx = await lockDir(root, NODE_A, 'rx');
  const toss = await lockDir(root, NODE_B, 'tx');

  holder.child.stdin!.end();
  t.is(await holder.exit, 0);
  const mine = await lockDir(root, NODE_A, 'tx');
  t.is(mine.path, path.join(root, NODE_A, 'tx.lock'));

  // now another process is refused, and a second lock in this process too
  const refused = runChild([root, NODE_A, 'tx', 'try']);
  t.is(await refused.exit, 3);
  t.regex(await refused.out, /^ELOCKED .*tx\.lock is locked by another process/);
  await t.throwsAsync(lockDir(root, NODE_A, 'tx'), { message: /is locked/ });

  mine.release();
  mine.release();
  const after = runChild([root, NODE_A, 'tx', 'try']);
  t.is(await after.exit, 0);
  t.is(await after.out, 'locked\n');
  rx.release();
  toss.release();
});
