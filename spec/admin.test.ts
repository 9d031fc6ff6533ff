/**
 * pigeon rm, stat and check on their own, on spools built by hand. The same
 * commands against the reference on identical spools: admin-interop.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { check } from '../src/admin/check.js';
import { parseOlder, parsePktList, rm, type RmOptions } from '../src/admin/rm.js';
import { stat } from '../src/admin/stat.js';
import { base32Encode } from '../src/codec/base32.js';
import { PigeonError } from '../src/errors.js';
import { parseLog } from '../src/log/log.js';
import { ENC_HEADER_SIZE } from '../src/packet/header.js';
import { capturingContext, makeNodes } from './helpers/nncp.js';
import { fakePacket } from './helpers/packets.js';
import { listFiles, put, runPigeon, tmpDir } from './helpers/util.js';

const b32 = (b: Uint8Array): string => base32Encode(b);
const rid = (): string => b32(randomBytes(32));

interface Node {
  name: string;
  id: string;
}

interface World {
  dir: string;
  cfgPath: string;
  spool: string;
  log: string;
  self: Node;
  alice: Node;
  bob: Node;
}

/** A configuration with ourselves and two neighbours (keys made in-process). */
async function world(t: ExecutionContext): Promise<World> {
  const dir = await tmpDir(t);
  const { me, alice, bob } = await makeNodes(dir, ['me', 'alice', 'bob'], { generator: 'pigeon' });
  return {
    dir, cfgPath: me.cfgPath, spool: me.spool, log: me.log,
    self: { name: 'self', id: me.idB32 },
    alice: { name: 'alice', id: alice.idB32 },
    bob: { name: 'bob', id: bob.idB32 },
  };
}

// ---------------------------------------------------------------- rm

test('parseOlder: N followed by s, m, h or d; anything else is refused', (t) => {
  t.is(parseOlder('10s'), 10);
  t.is(parseOlder('5m'), 300);
  t.is(parseOlder('12h'), 43200);
  t.is(parseOlder('2d'), 172800);
  t.is(parseOlder('0s'), 0);
  for (const bad of ['5x', '', '1.5h', '-1d', '5 m', 'd', '2D', '2h30m', '99999999999999999999s']) {
    const err = t.throws(() => parseOlder(bad), undefined, bad);
    t.true(err instanceof PigeonError);
    t.true(err!.message.includes('-older'));
  }
});

test('parsePktList: whitespace-separated ids, directories dropped', (t) => {
  t.deepEqual([...parsePktList('AAA\nBBB  CCC\n\nNODE/DDD\nx/y/EEE\r\n')].sort(), ['AAA', 'BBB', 'CCC', 'DDD', 'EEE']);
  t.deepEqual([...parsePktList('  \n\n')], []);
});

/** A spool with one of everything, for alice and bob. Returns names relative to the spool. */
function richSpool(w: World) {
  const A = w.alice.id;
  const B = w.bob.id;
  const P1 = rid();
  const P2 = rid();
  const T1 = rid();
  const S1 = rid();
  const Q1 = rid();
  const layout: Record<string, number> = {
    // relative path -> age in days
    [`${A}/rx/${P1}`]: 10,
    [`${A}/rx/hdr/${P1}`]: 10,
    [`${A}/rx/${P2}`]: 0,
    [`${A}/rx/${rid()}.part`]: 10,
    [`${A}/rx/${rid()}.nock`]: 0,
    [`${A}/rx/random-file`]: 10,
    [`${A}/rx/seen/${S1}`]: 10,
    [`${A}/rx/seen/${rid()}`]: 0,
    [`${A}/rx/hdr/${rid()}`]: 10,
    [`${A}/tx/${T1}`]: 10,
    [`${A}/tx/hdr/${T1}`]: 0,
    [`${A}/tx/${rid()}`]: 0,
    [`${A}/area/${rid()}/${rid()}`]: 10,
    [`${A}/area/${rid()}/${rid()}`]: 0,
    [`${A}/tx.lock`]: 0,
    [`${A}/toss.lock`]: 10,
    [`${B}/rx/${Q1}`]: 10,
    [`${B}/tx/${rid()}`]: 10,
    [`${B}/rx/seen/${rid()}`]: 10,
    [`${B}/rx.lock`]: 0,
    [`tmp/nncp1234`]: 10,
    [`tmp/nncp5678`]: 0,
  };
  for (const [rel, age] of Object.entries(layout)) put(path.join(w.spool, rel), 'x', age);
  fs.symlinkSync(path.join(w.spool, A), path.join(w.spool, 'alice'));
  return { all: Object.keys(layout).sort(), ages: layout, P1, P2, T1, S1, Q1, A, B };
}

async function rmCase(t: ExecutionContext, opts: RmOptions, expectGone: (rel: string, s: ReturnType<typeof richSpool>) => boolean): Promise<void> {
  const w = await world(t);
  const s = richSpool(w);
  const { ctx } = await capturingContext(w.cfgPath);
  const res = await rm(ctx, opts.node ? { ...opts, node: ctx.cfg.byName.get('alice') } : opts);
  const expected = s.all.filter((rel) => expectGone(rel, s));
  const left = listFiles(w.spool).filter((f) => f !== 'alice');
  t.deepEqual(left, s.all.filter((rel) => !expected.includes(rel)), 'removed exactly these, left the rest');
  // Every removal is reported and logged, except a packet's hdr/ file, which goes silently with it.
  const companion = (rel: string) => /\/(rx|tx)\/hdr\/[^/]+$/.test(rel) && expected.includes(rel.replace('/hdr/', '/'));
  const reported = expected.filter((rel) => !companion(rel));
  t.deepEqual(res.removed.map((p) => path.relative(w.spool, p)).sort(), reported, 'reported');
  const recs = parseLog(fs.existsSync(w.log) ? fs.readFileSync(w.log, 'utf8') : '').filter((r) => r.who === 'rm');
  t.deepEqual(recs.map((r) => path.relative(w.spool, r.fields.get('File')!)).sort(), reported, 'logged');
  for (const r of recs) t.is(r.fields.get('Msg'), `File ${r.fields.get('File')}: removed`);
}

const inRx = (rel: string, id: string) => rel.startsWith(`${id}/rx/`) && rel.split('/').length === 3;
const inTx = (rel: string, id: string) => rel.startsWith(`${id}/tx/`) && rel.split('/').length === 3;

test('rm -node N -rx: every file directly in rx/ (with its hdr/ file), nothing else', (t) =>
  rmCase(t, { node: {} as never, rx: true }, (rel, s) => inRx(rel, s.A) || rel === `${s.A}/rx/hdr/${s.P1}`));

test('rm -all -tx: every node\'s tx/ files and their hdr/ files', (t) =>
  rmCase(t, { all: true, tx: true }, (rel, s) => inTx(rel, s.A) || inTx(rel, s.B) || rel === `${s.A}/tx/hdr/${s.T1}`));

test('rm -node N -rx -older 5d: only what is older', (t) =>
  rmCase(t, { node: {} as never, rx: true, olderSec: 5 * 86400 }, (rel, s) =>
    [`${s.A}/rx/${s.P1}`, `${s.A}/rx/hdr/${s.P1}`, `${s.A}/rx/random-file`].includes(rel) || (inRx(rel, s.A) && rel.endsWith('.part'))));

test('rm -node N -rx -hdr: only rx/hdr/ files', (t) => rmCase(t, { node: {} as never, rx: true, hdr: true }, (rel, s) => rel.startsWith(`${s.A}/rx/hdr/`)));

test('rm -all -tx -hdr: only tx/hdr/ files', (t) => rmCase(t, { all: true, tx: true, hdr: true }, (rel) => rel.includes('/tx/hdr/')));

test('rm -all -part / -nock: only those files', async (t) => {
  await rmCase(t, { all: true, part: true }, (rel) => rel.endsWith('.part'));
  await rmCase(t, { all: true, nock: true }, (rel) => rel.endsWith('.nock'));
});

test('rm -all -seen: seen/ files; with -older 1d only those old enough', async (t) => {
  await rmCase(t, { all: true, seen: true }, (rel) => rel.includes('/rx/seen/'));
  await rmCase(t, { all: true, seen: true, olderSec: 86400 }, (rel, s) => rel.includes('/rx/seen/') && s.ages[rel] > 1);
});

test('rm -node N -area: everything under area/', (t) => rmCase(t, { node: {} as never, area: true }, (rel, s) => rel.startsWith(`${s.A}/area/`)));

test('rm -tmp and -lock need no node; -tmp -older leaves fresh files', async (t) => {
  await rmCase(t, { tmp: true }, (rel) => rel.startsWith('tmp/'));
  await rmCase(t, { tmp: true, olderSec: 3600 }, (rel) => rel === 'tmp/nncp1234');
  await rmCase(t, { lock: true, olderSec: 999 * 86400 }, (rel) => rel.endsWith('.lock'));
});

test('rm without -older removes a file written in the millisecond it started (the mtime has a fraction of one more)', async (t) => {
  const w = await world(t);
  const now = Date.now();
  const p = put(path.join(w.spool, 'tmp', 'nncp-just-now'), 'x');
  const future = put(path.join(w.spool, 'tmp', 'nncp-later'), 'x');
  fs.utimesSync(p, (now + 0.6) / 1000, (now + 0.6) / 1000); // same millisecond as `now`, 0.6 ms into it
  fs.utimesSync(future, (now + 5) / 1000, (now + 5) / 1000); // 5 ms after: from the future, left alone
  t.true(fs.statSync(p).mtimeMs > now, 'the file system keeps the fraction');
  const { ctx } = await capturingContext(w.cfgPath);
  const res = await rm(ctx, { tmp: true, now });
  t.deepEqual(res.removed, [p]);
  t.false(fs.existsSync(p));
  t.true(fs.existsSync(future));
});

test('rm -pkt: the listed ids in rx/, tx/ (with hdr/) and seen/, whatever their age; -dryrun removes nothing', async (t) => {
  const w = await world(t);
  const s = richSpool(w);
  const { ctx } = await capturingContext(w.cfgPath);
  const pkts = parsePktList(`${s.P1}\n${s.A}/${s.T1}\n  ${s.S1}\n${s.Q1}\n`);
  const before = listFiles(w.spool);
  const dry = await rm(ctx, { node: ctx.cfg.byName.get('alice'), pkts, olderSec: 999 * 86400, dryRun: true });
  t.deepEqual(listFiles(w.spool), before, '-dryrun: nothing removed');
  const expected = [`${s.A}/rx/${s.P1}`, `${s.A}/tx/${s.T1}`, `${s.A}/rx/seen/${s.S1}`].sort();
  t.deepEqual(dry.removed.map((p) => path.relative(w.spool, p)).sort(), expected, '-dryrun reports what would go');
  const res = await rm(ctx, { node: ctx.cfg.byName.get('alice'), pkts, olderSec: 999 * 86400 });
  t.deepEqual(res.removed.map((p) => path.relative(w.spool, p)).sort(), expected);
  const gone = [...expected, `${s.A}/rx/hdr/${s.P1}`, `${s.A}/tx/hdr/${s.T1}`];
  t.deepEqual(listFiles(w.spool), before.filter((f) => !gone.includes(f)), 'hdr/ files go with their packets; bob\'s packet stays (-node alice)');
});

test('rm without -node or -all is refused, and so is a bad -older (CLI, one line, exit 1)', async (t) => {
  const w = await world(t);
  const { ctx } = await capturingContext(w.cfgPath);
  await t.throwsAsync(rm(ctx, { rx: true }), { instanceOf: PigeonError, message: /-node NODE.*-all/ });
  for (const args of [['-rx'], ['-all', '-rx', '-older', '5x'], ['-node', 'nobody', '-rx']]) {
    const r = await runPigeon(['rm', '-cfg', w.cfgPath, ...args]);
    t.is(r.code, 1, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const r = await runPigeon(['rm', '-cfg', w.cfgPath, '-tmp']);
  t.is(r.code, 1, 'no tmp/ directory: an error, as with nncp-rm');
  t.regex(r.stderr, /tmp/);
});

// -------------------------------------------------------------- stat

test('stat: per node (sorted by name) counts and sizes by niceness, -pkt lines, -node', async (t) => {
  const w = await world(t);
  const A = w.alice.id;
  const B = w.bob.id;
  const rx1 = fakePacket(A, w.self.id, 224, 1000); // 1172 B
  const rx2 = fakePacket(A, w.self.id, 224, 3000); // 3172 B
  const tx1 = fakePacket(w.self.id, A, 96, 20_000); // 20172 B
  const nock = fakePacket(A, w.self.id, 96, 100); // 272 B
  const txB = fakePacket(w.self.id, B, 255, 0); // 172 B
  put(path.join(w.spool, A, 'rx', rx1.id), rx1.data);
  put(path.join(w.spool, A, 'rx', rx2.id), rx2.data);
  put(path.join(w.spool, A, 'tx', tx1.id), tx1.data);
  put(path.join(w.spool, A, 'rx', nock.id + '.nock'), nock.data);
  const partId = rid();
  put(path.join(w.spool, A, 'rx', partId + '.part'), randomBytes(5000));
  put(path.join(w.spool, B, 'tx', txB.id), txB.data);
  put(path.join(w.spool, A, 'rx', rid()), randomBytes(10)); // not readable as a packet: not counted

  const { ctx } = await capturingContext(w.cfgPath);
  const lines: string[] = [];
  await stat(ctx, { out: (l) => void lines.push(l) });
  t.deepEqual(lines, [
    'alice',
    '\tpart:    4.9 KiB,   1 pkts',
    '\tnice:   P | Rx:        0 B,   0 pkts | Tx:     20 KiB,   1 pkts | NoCK:      272 B,   1 pkts',
    '\tnice:   B | Rx:    4.2 KiB,   2 pkts | Tx:        0 B,   0 pkts',
    'bob',
    '\tnice: MAX | Rx:        0 B,   0 pkts | Tx:      172 B,   1 pkts',
    'self',
  ]);
  // hdr/ files were made for the complete packets (not for .nock/.part), holding their headers.
  for (const [xx, p] of [['rx', rx1], ['rx', rx2], ['tx', tx1]] as const) {
    t.true(fs.readFileSync(path.join(w.spool, A, xx, 'hdr', p.id)).equals(p.data.subarray(0, ENC_HEADER_SIZE)));
  }
  t.false(fs.existsSync(path.join(w.spool, A, 'rx', 'hdr', nock.id)));

  const pktLines: string[] = [];
  await stat(ctx, { pkt: true, node: ctx.cfg.byName.get('alice'), out: (l) => void pktLines.push(l) });
  t.is(pktLines[0], 'alice');
  t.deepEqual(pktLines.slice(1, 6).sort(), [
    `\trx ${rx1.id} 1.1 KiB (nice: B)`,
    `\trx ${rx2.id} 3.1 KiB (nice: B)`,
    `\trx ${nock.id}.nock 272 B (nice: P)`,
    `\trx ${partId}.part 4.9 KiB`,
    `\ttx ${tx1.id} 20 KiB (nice: P)`,
  ].sort());
  t.is(pktLines.length, 9);

  // With nohdr, nothing is written.
  fs.rmSync(path.join(w.spool, A, 'rx', 'hdr'), { recursive: true });
  const { ctx: noHdr } = await capturingContext(w.cfgPath, { noHdr: true });
  await stat(noHdr, { out: () => {} });
  t.false(fs.existsSync(path.join(w.spool, A, 'rx', 'hdr')));
});

test('stat: more than 99 packets widens the count column as Go\'s "% 3d" does', async (t) => {
  const w = await world(t);
  for (let i = 0; i < 100; i++) {
    const p = fakePacket(w.alice.id, w.self.id, 1, 0);
    put(path.join(w.spool, w.alice.id, 'rx', p.id), p.data);
  }
  const { ctx } = await capturingContext(w.cfgPath);
  const lines: string[] = [];
  await stat(ctx, { node: ctx.cfg.byName.get('alice'), out: (l) => void lines.push(l) });
  t.deepEqual(lines, ['alice', '\tnice:   1 | Rx:     17 KiB,  100 pkts | Tx:        0 B,   0 pkts']);
});

// ------------------------------------------------------------- check

test('check: finds a corrupted packet in rx/ and tx/, logs it, leaves it; good ones pass; exit 1 from the CLI', async (t) => {
  const w = await world(t);
  const A = w.alice.id;
  const good = fakePacket(A, w.self.id, 224, 50_000);
  const badRx = fakePacket(A, w.self.id, 224, 300_000);
  const badTx = fakePacket(w.self.id, A, 224, 10);
  put(path.join(w.spool, A, 'rx', good.id), good.data);
  const flipped = Buffer.from(badRx.data);
  flipped[200_000] ^= 1;
  put(path.join(w.spool, A, 'rx', badRx.id), flipped);
  put(path.join(w.spool, A, 'tx', badTx.id), Buffer.concat([badTx.data, Buffer.from('x')]));

  const { ctx, stderr } = await capturingContext(w.cfgPath);
  const res = await check(ctx);
  t.false(res.ok);
  t.is(res.checked, 3);
  t.deepEqual(res.bad.sort(), [path.join(w.spool, A, 'rx', badRx.id), path.join(w.spool, A, 'tx', badTx.id)].sort());
  t.true(fs.existsSync(path.join(w.spool, A, 'rx', badRx.id)), 'a bad packet is left where it is');
  const recs = parseLog(fs.readFileSync(w.log, 'utf8')).filter((r) => r.who === 'checking');
  t.is(recs.length, 2);
  const rec = recs.find((r) => r.fields.get('Pkt') === badRx.id)!;
  t.deepEqual([...rec.fields.keys()], ['When', 'Err', 'Who', 'XX', 'Node', 'Pkt', 'FullSize', 'Msg']);
  t.is(rec.fields.get('Err'), 'bad');
  t.is(rec.fields.get('FullSize'), String(flipped.length));
  t.is(rec.fields.get('Msg'), `Checking: ${A}/rx/${badRx.id}`);
  t.regex(stderr(), new RegExp(`ERROR Checking: ${A}/tx/${badTx.id}: bad`));

  const cli = await runPigeon(['check', '-cfg', w.cfgPath, '-noprogress', '-node', 'alice']);
  t.is(cli.code, 1);
  fs.rmSync(path.join(w.spool, A, 'rx', badRx.id));
  fs.rmSync(path.join(w.spool, A, 'tx', badTx.id));
  const cli2 = await runPigeon(['check', '-cfg', w.cfgPath, '-noprogress']);
  t.is(cli2.code, 0, cli2.stderr);
});

test('check -nock: a good .nock becomes the packet with its hdr/ file; a bad one stays and is reported', async (t) => {
  const w = await world(t);
  const A = w.alice.id;
  const good = fakePacket(A, w.self.id, 160, 200_000);
  const bad = fakePacket(A, w.self.id, 160, 1000);
  const badData = Buffer.from(bad.data);
  badData[500] ^= 4;
  put(path.join(w.spool, A, 'rx', good.id + '.nock'), good.data);
  put(path.join(w.spool, A, 'rx', bad.id + '.nock'), badData);
  const garbage = put(path.join(w.spool, A, 'rx', rid() + '.nock'), randomBytes(50)); // no readable header: not looked at

  const { ctx } = await capturingContext(w.cfgPath);
  const reports: string[] = [];
  const res = await check(ctx, { nock: true, report: (l) => void reports.push(l) });
  t.false(res.ok);
  t.deepEqual(res.settled, [good.id]);
  t.true(fs.readFileSync(path.join(w.spool, A, 'rx', good.id)).equals(good.data));
  t.false(fs.existsSync(path.join(w.spool, A, 'rx', good.id + '.nock')));
  t.true(fs.readFileSync(path.join(w.spool, A, 'rx', 'hdr', good.id)).equals(good.data.subarray(0, ENC_HEADER_SIZE)));
  t.true(fs.readFileSync(path.join(w.spool, A, 'rx', bad.id + '.nock')).equals(badData), 'bad .nock left untouched');
  t.false(fs.existsSync(path.join(w.spool, A, 'rx', bad.id)));
  t.true(fs.existsSync(garbage));
  t.deepEqual(reports, [`${path.join(w.spool, A, 'rx', bad.id)}.nock checksum mismatch`]);
});
