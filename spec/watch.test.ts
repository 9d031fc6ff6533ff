/**
 * `xfer -watch DIR` and `toss -watch`, run as processes (as systemd runs
 * them): a simulated synchroniser placing packets in DIR (under a temporary
 * name then renamed, Syncthing- and rclone-style; written slowly in place;
 * in a sub-directory that appears with it), packets queued while the
 * watcher runs, the reference reading what it exports and writing what it
 * imports, toss -watch delivering what lands in rx/, DIR removed and made
 * again, SIGTERM in the middle of a copy, kill -9 and a rerun.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { mthOfFile } from '../src/crypto/mth.js';
import { lab, type Lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { haveNncp, listFiles, ok, packetIds, poll, runNncp, runPigeon, startPigeon, until, type Started } from './helpers/util.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WAIT = 20_000;

interface Setup {
  l: Lab;
  stick: string;
}

async function setup(t: ExecutionContext, names = ['alice', 'bob']): Promise<Setup> {
  const l = await lab(t, names);
  const stick = path.join(l.dir, 'stick');
  fs.mkdirSync(stick);
  return { l, stick };
}

/** `pigeon xfer -watch` (or toss -watch) for node `who`, waiting until its watch is set up. */
async function watcher(t: ExecutionContext, s: Setup, who: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Started> {
  const p = startPigeon(t, [args[0], '-cfg', s.l.nodes[who].cfgPath, '-noprogress', '-watch', ...args.slice(1)], { env: { NNCPNOSYNC: '1', ...env } });
  await until(() => /Watching /.test(p.stderr()) || p.child.exitCode !== null, WAIT, () => `the watcher to start: ${p.stderr()}`);
  return p;
}

/** SIGTERM, and the exit code (within `ms`). */
async function stop(t: ExecutionContext, p: Started, ms = 10_000): Promise<number | null> {
  const began = Date.now();
  p.child.kill('SIGTERM');
  const code = await Promise.race([p.exited, sleep(ms).then(() => 'late' as const)]);
  t.not(code, 'late', `stopped within ${ms} ms of SIGTERM: ${p.stderr()}`);
  t.log(`stopped ${Date.now() - began} ms after SIGTERM`);
  return code === 'late' ? null : code;
}

/** Packet bytes queued by `from` for `to` (taken out of the queue, as the other machine's synchroniser would bring them). */
async function packetBytes(s: Setup, from: string, to: string, size: number, name: string): Promise<{ id: string; bytes: Buffer; data: Buffer }> {
  const q = await queueFile(s.l.ctx[from], to, name, size);
  const p = s.l.ctx[from].spool.packetPath(s.l.nodes[to].idB32, 'tx', q.id);
  const bytes = fs.readFileSync(p);
  fs.rmSync(p);
  fs.rmSync(s.l.ctx[from].spool.hdrPath(s.l.nodes[to].idB32, 'tx', q.id), { force: true });
  return { id: q.id, bytes, data: q.data };
}

function rxOf(s: Setup, who: string, from: string): string {
  return s.l.ctx[who].spool.queueDir(s.l.nodes[from].idB32, 'rx');
}

function txOf(s: Setup, who: string, to: string): string {
  return s.l.ctx[who].spool.queueDir(s.l.nodes[to].idB32, 'tx');
}

function noErrors(t: ExecutionContext, p: Started): void {
  t.notRegex(p.stderr(), /ERROR|mismatch|not valid/, 'nothing logged as an error or a bad packet');
}

test('xfer -watch -rx: synchroniser temp names renamed into place, a slow write in place, a new sub-directory; temp files ignored', async (t) => {
  const s = await setup(t);
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const w = await watcher(t, s, 'bob', ['xfer', '-rx', s.stick]);
  const a = await packetBytes(s, 'alice', 'bob', 70_000, 'a');
  const b = await packetBytes(s, 'alice', 'bob', 50_000, 'b');
  const c = await packetBytes(s, 'alice', 'bob', 300_000, 'c');
  // The sender directory appears only now (a new sub-directory), with a Syncthing temporary file in it.
  const dir = path.join(s.stick, bob.idB32, alice.idB32);
  fs.mkdirSync(dir, { recursive: true });
  const stTmp = path.join(dir, `.syncthing.${a.id}.tmp`);
  fs.writeFileSync(stTmp, a.bytes.subarray(0, 30_000));
  await sleep(100);
  fs.appendFileSync(stTmp, a.bytes.subarray(30_000));
  fs.renameSync(stTmp, path.join(dir, a.id));
  // rclone: NAME.<hex>.partial, renamed when done.
  const rcTmp = path.join(dir, `${b.id}.3f2a9c1b.partial`);
  fs.writeFileSync(rcTmp, b.bytes.subarray(0, 10_000));
  await sleep(50);
  fs.appendFileSync(rcTmp, b.bytes.subarray(10_000));
  fs.renameSync(rcTmp, path.join(dir, b.id));
  // Written in place under its final name, in pieces over about a second.
  const fd = fs.openSync(path.join(dir, c.id), 'w');
  for (let off = 0; off < c.bytes.length; off += 60_000) {
    fs.writeSync(fd, c.bytes.subarray(off, off + 60_000));
    await sleep(200);
  }
  fs.closeSync(fd);
  // Leftovers of synchronisers that never finish: never touched.
  const strays = [`.syncthing.${c.id}.tmp`, `${a.id}.partial`, '.stfolder', `~${b.id}`, `${c.id}.!sync`];
  for (const n of strays) fs.writeFileSync(path.join(dir, n), 'partial');

  await until(() => packetIds(rxOf(s, 'bob', 'alice')).length === 3, WAIT, () => `three packets in rx: ${w.stderr()}`);
  t.deepEqual(packetIds(rxOf(s, 'bob', 'alice')), [a.id, b.id, c.id].sort());
  for (const p of [a, b, c]) t.true(fs.readFileSync(path.join(rxOf(s, 'bob', 'alice'), p.id)).equals(p.bytes), 'imported intact');
  await until(() => fs.readdirSync(dir).every((n) => strays.includes(n)), WAIT, 'the imported packets to leave the medium');
  t.deepEqual(fs.readdirSync(dir).sort(), [...strays].sort(), 'temporary and partial files left alone');
  t.deepEqual(fs.readdirSync(s.l.ctx.bob.spool.tmpDir()), [], 'no temporary file left in the spool');
  t.is(await stop(t, w), 0);
  noErrors(t, w);
  t.regex(w.stderr(), /Stopped watching/);
});

test('xfer -watch -tx -mkdir: packets queued while it runs go to the medium at once; -keep keeps them queued', async (t) => {
  const s = await setup(t);
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const early = await queueFile(s.l.ctx.alice, 'bob', 'early', 10_000);
  const w = await watcher(t, s, 'alice', ['xfer', '-tx', '-mkdir', s.stick]);
  const dst = path.join(s.stick, bob.idB32, alice.idB32);
  await until(() => packetIds(dst).includes(early.id), WAIT, () => `the packet queued before the start on the medium: ${w.stderr()}`);
  const late = await queueFile(s.l.ctx.alice, 'bob', 'late', 600_000);
  await until(() => packetIds(dst).includes(late.id), WAIT, () => `the packet queued later on the medium: ${w.stderr()}`);
  await until(() => packetIds(txOf(s, 'alice', 'bob')).length === 0, WAIT, 'the queue to empty');
  t.deepEqual(fs.readdirSync(dst).sort(), [early.id, late.id].sort(), 'the packets, no temporary file');
  for (const id of [early.id, late.id]) t.is(base32Encode(await mthOfFile(path.join(dst, id))), id);
  t.is(await stop(t, w), 0);
  noErrors(t, w);

  // -keep: copied, still queued.
  const w2 = await watcher(t, s, 'alice', ['xfer', '-tx', '-keep', s.stick]);
  const kept = await queueFile(s.l.ctx.alice, 'bob', 'kept', 1000);
  await until(() => packetIds(dst).includes(kept.id), WAIT, () => `the -keep packet on the medium: ${w2.stderr()}`);
  t.deepEqual(packetIds(txOf(s, 'alice', 'bob')), [kept.id], 'still queued with -keep');
  t.is(await stop(t, w2), 0);
});

test('interop: nncp-xfer -rx reads what xfer -watch exports, xfer -watch imports what nncp-xfer -tx writes', async (t) => {
  if (!haveNncp()) return t.pass('reference not installed');
  const s = await setup(t);
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const w = await watcher(t, s, 'alice', ['xfer', '-mkdir', s.stick]); // -rx and -tx
  // alice -> bob: queued while watching, read by the reference.
  const q = await queueFile(s.l.ctx.alice, 'bob', 'to-bob.bin', 200_000);
  await until(() => packetIds(path.join(s.stick, bob.idB32, alice.idB32)).includes(q.id), WAIT, () => `export: ${w.stderr()}`);
  ok(t, 'nncp-xfer -rx', await runNncp('nncp-xfer', ['-cfg', bob.cfgPath, '-quiet', '-rx', s.stick]));
  ok(t, 'nncp-toss', await runNncp('nncp-toss', ['-cfg', bob.cfgPath, '-quiet']));
  t.true(fs.readFileSync(path.join(bob.incoming, 'to-bob.bin')).equals(q.data), 'the reference delivered it');
  // bob -> alice: written by nncp-xfer -tx (temporary file, rename) into the watched folder.
  const payload = path.join(s.l.dir, 'to-alice.bin');
  fs.writeFileSync(payload, Buffer.alloc(150_000, 7));
  ok(t, 'nncp-file', await runNncp('nncp-file', ['-cfg', bob.cfgPath, '-quiet', payload, 'alice:to-alice.bin']));
  const [sent] = packetIds(path.join(bob.spool, alice.idB32, 'tx'));
  ok(t, 'nncp-xfer -tx', await runNncp('nncp-xfer', ['-cfg', bob.cfgPath, '-quiet', '-tx', s.stick]));
  await until(() => packetIds(rxOf(s, 'alice', 'bob')).includes(sent), WAIT, () => `import: ${w.stderr()}`);
  await until(() => packetIds(path.join(s.stick, alice.idB32, bob.idB32)).length === 0, WAIT, 'the medium to be emptied');
  t.is(await stop(t, w), 0);
  noErrors(t, w);
  ok(t, 'pigeon toss', await runPigeon(['toss', '-cfg', alice.cfgPath, '-quiet']));
  t.true(fs.readFileSync(path.join(alice.incoming, 'to-alice.bin')).equals(Buffer.alloc(150_000, 7)));
});

test('toss -watch delivers packets as they land in rx (and takes the toss lock)', async (t) => {
  const s = await setup(t);
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const w = await watcher(t, s, 'bob', ['toss', '-seen']);
  const one = await queueFile(s.l.ctx.alice, 'bob', 'one.bin', 5000);
  const two = await queueFile(s.l.ctx.alice, 'bob', 'two.bin', 800_000);
  // They land by xfer (another process), as from a stick.
  ok(t, 'xfer -tx', await runPigeon(['xfer', '-cfg', alice.cfgPath, '-quiet', '-tx', '-mkdir', s.stick]));
  ok(t, 'xfer -rx', await runPigeon(['xfer', '-cfg', bob.cfgPath, '-quiet', '-rx', s.stick]));
  await until(() => fs.existsSync(path.join(bob.incoming, 'two.bin')) && fs.existsSync(path.join(bob.incoming, 'one.bin')), WAIT, () => `delivery: ${w.stderr()}`);
  t.true(fs.readFileSync(path.join(bob.incoming, 'one.bin')).equals(one.data));
  t.true(fs.readFileSync(path.join(bob.incoming, 'two.bin')).equals(two.data));
  await until(() => packetIds(rxOf(s, 'bob', 'alice')).length === 0, WAIT, 'rx to empty');
  t.deepEqual(packetIds(path.join(rxOf(s, 'bob', 'alice'), 'seen')), [one.id, two.id].sort(), '-seen markers');
  // A plain toss meanwhile finds the queue locked, or nothing to do: never a second delivery.
  ok(t, 'toss alongside', await runPigeon(['toss', '-cfg', bob.cfgPath, '-quiet']));
  t.deepEqual(fs.readdirSync(bob.incoming).sort(), ['one.bin', 'two.bin']);
  t.is(await stop(t, w), 0);
  noErrors(t, w);
});

test('xfer -watch: DIR removed and made again (a stick unplugged and back), packets imported and exported after its return', async (t) => {
  const s0 = await setup(t);
  const s = { ...s0, stick: path.join(s0.l.dir, 'media', 'usb') };
  fs.mkdirSync(s.stick, { recursive: true });
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const w = await watcher(t, s, 'bob', ['xfer', '-mkdir', s.stick]);
  // The first export makes DIR/<node>/bob for every neighbour (ourselves included, as xfer -tx -mkdir does).
  await until(() => [alice, bob].every((n) => fs.existsSync(path.join(s.stick, n.idB32, bob.idB32))), WAIT, 'the first export to make its directories');
  fs.rmSync(s.stick, { recursive: true, maxRetries: 5 });
  await until(() => /it is gone/.test(w.stderr()), WAIT, () => `the watcher to notice: ${w.stderr()}`);
  // Queued while the stick is away: waits for it.
  const out = await queueFile(s.l.ctx.bob, 'alice', 'out.bin', 2000);
  await sleep(300);
  t.deepEqual(packetIds(txOf(s, 'bob', 'alice')), [out.id], 'still queued while the medium is away');
  const inb = await packetBytes(s, 'alice', 'bob', 4000, 'in.bin');
  const dir = path.join(s.stick, bob.idB32, alice.idB32);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, inb.id), inb.bytes);
  await until(() => packetIds(rxOf(s, 'bob', 'alice')).includes(inb.id), WAIT, () => `import after the return: ${w.stderr()}`);
  await until(() => packetIds(path.join(s.stick, alice.idB32, bob.idB32)).includes(out.id), WAIT, () => `export after the return: ${w.stderr()}`);
  await until(() => packetIds(txOf(s, 'bob', 'alice')).length === 0, WAIT, 'dequeued');
  // Gone again, with its parent this time, and back.
  fs.rmSync(path.dirname(s.stick), { recursive: true });
  await until(() => (w.stderr().match(/it is gone/g) ?? []).length === 2, WAIT, 'the second removal to be noticed');
  const again = await packetBytes(s, 'alice', 'bob', 3000, 'again.bin');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, '.tmp'), again.bytes);
  fs.renameSync(path.join(dir, '.tmp'), path.join(dir, again.id));
  await until(() => packetIds(rxOf(s, 'bob', 'alice')).includes(again.id), WAIT, () => `import after the second return: ${w.stderr()}`);
  t.is(await stop(t, w), 0);
  noErrors(t, w);
});

test('SIGTERM during a large export stops promptly: the packet is queued or carried, never half-written', async (t) => {
  const s = await setup(t);
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const big = await queueFile(s.l.ctx.alice, 'bob', 'big.bin', 48 << 20);
  // Without NNCPNOSYNC the copy takes its time; SIGTERM as soon as the temporary file is there.
  const w = startPigeon(t, ['xfer', '-cfg', alice.cfgPath, '-noprogress', '-watch', '-tx', '-mkdir', s.stick], { env: { PIGEON_XFER_LINK: '0' } }); // a copy, as to a stick
  const dst = path.join(s.stick, bob.idB32, alice.idB32);
  await poll(() => fs.existsSync(dst) && fs.readdirSync(dst).some((n) => n.startsWith('nncpxfer')), WAIT, 2);
  t.is(await stop(t, w), 0);
  const onStick = fs.existsSync(dst) ? fs.readdirSync(dst) : [];
  t.deepEqual(
    onStick.filter((n) => n !== big.id),
    [],
    'no temporary file on the medium',
  );
  const queued = packetIds(txOf(s, 'alice', 'bob'));
  t.is(onStick.includes(big.id) ? 1 : 0, queued.length === 0 ? 1 : 0, 'either carried and dequeued, or still queued and not on the medium');
  if (onStick.includes(big.id)) t.is(base32Encode(await mthOfFile(path.join(dst, big.id))), big.id);
  t.deepEqual(fs.readdirSync(s.l.ctx.alice.spool.tmpDir()).length, 0);
  // A rerun finishes the job.
  const w2 = await watcher(t, s, 'alice', ['xfer', '-tx', '-mkdir', s.stick]);
  await until(() => packetIds(txOf(s, 'alice', 'bob')).length === 0, 60_000, () => `the rerun to carry it: ${w2.stderr()}`);
  t.deepEqual(fs.readdirSync(dst), [big.id]);
  t.is(await stop(t, w2), 0);
});

for (const point of ['xfer-tx-copying', 'xfer-tx-renamed', 'xfer-tx-dequeue']) {
  test(`kill -9 at ${point} under xfer -watch, rerun: carried exactly once, dequeued, no debris`, async (t) => {
    const s = await setup(t);
    const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
    const q = await queueFile(s.l.ctx.alice, 'bob', 'k.bin', (2 << 20) + 999);
    // Copied, as to a stick (a copy reaches every kill point; the linking ones are in xfer-crash.test.ts).
    const w = startPigeon(t, ['xfer', '-cfg', alice.cfgPath, '-noprogress', '-watch', '-tx', '-mkdir', s.stick], { env: { NNCPNOSYNC: '1', PIGEON_KILLPOINT: point, PIGEON_XFER_LINK: '0' } });
    await Promise.race([w.exited, sleep(WAIT)]);
    t.is(w.child.signalCode, 'SIGKILL', `killed at ${point}: ${w.stderr()}`);
    const w2 = await watcher(t, s, 'alice', ['xfer', '-tx', '-mkdir', s.stick]);
    await until(() => packetIds(txOf(s, 'alice', 'bob')).length === 0, WAIT, () => `the rerun: ${w2.stderr()}`);
    const dst = path.join(s.stick, bob.idB32, alice.idB32);
    await until(() => fs.readdirSync(dst).length === 1, WAIT, 'the medium to hold the packet alone');
    t.deepEqual(fs.readdirSync(dst), [q.id]);
    t.is(base32Encode(await mthOfFile(path.join(dst, q.id))), q.id);
    t.is(await stop(t, w2), 0);
    noErrors(t, w2);
    t.deepEqual(listFiles(path.join(alice.spool, bob.idB32, 'tx')), []);
  });
}

test('toss -watch waits while another toss holds the node, then tosses', async (t) => {
  const s = await setup(t);
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const w = await watcher(t, s, 'bob', ['toss']);
  // The watcher's own pass over the queue may hold the lock for a moment: take it once that ends.
  let lock: Awaited<ReturnType<typeof s.l.ctx.bob.spool.lock>> | undefined;
  await until(async () => {
    try {
      lock = await s.l.ctx.bob.spool.lock(alice.idB32, 'toss');
      return true;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ELOCKED') throw err;
      return false;
    }
  }, WAIT, 'the toss lock, free of the watcher\'s own pass');
  if (!lock) throw new Error('no lock');
  let held = true;
  t.teardown(() => held && lock!.release());
  const q = await queueFile(s.l.ctx.alice, 'bob', 'locked.bin', 3000);
  ok(t, 'xfer -tx', await runPigeon(['xfer', '-cfg', alice.cfgPath, '-quiet', '-tx', '-mkdir', s.stick]));
  ok(t, 'xfer -rx', await runPigeon(['xfer', '-cfg', bob.cfgPath, '-quiet', '-rx', s.stick]));
  await until(() => /another toss/.test(w.stderr()), WAIT, () => `the watcher to find the queue locked: ${w.stderr()}`);
  t.false(fs.existsSync(path.join(bob.incoming, 'locked.bin')), 'nothing tossed while the lock is held');
  t.deepEqual(packetIds(rxOf(s, 'bob', 'alice')), [q.id]);
  lock.release();
  held = false;
  await until(() => fs.existsSync(path.join(bob.incoming, 'locked.bin')), WAIT, () => `delivery once the lock is free: ${w.stderr()}`);
  t.true(fs.readFileSync(path.join(bob.incoming, 'locked.bin')).equals(q.data));
  t.is(await stop(t, w), 0);
});

test('SIGTERM while toss -watch writes a large file: nothing half-written, a rerun delivers it exactly once', async (t) => {
  const s = await setup(t);
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const w = await watcher(t, s, 'bob', ['toss'], { NNCPNOSYNC: '' });
  const big = await queueFile(s.l.ctx.alice, 'bob', 'big.bin', 48 << 20);
  ok(t, 'xfer -tx', await runPigeon(['xfer', '-cfg', alice.cfgPath, '-quiet', '-tx', '-mkdir', s.stick]));
  ok(t, 'xfer -rx', await runPigeon(['xfer', '-cfg', bob.cfgPath, '-quiet', '-rx', s.stick]));
  await poll(() => fs.readdirSync(bob.incoming).length > 0, WAIT, 2);
  t.is(await stop(t, w), 0);
  const names = fs.readdirSync(bob.incoming);
  t.deepEqual(
    names.filter((n) => n !== 'big.bin'),
    [],
    'no temporary file in incoming',
  );
  const queued = packetIds(rxOf(s, 'bob', 'alice'));
  t.is(names.length + queued.length, 1, 'either delivered and removed, or not delivered and still queued');
  ok(t, 'toss rerun', await runPigeon(['toss', '-cfg', bob.cfgPath, '-quiet']));
  t.deepEqual(fs.readdirSync(bob.incoming), ['big.bin'], 'delivered once');
  t.true(fs.readFileSync(path.join(bob.incoming, 'big.bin')).equals(big.data));
});

test('xfer -watch -tx without -mkdir: packets wait until DIR/<node> appears, then go', async (t) => {
  const s = await setup(t);
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const w = await watcher(t, s, 'alice', ['xfer', '-tx', s.stick]);
  const q = await queueFile(s.l.ctx.alice, 'bob', 'waits.bin', 2000);
  await sleep(500);
  t.deepEqual(fs.readdirSync(s.stick), [], 'nothing written while DIR/bob is missing');
  t.deepEqual(packetIds(txOf(s, 'alice', 'bob')), [q.id]);
  fs.mkdirSync(path.join(s.stick, bob.idB32));
  const dst = path.join(s.stick, bob.idB32, alice.idB32);
  await until(() => packetIds(dst).includes(q.id), WAIT, () => `export once DIR/bob exists: ${w.stderr()}`);
  await until(() => packetIds(txOf(s, 'alice', 'bob')).length === 0, WAIT, 'dequeued');
  t.is(await stop(t, w), 0);
  noErrors(t, w);
});

test('xfer -watch DIR where DIR is a symbolic link to the synced folder', async (t) => {
  const s0 = await setup(t);
  const link = path.join(s0.l.dir, 'sync-link');
  fs.symlinkSync(s0.stick, link);
  const s = { ...s0, stick: link };
  const [alice, bob] = [s.l.nodes.alice, s.l.nodes.bob];
  const w = await watcher(t, s, 'bob', ['xfer', '-rx', link]);
  const p = await packetBytes(s, 'alice', 'bob', 5000, 'via-link');
  const dir = path.join(s0.stick, bob.idB32, alice.idB32);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, '.part'), p.bytes);
  fs.renameSync(path.join(dir, '.part'), path.join(dir, p.id));
  await until(() => packetIds(rxOf(s, 'bob', 'alice')).includes(p.id), WAIT, () => `import through the link: ${w.stderr()}`);
  await until(() => packetIds(dir).length === 0, WAIT, 'removed from the folder');
  t.is(await stop(t, w), 0);
  noErrors(t, w);
});
