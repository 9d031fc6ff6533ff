/**
 * xfer's window of packets in flight (issue 11): many packets through
 * -tx and -rx at once, in the order a one-by-one run would report them;
 * the bounded window (inWindow); shared directory fsyncs (DirSyncGroup):
 * a caller is served only by an fsync that began after it asked. (Tests
 * that set NNCPNOSYNC run serially.)
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { DirSyncGroup } from '../src/spool/atomic.js';
import { ENC_HEADER_SIZE } from '../src/packet/header.js';
import { inOrderFrom, inWindow } from '../src/xfer/medium.js';
import { xferRx, xferTx } from '../src/xfer/xfer.js';
import { capturingContext, makeNodes } from './helpers/nncp.js';
import { fakePacket } from './helpers/packets.js';
import { listFiles, tmpDir } from './helpers/util.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('inWindow runs every item, never more than the width at once, started in order; stop() starts no more', async (t) => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  let running = 0;
  let peak = 0;
  const started: number[] = [];
  await inWindow(items, 7, async (i) => {
    started.push(i);
    running++;
    peak = Math.max(peak, running);
    for (let k = 0; k < (i % 5) + 1; k++) await tick();
    running--;
  });
  t.deepEqual(started, items);
  t.is(peak, 7);
  t.is(running, 0);

  const done: number[] = [];
  await inWindow(items, 4, async (i) => {
    await tick();
    done.push(i);
  }, () => done.length >= 10);
  t.true(done.length >= 10 && done.length < 10 + 4, `${done.length} finished: only those started before stop() said so`);

  await t.throwsAsync(inWindow(items, 3, async (i) => {
    await tick();
    if (i === 5) throw new Error('five');
  }), { message: 'five' });
});

test('inOrderFrom puts what a window finished back in the order it was started, leaving the head alone', (t) => {
  const list = ['z', 'c', 'a', 'b'];
  inOrderFrom(list, 1, ['a', 'b', 'c']);
  t.deepEqual(list, ['z', 'a', 'b', 'c']);
});

test('inOrderFrom takes a medium of 300,000 packets (no spread arguments to overflow the stack)', (t) => {
  const order = Array.from({ length: 300_000 }, (_, i) => `p${i}`);
  const list = ['head', ...[...order].reverse()];
  inOrderFrom(list, 1, order);
  t.is(list.length, 300_001);
  t.is(list[0], 'head');
  t.deepEqual(list.slice(1), order);
});

test.serial('DirSyncGroup: callers during a running fsync share the next one, which starts after it ends', async (t) => {
  const dir = await tmpDir(t);
  const saved = process.env.NNCPNOSYNC;
  delete process.env.NNCPNOSYNC;
  t.teardown(() => {
    if (saved !== undefined) process.env.NNCPNOSYNC = saved;
  });
  const opened: string[] = [];
  const openSync = fs.openSync;
  // Count the fsyncs by the opens of the directory they make (fsyncPath: open, fsync on the pool, close).
  (fs as { openSync: typeof fs.openSync }).openSync = ((p: fs.PathLike, ...rest: unknown[]) => {
    if (String(p) === dir) opened.push(String(p));
    return (openSync as (...a: unknown[]) => number)(p, ...rest);
  }) as typeof fs.openSync;
  t.teardown(() => {
    (fs as { openSync: typeof fs.openSync }).openSync = openSync;
  });
  const g = new DirSyncGroup();
  const first = g.sync(dir);
  t.is(opened.length, 1, 'the first caller starts an fsync at once');
  const later = Array.from({ length: 10 }, () => g.sync(dir));
  t.is(opened.length, 1, 'callers while it runs do not start their own');
  t.is(new Set(later).size, 1, 'they all wait for the same next fsync');
  await first;
  await Promise.all(later);
  t.is(opened.length, 2, 'eleven callers, two fsyncs');
  await g.sync(dir);
  t.is(opened.length, 3, 'a caller after everything settled gets an fsync of its own');

  const off = new DirSyncGroup(true);
  await off.sync(dir);
  t.is(opened.length, 3, 'noSync: no fsync');
  await t.throwsAsync(g.sync(path.join(dir, 'missing')), { code: 'ENOENT' });
});

for (const sync of [true, false]) {
  test.serial(`-tx then -rx of 60 packets through the window, ${sync ? 'fsync on' : 'NNCPNOSYNC'}: all carried once, reported in queue order`, async (t) => {
    const saved = process.env.NNCPNOSYNC;
    if (sync) delete process.env.NNCPNOSYNC;
    else process.env.NNCPNOSYNC = '1';
    t.teardown(() => {
      if (saved === undefined) delete process.env.NNCPNOSYNC;
      else process.env.NNCPNOSYNC = saved;
    });
    const dir = await tmpDir(t);
    const { alice: a, bob: b } = await makeNodes(dir, ['alice', 'bob'], { generator: 'pigeon' });
    const txDir = path.join(a.spool, b.idB32, 'tx');
    fs.mkdirSync(path.join(txDir, 'hdr'), { recursive: true });
    // Mixed sizes and two nicenesses: -tx carries the nicest first, then by id.
    const nices = new Map<string, number>();
    const pkts = Array.from({ length: 60 }, (_, i) => {
      const n = i % 3 === 0 ? 64 : 224;
      const p = fakePacket(a.idB32, b.idB32, n, i % 10 === 0 ? 200_000 : 900 + i);
      nices.set(p.id, n);
      return p;
    });
    for (const p of pkts) {
      fs.writeFileSync(path.join(txDir, p.id), p.data);
      fs.writeFileSync(path.join(txDir, 'hdr', p.id), p.data.subarray(0, ENC_HEADER_SIZE));
    }
    const medium = path.join(dir, 'stick');
    fs.mkdirSync(medium);
    // A stale .part of one packet (left by the reference) goes once the packet is carried.
    const stale = path.join(medium, b.idB32, a.idB32, `${pkts[7].id}.part`);
    fs.mkdirSync(path.dirname(stale), { recursive: true });
    fs.writeFileSync(stale, 'partial');
    const ctxA = (await capturingContext(a.cfgPath)).ctx;
    const ctxB = (await capturingContext(b.cfgPath)).ctx;

    const tx = await xferTx(ctxA, { dir: medium, mkdir: true });
    t.true(tx.ok);
    const byQueue = [...pkts].sort((x, y) => nices.get(x.id)! - nices.get(y.id)! || (x.id < y.id ? -1 : 1));
    t.deepEqual(tx.packets, byQueue.map((p) => p.id), 'reported in queue order (niceness, then id)');
    t.deepEqual(listFiles(medium), pkts.map((p) => path.join(b.idB32, a.idB32, p.id)).sort(), 'every packet, nothing else (no .part, no temporary file)');
    for (const p of pkts) t.true(fs.readFileSync(path.join(medium, b.idB32, a.idB32, p.id)).equals(p.data));
    t.deepEqual(fs.readdirSync(txDir).filter((n) => n !== 'hdr'), [], 'dequeued');

    const rx = await xferRx(ctxB, { dir: medium });
    t.true(rx.ok);
    t.deepEqual(rx.packets, pkts.map((p) => p.id).sort(), 'reported in the medium\'s (name) order');
    const rxDir = path.join(b.spool, a.idB32, 'rx');
    for (const p of pkts) {
      t.true(fs.readFileSync(path.join(rxDir, p.id)).equals(p.data));
      t.true(fs.readFileSync(path.join(rxDir, 'hdr', p.id)).equals(p.data.subarray(0, ENC_HEADER_SIZE)));
    }
    t.deepEqual(listFiles(path.join(medium, b.idB32)), [], 'all off the medium');
    t.deepEqual(fs.readdirSync(path.join(b.spool, 'tmp')), [], 'no temporary file left in the spool');
  });
}
