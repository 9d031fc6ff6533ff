/**
 * Crash consistency of `pigeon toss` (issue 9): a toss SIGKILLed at each
 * named kill point (PIGEON_KILLPOINT), then run again, delivers every
 * packet exactly once (exec: once more, told PIGEON_RETRY=1, when the kill
 * lands while its handle runs), leaves nothing half-written under a final
 * name in incoming/, and leaves the spool clean (no rx/ packet, no
 * delivery record, nothing in tmp/).
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { findNode } from '../src/config/types.js';
import { PktType } from '../src/packet/header.js';
import { TRASH_MIN_BYTES } from '../src/spool/trash.js';
import { txPacket } from '../src/tx/send.js';
import { lab as makeLab, type Lab, type TestNode } from './helpers/nncp.js';
import { carry, chunks, plainOf, sendPacket } from './helpers/packets.js';
import { listFiles, packetIds, runPigeon } from './helpers/util.js';

const lab = (t: ExecutionContext, names: string[], edit?: (nodes: Record<string, TestNode>) => void): Promise<Lab> => makeLab(t, names, { exec: { sh: ['/bin/sh', '-c'] }, edit });

/** Toss bob's queues in a pigeon process killed at `point`; it must die by SIGKILL there. */
async function tossKilledAt(t: ExecutionContext, l: Lab, point: string, args: string[] = []): Promise<void> {
  const r = await runPigeon(['toss', '-quiet', '-cfg', l.nodes.bob.cfgPath, ...args], { env: { PIGEON_KILLPOINT: point } });
  t.regex(r.stderr, /killed by SIGKILL/, `toss was not killed at ${point}: exit ${r.code}: ${r.stderr}`);
}

/** Toss bob's queues again, to its end. */
async function tossAgain(t: ExecutionContext, l: Lab, args: string[] = []): Promise<void> {
  const r = await runPigeon(['toss', '-quiet', '-cfg', l.nodes.bob.cfgPath, ...args]);
  t.is(r.code, 0, r.stderr);
}

/** No packet left in bob's rx/ from alice, no delivery record, nothing in tmp/. */
function spoolClean(t: ExecutionContext, l: Lab, from = 'alice'): void {
  const spool = l.ctx.bob.spool;
  const node = l.nodes[from].idB32;
  t.deepEqual(packetIds(spool.queueDir(node, 'rx')), [], 'rx/ empty');
  t.deepEqual(listFiles(spool.deliveryDir(node)), [], 'no delivery record left');
  t.deepEqual(listFiles(spool.tmpDir()), [], 'tmp/ empty');
}

const FILE_POINTS = [
  'toss-file-chunk',
  'toss-file-written',
  'toss-file-synced',
  'toss-file-closed',
  'toss-file-recorded',
  'toss-file-renamed',
  'toss-file-dirsynced',
  'toss-handled',
  'toss-delivered',
  'toss-seen',
  'toss-removed',
];

for (const point of FILE_POINTS) {
  test(`file, killed at ${point}: delivered exactly once, no debris, spool clean`, async (t) => {
    const l = await lab(t, ['alice', 'bob']);
    const inc = l.nodes.bob.incoming;
    const data = randomBytes(1_500_000);
    const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'sub/f.bin'), data);
    await tossKilledAt(t, l, point, ['-seen']);
    // never a partial file under its final name: only the whole file, or a hidden temporary one
    for (const f of listFiles(inc)) {
      if (f === 'sub/f.bin') t.deepEqual(fs.readFileSync(path.join(inc, f)), data, 'a file under its name is complete');
      else t.regex(f, new RegExp(`^sub/\\.pigeon-tmp-${p.id}\\.[0-9a-f]+$`));
    }
    await tossAgain(t, l, ['-seen']);
    t.deepEqual(listFiles(inc), ['sub/f.bin'], 'once, no NAME.0, no temporary file');
    t.deepEqual(fs.readFileSync(path.join(inc, 'sub/f.bin')), data);
    spoolClean(t, l);
    t.true(fs.existsSync(l.ctx.bob.spool.seenPath(l.nodes.alice.idB32, p.id)));
  });
}

for (const point of ['toss-file-recorded', 'toss-file-renamed', 'toss-removed']) {
  test(`file beside an identical older one, killed at ${point}: exactly one new copy (NAME.0), recognised by its inode`, async (t) => {
    const l = await lab(t, ['alice', 'bob']);
    const inc = l.nodes.bob.incoming;
    const data = randomBytes(200_000);
    fs.writeFileSync(path.join(inc, 'f.bin'), data); // same name, same content, delivered earlier
    await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.bin'), data);
    await tossKilledAt(t, l, point);
    await tossAgain(t, l);
    t.deepEqual(listFiles(inc), ['f.bin', 'f.bin.0']);
    t.deepEqual(fs.readFileSync(path.join(inc, 'f.bin.0')), data);
    spoolClean(t, l);
  });
}

test('file: a kill between linking the file and unlinking its temporary name: recognised as delivered, temporary name removed', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  const data = randomBytes(300_000);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.bin'), data);
  await tossKilledAt(t, l, 'toss-file-recorded');
  const [tmp] = listFiles(inc);
  t.regex(tmp, new RegExp(`^\\.pigeon-tmp-${p.id}\\.`));
  fs.linkSync(path.join(inc, tmp), path.join(inc, 'f.bin')); // what the killed toss would have done next
  await tossAgain(t, l);
  t.deepEqual(listFiles(inc), ['f.bin']);
  t.deepEqual(fs.readFileSync(path.join(inc, 'f.bin')), data);
  spoolClean(t, l);
});

test('file: placed, then moved away by the user before the toss that removes the packet: not delivered again', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.bin'), randomBytes(1000));
  await tossKilledAt(t, l, 'toss-handled');
  fs.renameSync(path.join(inc, 'f.bin'), path.join(l.dir, 'taken.bin'));
  await tossAgain(t, l);
  t.deepEqual(listFiles(inc), []);
  spoolClean(t, l);
});

/** Two file packets of more than a block (tossed one at a time), then a toss killed once the second's record file is made from the first's. */
async function twoFilesKilledAtReuse(t: ExecutionContext, l: Lab): Promise<{ a: Buffer; b: Buffer; dir: string }> {
  const a = randomBytes(300_000);
  const b = randomBytes(300_000);
  const pa = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'a.bin'), a);
  const pb = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'b.bin'), b);
  await tossKilledAt(t, l, 'toss-record-reused');
  const dir = l.ctx.bob.spool.deliveryDir(l.nodes.alice.idB32);
  const [reused] = listFiles(dir).filter((f) => f === pa.id || f === pb.id);
  t.truthy(reused, 'the second packet has a record file');
  const other = reused === pa.id ? pb.id : pa.id;
  t.true(fs.readFileSync(path.join(dir, reused), 'utf8').includes(`"pkt":"${other}"`), 'it still holds the record of the packet delivered before');
  t.true(listFiles(dir).some((f) => f.startsWith('.spare-')), 'the spare\'s name is left');
  return { a, b, dir };
}

function bothOnce(t: ExecutionContext, l: Lab, a: Buffer, b: Buffer): void {
  const inc = l.nodes.bob.incoming;
  t.deepEqual(listFiles(inc), ['a.bin', 'b.bin'], 'both delivered, once each');
  t.deepEqual(fs.readFileSync(path.join(inc, 'a.bin')), a);
  t.deepEqual(fs.readFileSync(path.join(inc, 'b.bin')), b);
}

test('two files, killed just after the second packet\'s record file was made from the first\'s: each delivered once, no spare left', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const { a, b } = await twoFilesKilledAtReuse(t, l);
  await tossAgain(t, l);
  bothOnce(t, l, a, b);
  spoolClean(t, l);
});

test('pigeon rm -tmp removes the spare record files of a killed toss, and the next toss still delivers each file once', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const { a, b, dir } = await twoFilesKilledAtReuse(t, l);
  const r = await runPigeon(['rm', '-quiet', '-cfg', l.nodes.bob.cfgPath, '-tmp']);
  t.is(r.code, 0, r.stderr);
  t.false(listFiles(dir).some((f) => f.startsWith('.spare-')), 'no spare left');
  await tossAgain(t, l);
  bothOnce(t, l, a, b);
  spoolClean(t, l);
});

/** An exec packet whose handle appends one line per run (with PIGEON_RETRY) to runs.log and copies its input. */
async function execPacket(l: Lab, data: Uint8Array): Promise<{ runs: () => string[]; out: string }> {
  const runsLog = path.join(l.dir, 'runs.log');
  const out = path.join(l.dir, 'exec.out');
  const script = `cat > ${out}; echo "run retry=\${PIGEON_RETRY:-none}" >> ${runsLog}`;
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0${script}`), data);
  return { runs: () => (fs.existsSync(runsLog) ? fs.readFileSync(runsLog, 'utf8').trim().split('\n') : []), out };
}

const EXEC_CASES: [string, string[]][] = [
  ['toss-exec-started', ['run retry=1']], // killed before the handle started: it runs once, told it may be a re-run
  ['toss-exec-returned', ['run retry=none', 'run retry=1']], // killed just after it returned (the documented window)
  ['toss-handled', ['run retry=none', 'run retry=1']],
  ['toss-delivered', ['run retry=none']], // after the record: exactly once
  ['toss-removed', ['run retry=none']],
];

for (const [point, expected] of EXEC_CASES) {
  test(`exec, killed at ${point}: runs ${expected.join(', then ')}`, async (t) => {
    const l = await lab(t, ['alice', 'bob']);
    const data = randomBytes(100_000);
    const e = await execPacket(l, data);
    await tossKilledAt(t, l, point);
    await tossAgain(t, l);
    t.deepEqual(e.runs(), expected);
    t.deepEqual(fs.readFileSync(e.out), data);
    spoolClean(t, l);
  });
}

for (const point of ['toss-delivered', 'toss-removed']) {
  test(`freq, killed at ${point}: exactly one reply queued`, async (t) => {
    const l = await lab(t, ['alice', 'bob']);
    fs.writeFileSync(path.join(l.nodes.bob.freqDir, 'pub.txt'), 'public');
    await sendPacket(l, 'alice', 'bob', plainOf(PktType.Freq, 'pub.txt'), new TextEncoder().encode('got.txt'));
    await tossKilledAt(t, l, point);
    await tossAgain(t, l);
    t.is(packetIds(l.ctx.bob.spool.queueDir(l.nodes.alice.idB32, 'tx')).length, 1);
    spoolClean(t, l);
  });
}

for (const point of ['toss-handled', 'toss-delivered', 'toss-removed']) {
  test(`trns, killed at ${point}: the carried packet queued once for the next hop`, async (t) => {
    const l = await lab(t, ['alice', 'bob', 'carol'], (n) => {
      n.alice.raw.neigh.carol.via = [n.bob.idB32];
    });
    const res = await txPacket(l.ctx.alice, { to: findNode(l.ctx.alice.cfg, 'carol'), plain: plainOf(PktType.File, 'r.bin'), nice: 96, payload: chunks(randomBytes(50_000)) });
    carry(l, 'alice', l.nodes.bob.idB32, res.pktId);
    await tossKilledAt(t, l, point);
    await tossAgain(t, l);
    t.is(packetIds(l.ctx.bob.spool.queueDir(l.nodes.carol.idB32, 'tx')).length, 1);
    spoolClean(t, l);
  });
}

test('a killed write whose packet then went away (removed by hand): the next toss of the node sweeps the temporary file and the record', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.bin'), randomBytes(1_500_000));
  await tossKilledAt(t, l, 'toss-file-chunk');
  t.is(listFiles(inc).length, 1);
  fs.rmSync(p.rxPath);
  await tossAgain(t, l);
  t.deepEqual(listFiles(inc), []);
  spoolClean(t, l);
});

test('pigeon rm -tmp removes the temporary file of a killed toss (and its record), but not while a toss holds the node', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  const data = randomBytes(1_500_000);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.bin'), data);
  await tossKilledAt(t, l, 'toss-file-chunk');
  t.is(listFiles(inc).length, 1);
  fs.mkdirSync(l.ctx.bob.spool.tmpDir(), { recursive: true });
  const lock = await l.ctx.bob.spool.lock(l.nodes.alice.idB32, 'toss');
  let r = await runPigeon(['rm', '-quiet', '-cfg', l.nodes.bob.cfgPath, '-tmp']);
  t.is(r.code, 0, r.stderr);
  t.is(listFiles(inc).length, 1, 'left alone while the toss lock is held');
  lock.release();
  r = await runPigeon(['rm', '-quiet', '-cfg', l.nodes.bob.cfgPath, '-tmp']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(listFiles(inc), []);
  t.deepEqual(listFiles(l.ctx.bob.spool.deliveryDir(l.nodes.alice.idB32)), []);
  await tossAgain(t, l);
  t.deepEqual(listFiles(inc), ['f.bin']);
  t.deepEqual(fs.readFileSync(path.join(inc, 'f.bin')), data);
  spoolClean(t, l);
});

/** Byte equality of buffers too big for t.deepEqual's diff. */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/** Wait (up to 10 s) for `dir` to hold no file: a detached `rm` empties the trash after the toss exits. */
async function emptied(dir: string): Promise<string[]> {
  for (const end = Date.now() + 10_000; listFiles(dir).length > 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
  return listFiles(dir);
}

test('a big file packet leaves rx/ for the trash: killed at toss-trashed, delivered once, and the next toss frees it', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  const tmp = l.ctx.bob.spool.tmpDir();
  const data = randomBytes(TRASH_MIN_BYTES + 12_345);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'big.bin'), data);
  const ino = fs.statSync(p.rxPath).ino;
  await tossKilledAt(t, l, 'toss-trashed');
  t.deepEqual(listFiles(inc), ['big.bin']);
  t.deepEqual(packetIds(l.ctx.bob.spool.queueDir(l.nodes.alice.idB32, 'rx')), []);
  const trashed = listFiles(tmp);
  t.is(trashed.length, 1);
  t.regex(trashed[0] ?? '', new RegExp(`^\\.pigeon-trash\\.[0-9a-f]+/${p.id}$`));
  t.is(fs.statSync(path.join(tmp, trashed[0])).ino, ino, 'the packet itself, renamed: nothing freed yet');
  await tossAgain(t, l);
  t.deepEqual(listFiles(inc), ['big.bin'], 'not delivered again');
  t.true(sameBytes(fs.readFileSync(path.join(inc, 'big.bin')), data));
  t.deepEqual(await emptied(tmp), [], 'the next toss took the trash the kill left');
  spoolClean(t, l);
});

test('pigeon rm -tmp removes the trash of a killed toss', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'big.bin'), randomBytes(TRASH_MIN_BYTES));
  await tossKilledAt(t, l, 'toss-trashed');
  t.is(listFiles(l.ctx.bob.spool.tmpDir()).length, 1);
  const r = await runPigeon(['rm', '-quiet', '-cfg', l.nodes.bob.cfgPath, '-tmp']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(listFiles(l.ctx.bob.spool.tmpDir()), [], 'the packet is gone (its emptied directory goes with the next toss)');
});

test('big and small file packets in one toss: each delivered once, the big one freed after the toss', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  const big = randomBytes(TRASH_MIN_BYTES + 1);
  const small = randomBytes(100_000);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'big.bin'), big);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'small.bin'), small);
  await tossAgain(t, l);
  t.deepEqual(listFiles(inc), ['big.bin', 'small.bin']);
  t.true(sameBytes(fs.readFileSync(path.join(inc, 'big.bin')), big));
  t.deepEqual(fs.readFileSync(path.join(inc, 'small.bin')), small);
  t.deepEqual(await emptied(l.ctx.bob.spool.tmpDir()), []);
  spoolClean(t, l);
});
