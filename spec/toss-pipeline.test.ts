/**
 * The per-packet machinery of a toss of many small packets (issue 11):
 * the window that delivers several files at once while every other type
 * runs alone in queue order, delivery records written in place, the log
 * kept open across records (and following a rotation), and the decryptor's
 * tail reads of a small packet.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Logger, parseLog } from '../src/log/log.js';
import { PktType } from '../src/packet/header.js';
import { readDelivery, writeDelivery } from '../src/spool/delivery.js';
import { BlockReader } from '../src/stream/blockreader.js';
import { tossAll } from '../src/toss/toss.js';
import { TossWindow } from '../src/toss/window.js';
import { lab as makeLab, type Lab, type TestNode } from './helpers/nncp.js';
import { plainOf, sendPacket } from './helpers/packets.js';
import { listFiles, logRecords, tmpDir } from './helpers/util.js';

const enc = new TextEncoder();

const lab = (t: ExecutionContext, names: string[], edit?: (nodes: Record<string, TestNode>) => void): Promise<Lab> =>
  makeLab(t, names, { exec: { sh: ['/bin/sh', '-c'] }, edit });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

test('window: at most `size` tasks at once; the next starts when one ends', async (t) => {
  const w = new TossWindow(2);
  const gates = [deferred(), deferred(), deferred()];
  const started: number[] = [];
  const starting = gates.map((g, i) =>
    w.start(async () => {
      started.push(i);
      await g.promise;
    }),
  );
  await tick();
  t.deepEqual(started, [0, 1]);
  gates[1].resolve();
  await Promise.all(starting);
  t.deepEqual(started, [0, 1, 2]);
  gates[0].resolve();
  gates[2].resolve();
  await w.finish();
});

test('window: a task that asks to run alone waits for those before it, and holds back those after it', async (t) => {
  const w = new TossWindow(8);
  const events: string[] = [];
  const fileA = deferred();
  const execB = deferred();
  await w.start(async () => {
    events.push('A start');
    await fileA.promise;
    events.push('A end');
  });
  await w.start(async (alone) => {
    await alone();
    events.push('B start');
    await execB.promise;
    events.push('B end');
  });
  await tick();
  t.deepEqual(events, ['A start'], 'B waits for A');
  const startingC = w.start(async () => {
    events.push('C start');
  });
  fileA.resolve();
  await tick();
  t.deepEqual(events, ['A start', 'A end', 'B start'], 'C waits for B');
  execB.resolve();
  await startingC;
  await w.finish();
  t.deepEqual(events, ['A start', 'A end', 'B start', 'B end', 'C start']);
});

test('window: an error thrown by a task comes out of finish()', async (t) => {
  const w = new TossWindow(4);
  await w.start(async () => {
    throw new Error('boom');
  });
  await t.throwsAsync(() => w.finish(), { message: 'boom' });
});

test('toss: many small files delivered at once, exactly once each; execs run alone, in queue order, after every packet before them', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const bob = l.nodes.bob;
  const out = path.join(l.dir, 'exec-out');
  const early = 12;
  const late = 12;
  for (let i = 0; i < early; i++) await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, `early${i}`), enc.encode(`early ${i}\n`), 10);
  // Two execs between them (nice 50, 60): each counts what incoming/ holds when it runs.
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0echo a $(ls ${bob.incoming} | grep -c early) >> ${out}`), new Uint8Array(0), 50);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0echo b >> ${out}`), new Uint8Array(0), 60);
  for (let i = 0; i < late; i++) await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, `late${i}`), enc.encode(`late ${i}\n`), 100);
  const r = await tossAll(l.ctx.bob);
  t.true(r.ok);
  t.is(r.tossed, early + late + 2);
  t.deepEqual(fs.readFileSync(out, 'utf8'), `a ${early}\nb\n`, 'every earlier file was in place when the first exec ran; the second ran after it');
  const files = listFiles(bob.incoming).sort();
  t.is(files.length, early + late, 'no debris, no NAME.0');
  for (let i = 0; i < early; i++) t.is(fs.readFileSync(path.join(bob.incoming, `early${i}`), 'utf8'), `early ${i}\n`);
  for (let i = 0; i < late; i++) t.is(fs.readFileSync(path.join(bob.incoming, `late${i}`), 'utf8'), `late ${i}\n`);
  const rxDir = path.join(bob.spool, l.nodes.alice.idB32, 'rx');
  t.deepEqual(listFiles(rxDir), [], 'queue, hdr/ and delivery records all gone');
  const got = logRecords(bob.log).filter((x) => x.who === 'rx' && x.fields.get('Type') === 'file');
  t.is(got.length, early + late);
  // A second toss finds nothing to do and delivers nothing again.
  const again = await tossAll(l.ctx.bob);
  t.is(again.tossed, 0);
  t.is(listFiles(bob.incoming).length, early + late);
});

test('delivery record: a shorter record written over a longer one is read as itself', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const spool = l.ctx.bob.spool;
  const node = l.nodes.alice.idB32;
  const id = 'A'.repeat(52);
  await writeDelivery(spool, node, id, { kind: 'file', state: 'placing', dir: '/x/y', prefix: '.p', name: 'a-rather-long-name', tmp: '.p123', dev: 1, ino: 2, size: 3 }, 'ordered');
  t.is((await readDelivery(spool, node, id))?.state, 'placing');
  await writeDelivery(spool, node, id, { kind: 'file', state: 'writing', dir: '/x', prefix: '.p' }, 'none');
  t.deepEqual(await readDelivery(spool, node, id), { kind: 'file', state: 'writing', dir: '/x', prefix: '.p' });
  t.true(fs.readFileSync(spool.deliveryPath(node, id), 'utf8').length > JSON.stringify({ kind: 'file', state: 'writing', dir: '/x', prefix: '.p' }).length + 1, 'written in place: the tail of the longer one is still there');
  t.deepEqual(fs.existsSync(path.join(spool.root, 'tmp')) ? fs.readdirSync(path.join(spool.root, 'tmp')) : [], [], 'no temporary file in the spool');
  await writeDelivery(spool, node, id, { kind: 'exec', state: 'done' }, 'full');
  t.deepEqual(await readDelivery(spool, node, id), { kind: 'exec', state: 'done' });
});

test('log: kept open across records, it follows a rotated log and a replaced lock file', async (t) => {
  const dir = await tmpDir(t);
  const log = path.join(dir, 'log');
  const logger = new Logger({ path: log, quiet: true });
  t.teardown(() => logger.close());
  logger.info('one', [], 'first');
  fs.renameSync(log, log + '.1'); // logrotate
  logger.info('two', [], 'second');
  fs.rmSync(log + '.lock');
  logger.info('three', [], 'third');
  t.deepEqual(
    parseLog(fs.readFileSync(log + '.1', 'utf8')).map((r) => r.who),
    ['one'],
  );
  t.deepEqual(
    parseLog(fs.readFileSync(log, 'utf8')).map((r) => r.who),
    ['two', 'three'],
  );
  t.true(fs.existsSync(log + '.lock'), 'the lock file was made again');
  t.is(logger.lost, 0);
});

test('BlockReader: a short last chunk is handed out whole, without a block-sized buffer, and safe from the source reusing its buffer', async (t) => {
  const tail = new Uint8Array([1, 2, 3, 4, 5]);
  async function* src() {
    yield tail;
    tail.fill(9); // the source reuses its buffer once asked for more
  }
  const r = new BlockReader(src());
  const got = await r.read(1000);
  t.deepEqual([...got], [1, 2, 3, 4, 5]);
  t.true(got.buffer.byteLength < 1000, 'no buffer of the block size asked for');
  t.is(r.consumed, 5);
  t.true(await r.atEnd());
  // Spanning two chunks still assembles the block.
  async function* two() {
    yield new Uint8Array([1, 2]);
    yield new Uint8Array([3, 4, 5]);
  }
  const r2 = new BlockReader(two());
  t.deepEqual([...(await r2.read(4))], [1, 2, 3, 4]);
  t.deepEqual([...(await r2.read(4))], [5]);
});
