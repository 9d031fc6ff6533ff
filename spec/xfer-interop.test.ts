/**
 * pigeon xfer against nncp-xfer 8.8.2: a stick written by either is read by
 * the other, and what each writes (medium layout, spool, log records) is the
 * same for the same input.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseLog, type LogRecord } from '../src/log/log.js';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { fileContents, listFiles, ok, requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

/** Queue files from `from` to `to` with nncp-file; returns the source files. */
async function sendFiles(t: ExecutionContext, from: TestNode, to: TestNode, specs: { name: string; size: number; nice: string }[]) {
  const out: Record<string, Buffer> = {};
  for (const s of specs) {
    const data = randomBytes(s.size);
    const src = path.join(from.dir, `src-${s.name}`);
    fs.writeFileSync(src, data);
    ok(t, 'nncp-file', await runNncp('nncp-file', ['-cfg', from.cfgPath, '-quiet', '-nice', s.nice, src, `${to.name}:${s.name}`]));
    out[s.name] = data;
  }
  return out;
}

/** The records of a log file with the given Who values. */
function records(logPath: string, whos: string[]): LogRecord[] {
  if (!fs.existsSync(logPath)) return [];
  return parseLog(fs.readFileSync(logPath, 'utf8')).filter((r) => whos.includes(r.who));
}

/** A record without its time, for comparing two implementations' records. */
function shape(r: LogRecord): string {
  return [...r.fields].filter(([k]) => k !== 'When').map(([k, v]) => `${k}: ${v}`).join('\n');
}

async function copySpool(src: string, dst: string): Promise<void> {
  await fs.promises.cp(src, dst, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
}

test('nncp-xfer -tx -> pigeon xfer -rx -> nncp-toss delivers; pigeon imports exactly what nncp-xfer -rx imports, with the same log records', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob']);
  const sent = await sendFiles(t, alice, bob, [
    { name: 'small.txt', size: 300, nice: 'B' },
    { name: 'big.bin', size: 700_000, nice: 'P' },
  ]);
  const medium = path.join(dir, 'stick');
  fs.mkdirSync(medium);
  ok(t, 'nncp-xfer -tx', await runNncp('nncp-xfer', ['-cfg', alice.cfgPath, '-quiet', '-tx', '-mkdir', medium]));
  const mediumBefore = fileContents(medium);
  t.is(mediumBefore.size, 2);

  // The reference imports into a copy of bob's spool (keeping the medium), logging to its own file.
  const refSpool = path.join(dir, 'bob-ref-spool');
  fs.mkdirSync(refSpool);
  const refLog = path.join(dir, 'ref.log');
  ok(t, 'nncp-xfer -rx -keep', await runNncp('nncp-xfer', ['-cfg', bob.cfgPath, '-spool', refSpool, '-log', refLog, '-noprogress', '-rx', '-keep', medium]));

  const r = await runPigeon(['xfer', '-cfg', bob.cfgPath, '-noprogress', '-rx', medium]);
  ok(t, 'pigeon xfer -rx', r);
  t.deepEqual(listFiles(medium, { dirs: true }).filter((f) => !f.endsWith('/')), [], 'imported packets left the medium');

  // Same packets and hdr/ files, byte for byte.
  const ours = fileContents(path.join(bob.spool, alice.idB32));
  const theirs = fileContents(path.join(refSpool, alice.idB32));
  t.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
  for (const [k, v] of theirs) t.true(ours.get(k)!.equals(v), k);
  t.deepEqual(fs.readdirSync(path.join(bob.spool, 'tmp')), []);

  // Same log records, but for the time.
  const mine = records(bob.log, ['xfer-rx']).map(shape).sort();
  const ref = records(refLog, ['xfer-rx']).map(shape).sort();
  t.is(mine.length, 2);
  t.deepEqual(mine, ref);

  ok(t, 'nncp-toss', await runNncp('nncp-toss', ['-cfg', bob.cfgPath, '-quiet']));
  for (const [name, data] of Object.entries(sent)) t.true(fs.readFileSync(path.join(bob.incoming, name)).equals(data), name);
});

test('pigeon xfer -tx writes the medium nncp-xfer -tx writes; nncp-xfer -rx and nncp-toss take it from there (-mkdir, -keep)', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const { alice, bob, carol } = await makeNodes(dir, ['alice', 'bob', 'carol']);
  const toBob = await sendFiles(t, alice, bob, [
    { name: 'a.txt', size: 1000, nice: 'B' },
    { name: 'b.bin', size: 400_000, nice: 'N' },
  ]);
  await sendFiles(t, alice, carol, [{ name: 'c.txt', size: 10, nice: 'F' }]);

  // Same spool, two copies; each implementation writes its own medium.
  const refSpool = path.join(dir, 'alice-ref-spool');
  await copySpool(alice.spool, refSpool);
  const refMedium = path.join(dir, 'stick-ref');
  const medium = path.join(dir, 'stick');
  fs.mkdirSync(refMedium);
  fs.mkdirSync(medium);
  const refLog = path.join(dir, 'ref.log');
  ok(t, 'nncp-xfer -tx -keep', await runNncp('nncp-xfer', ['-cfg', alice.cfgPath, '-spool', refSpool, '-log', refLog, '-noprogress', '-tx', '-mkdir', '-keep', refMedium]));
  ok(t, 'pigeon xfer -tx -keep', await runPigeon(['xfer', '-cfg', alice.cfgPath, '-noprogress', '-tx', '-mkdir', '-keep', medium]));

  t.deepEqual(listFiles(medium, { dirs: true }), listFiles(refMedium, { dirs: true }), 'same directories and packets on the medium');
  const a = fileContents(medium);
  for (const [k, v] of fileContents(refMedium)) t.true(a.get(k)!.equals(v), k);
  t.is(a.size, 3);
  const modes = (root: string) => listFiles(root, { dirs: true }).map((f) => `${f} ${(fs.statSync(path.join(root, f)).mode & 0o7777).toString(8)}`);
  t.deepEqual(modes(medium), modes(refMedium), 'same file and directory modes');
  t.deepEqual(records(alice.log, ['xfer-tx']).map(shape).sort(), records(refLog, ['xfer-tx']).map(shape).sort(), 'same log records');
  t.deepEqual(listFiles(path.join(alice.spool, bob.idB32, 'tx'), { dirs: true }), listFiles(path.join(refSpool, bob.idB32, 'tx'), { dirs: true }), '-keep: tx/ kept as nncp-xfer keeps it');
  t.is(listFiles(path.join(alice.spool, bob.idB32, 'tx'), { dirs: true }).filter((f) => !f.includes('/')).length, 2);

  // Bob (the reference) reads pigeon's medium.
  ok(t, 'nncp-xfer -rx', await runNncp('nncp-xfer', ['-cfg', bob.cfgPath, '-quiet', '-rx', medium]));
  ok(t, 'nncp-toss', await runNncp('nncp-toss', ['-cfg', bob.cfgPath, '-quiet']));
  for (const [name, data] of Object.entries(toBob)) t.true(fs.readFileSync(path.join(bob.incoming, name)).equals(data), name);
  t.deepEqual(listFiles(path.join(medium, bob.idB32), { dirs: true }), [`${alice.idB32}/`], 'nncp-xfer -rx took the packets off');

  // Without -keep, both empty tx/ the same way (hdr/ files included).
  fs.mkdirSync(path.join(dir, 'stick2'));
  fs.mkdirSync(path.join(dir, 'stick-ref2'));
  ok(t, 'nncp-xfer -tx', await runNncp('nncp-xfer', ['-cfg', alice.cfgPath, '-spool', refSpool, '-log', refLog, '-quiet', '-tx', '-mkdir', path.join(dir, 'stick-ref2')]));
  ok(t, 'pigeon xfer -tx', await runPigeon(['xfer', '-cfg', alice.cfgPath, '-quiet', '-tx', '-mkdir', path.join(dir, 'stick2')]));
  for (const n of [bob, carol]) {
    t.deepEqual(listFiles(path.join(alice.spool, n.idB32), { dirs: true }), listFiles(path.join(refSpool, n.idB32), { dirs: true }), `${n.name}: same spool left behind`);
    t.deepEqual(listFiles(path.join(alice.spool, n.idB32, 'tx'), { dirs: true }), ['hdr/']);
  }
  t.deepEqual(listFiles(path.join(dir, 'stick2'), { dirs: true }), listFiles(path.join(dir, 'stick-ref2'), { dirs: true }));
});

test('the sneakernet round: nncp-toss -seen marks a packet; a second pigeon xfer -rx of the same stick skips it and cleans the stick', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob']);
  const sent = await sendFiles(t, alice, bob, [{ name: 'once.txt', size: 2000, nice: 'N' }]);
  const medium = path.join(dir, 'stick');
  fs.mkdirSync(medium);
  ok(t, 'nncp-xfer -tx -keep', await runNncp('nncp-xfer', ['-cfg', alice.cfgPath, '-quiet', '-tx', '-mkdir', '-keep', medium]));
  ok(t, 'pigeon xfer -rx -keep', await runPigeon(['xfer', '-cfg', bob.cfgPath, '-noprogress', '-rx', '-keep', medium]));
  ok(t, 'nncp-toss -seen', await runNncp('nncp-toss', ['-cfg', bob.cfgPath, '-quiet', '-seen']));
  t.true(fs.readFileSync(path.join(bob.incoming, 'once.txt')).equals(sent['once.txt']));
  const onStick = listFiles(medium, { dirs: true }).filter((f) => !f.endsWith('/'));
  t.is(onStick.length, 1, '-keep left it on the stick');

  const r = await runPigeon(['xfer', '-cfg', bob.cfgPath, '-noprogress', '-rx', medium]);
  ok(t, 'pigeon xfer -rx', r);
  t.regex(r.stderr, /packet already seen/);
  t.deepEqual(listFiles(medium, { dirs: true }).filter((f) => !f.endsWith('/')), [], 'a seen packet is removed from the stick');
  t.deepEqual(fs.readdirSync(path.join(bob.spool, alice.idB32, 'rx')).filter((f) => !['hdr', 'seen'].includes(f)), [], 'and not imported again');
  const rec = records(bob.log, ['xfer-rx-seen']);
  t.is(rec.length, 1);
  t.deepEqual([...rec[0].fields.keys()], ['When', 'Who', 'XX', 'Dir', 'Node', 'File', 'Msg']);
});
