/**
 * Issue 9, items 5 and 6: a packet whose stream fails verification is
 * quarantined (rx/quarantine/), an exec handle fed from it is killed with
 * its whole process group instead of seeing the end of its input, the next
 * toss does nothing with it; stat, check and rm know the quarantine; the
 * reference's toss, stat, check and rm work on a spool holding quarantined
 * packets and delivery records. And a file name too long for its `.N`
 * suffix is shortened to fit.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { findNode } from '../src/config/types.js';
import { errorLine } from '../src/errors.js';
import { PktType } from '../src/packet/header.js';
import { NAME_MAX, suffixedName, TmpFile } from '../src/spool/atomic.js';
import { writeDelivery } from '../src/spool/delivery.js';
import { tossAll } from '../src/toss/toss.js';
import { txExec } from '../src/tx/exec.js';
import { lab as makeLab, type Lab } from './helpers/nncp.js';
import { carry, plainOf, sendPacket } from './helpers/packets.js';
import { listFiles, logRecords, packetIds, requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const lab = (t: ExecutionContext, names: string[]): Promise<Lab> => makeLab(t, names, { exec: { sh: ['/bin/sh', '-c'] } });

/**
 * A handle whose reader is a grandchild holding the pipe on fd 3: it writes
 * `mark` only after seeing the end of its input. Killing the handle alone
 * (not its group) would let it see that end once the pipe closes.
 */
function markingScript(dir: string): string {
  return `exec 3<&0; sh -c "cat <&3 > ${dir}/out; echo EOF > ${dir}/mark" & wait`;
}

function flip(file: string, offset: number): void {
  const b = fs.readFileSync(file);
  b[offset] ^= 1;
  fs.writeFileSync(file, b);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function quarantined(t: ExecutionContext, l: Lab, id: string, rxPath: string): Promise<void> {
  await sleep(300); // a survivor of the kill would have written its mark by now
  t.false(fs.existsSync(path.join(l.dir, 'mark')), 'the handle never saw the end of its input');
  t.false(fs.existsSync(rxPath), 'out of rx/');
  t.true(fs.existsSync(l.ctx.bob.spool.quarantinePath(l.nodes.alice.idB32, id)), 'in rx/quarantine/');
  const recs = logRecords(l.nodes.bob.log).filter((r) => r.fields.get('Pkt') === id);
  t.deepEqual(
    recs.map((r) => r.who),
    ['rx-handle', 'rx-quarantine'],
  );
  // the next toss (as every -cycle round) leaves it alone
  t.deepEqual(await tossAll(l.ctx.bob), { ok: true, tossed: 0, failed: 0 });
  t.false(fs.existsSync(path.join(l.dir, 'mark')));
  t.is(logRecords(l.nodes.bob.log).filter((r) => r.fields.get('Pkt') === id).length, 2);
}

test('exec-fat whose block 2 fails authentication: the handle group is killed (no EOF), the packet quarantined, the next toss does nothing', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0${markingScript(l.dir)}`), randomBytes(600_000));
  flip(p.rxPath, 172 + 128 * 1024 + 16 + 1000); // inside the second block
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: false, tossed: 0, failed: 1 });
  t.regex(logRecords(l.nodes.bob.log).find((x) => x.who === 'rx-handle')!.fields.get('Err')!, /block 1 fails authentication/);
  await quarantined(t, l, p.id, p.rxPath);
});

test('exec-fat whose block 20 fails authentication, the handle running by then: its group is killed, it never sees the end', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0${markingScript(l.dir)}`), randomBytes(3_000_000));
  flip(p.rxPath, 172 + 20 * (128 * 1024 + 16) + 1000);
  t.deepEqual(await tossAll(l.ctx.bob), { ok: false, tossed: 0, failed: 1 });
  t.regex(logRecords(l.nodes.bob.log).find((x) => x.who === 'rx-handle')!.fields.get('Err')!, /block 20 fails authentication/);
  await quarantined(t, l, p.id, p.rxPath);
});

test('exec (zstd) with bytes appended: the handle gets all but the last block, never the end; killed, quarantined', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const res = await txExec(l.ctx.alice, {
    to: findNode(l.ctx.alice.cfg, 'bob'),
    handle: 'sh',
    args: [markingScript(l.dir)],
    nice: 96,
    replyNice: 96,
    input: (async function* () {
      yield randomBytes(600_000); // several blocks: the handle is running when the last one (glued to the junk) fails
    })(),
  });
  const rxPath = carry(l, 'alice', l.nodes.bob.idB32, res.pktId);
  fs.appendFileSync(rxPath, 'trailing junk');
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: false, tossed: 0, failed: 1 });
  t.regex(logRecords(l.nodes.bob.log).find((x) => x.who === 'rx-handle')!.fields.get('Err')!, /fails authentication|unexpected bytes after the end/);
  await quarantined(t, l, res.pktId, rxPath);
});

test('stat lists quarantined packets, check reports them, rm -quarantine removes them; a dry run quarantines nothing', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.bin'), randomBytes(300_000));
  fs.truncateSync(p.rxPath, 200_000);
  t.deepEqual(await tossAll(l.ctx.bob, { dryRun: true }), { ok: false, tossed: 0, failed: 1 });
  t.true(fs.existsSync(p.rxPath), 'dry run: kept');
  await tossAll(l.ctx.bob);
  const q = l.ctx.bob.spool.quarantinePath(l.nodes.alice.idB32, p.id);
  t.true(fs.existsSync(q));
  const cfg = ['-cfg', l.nodes.bob.cfgPath];
  const st = await runPigeon(['stat', ...cfg, '-pkt', '-node', 'alice']);
  t.is(st.code, 0, st.stderr);
  t.is(st.stdout.toString(), `alice\n\tquarantine ${p.id} 195 KiB\n\tquarantine:    195 KiB,   1 pkts (failed verification; pigeon rm -quarantine removes them)\n`);
  const ck = await runPigeon(['check', '-quiet', ...cfg]);
  t.is(ck.code, 1);
  const rec = logRecords(l.nodes.bob.log).find((r) => r.who === 'checking')!;
  t.is(rec.fields.get('XX'), 'quarantine');
  t.is(rec.fields.get('Pkt'), p.id);
  const rm = await runPigeon(['rm', '-quiet', ...cfg, '-node', 'alice', '-quarantine']);
  t.is(rm.code, 0, rm.stderr);
  t.false(fs.existsSync(q));
  t.is((await runPigeon(['check', '-quiet', ...cfg])).code, 0);
  t.is((await runPigeon(['stat', ...cfg, '-node', 'alice'])).stdout.toString(), 'alice\n');
});

test('the reference tosses, lists, checks and cleans a spool holding quarantined packets and delivery records', async (t) => {
  if (!requireNncp(t)) return;
  const l = await lab(t, ['alice', 'bob']);
  const bad = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'bad.bin'), randomBytes(300_000));
  flip(bad.rxPath, 200_000);
  await tossAll(l.ctx.bob);
  t.true(fs.existsSync(l.ctx.bob.spool.quarantinePath(l.nodes.alice.idB32, bad.id)));
  const good = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'good.txt'), new TextEncoder().encode('good'));
  // a record as a killed exec would leave it, beside the good packet
  await writeDelivery(l.ctx.bob.spool, l.nodes.alice.idB32, good.id, { kind: 'exec', state: 'started' }, 'full');
  const cfg = ['-cfg', l.nodes.bob.cfgPath];
  const st = await runNncp('nncp-stat', [...cfg, '-pkt']);
  t.is(st.code, 0, st.stderr);
  t.true(st.stdout.toString().includes(`\trx ${good.id} `));
  t.false(st.stdout.toString().includes(bad.id));
  const ck = await runNncp('nncp-check', [...cfg]);
  t.is(ck.code, 0, ck.stderr);
  const ts = await runNncp('nncp-toss', [...cfg]);
  t.is(ts.code, 0, ts.stderr);
  t.deepEqual(listFiles(l.nodes.bob.incoming), ['good.txt']);
  t.deepEqual(packetIds(l.ctx.bob.spool.queueDir(l.nodes.alice.idB32, 'rx')), []);
  const rm = await runNncp('nncp-rm', [...cfg, '-all', '-rx']);
  t.is(rm.code, 0, rm.stderr);
  t.true(fs.existsSync(l.ctx.bob.spool.quarantinePath(l.nodes.alice.idB32, bad.id)), 'nncp-rm -rx leaves rx/quarantine/ alone');
  // and pigeon's next toss sweeps the record the reference left behind
  t.deepEqual(await tossAll(l.ctx.bob), { ok: true, tossed: 0, failed: 0 });
  t.deepEqual(listFiles(l.ctx.bob.spool.deliveryDir(l.nodes.alice.idB32)), []);
});

// ---------------------------------------------------------------- item 6: long names

test('suffixedName keeps the suffix and the extension, cuts whole UTF-8 characters only', (t) => {
  t.is(suffixedName('a.txt', '.0'), 'a.txt.0');
  const long = 'é'.repeat(125) + 'x.txt'; // 250 + 1 + 4 = 255 bytes
  const s = suffixedName(long, '.12');
  t.true(Buffer.byteLength(s) <= NAME_MAX);
  t.true(s.endsWith('.txt.12'));
  t.is(Buffer.from(s).toString('utf8'), s, 'valid UTF-8');
  t.true(long.startsWith(s.slice(0, -'.txt.12'.length)));
  const noExt = '€'.repeat(85); // 255 bytes
  const n = suffixedName(noExt, '.0');
  t.is(n, '€'.repeat(84) + '.0');
  const hugeExt = 'a.' + 'b'.repeat(252);
  t.is(Buffer.byteLength(suffixedName(hugeExt, '.0')), NAME_MAX);
});

test('file: a 255-byte name delivered three times: NAME, then shortened NAME.0 and NAME.1 that fit, extension kept', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const name = 'ü'.repeat(125) + 'z.gz'; // 254 bytes: NAME.0 would be 256
  t.is(Buffer.byteLength(name), 254);
  for (let i = 0; i < 3; i++) await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, name), new TextEncoder().encode(String(i)));
  t.deepEqual(await tossAll(l.ctx.bob), { ok: true, tossed: 3, failed: 0 });
  const got = fs.readdirSync(l.nodes.bob.incoming).sort();
  t.is(got.length, 3);
  t.true(got.includes(name));
  for (const n of got) {
    t.true(Buffer.byteLength(n) <= NAME_MAX, n);
    t.true(n === name || /\.gz\.[01]$/.test(n), n);
  }
  t.deepEqual(got.map((n) => fs.readFileSync(path.join(l.nodes.bob.incoming, n), 'utf8')).sort(), ['0', '1', '2']);
});

test('a failure to place a file names the destination, not the temporary file', async (t) => {
  const dir = await tmpDir(t);
  const tmp = await TmpFile.create(dir, { prefix: '.pigeon-tmp-x.' });
  await tmp.write(new Uint8Array([1, 2, 3]));
  const err = await t.throwsAsync(tmp.commitNoClobber(path.join(dir, 'gone'), 'f.bin'));
  const line = errorLine(err);
  t.true(line.includes(path.join(dir, 'gone', 'f.bin')), line);
  t.false(line.includes('.pigeon-tmp-'), line);
  t.deepEqual(fs.readdirSync(dir), [], 'temporary file removed');
});
