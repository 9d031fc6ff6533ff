/**
 * Sharing a spool with the reference (nncp-* 8.8.2): its packets listed by
 * pigeon, pigeon's hdr/ files byte-equal to its own, pigeon's commits and
 * seen/ markers understood by it, and locks excluding each other both ways.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PigeonError } from '../src/errors.js';
import { ENC_HEADER_SIZE } from '../src/packet/header.js';
import { lockDir } from '../src/spool/lock.js';
import { Spool } from '../src/spool/spool.js';
import { makeNodes } from './helpers/nncp.js';
import { asText, packetIds, poll, requireNncp, runNncp, tmpDir } from './helpers/util.js';

interface Pair {
  a: { id: string; cfg: string; spool: string };
  b: { id: string; cfg: string; spool: string; incoming: string };
}

/** alice and bob, reference-made keys, knowing each other; `exec` handles are allowed for neighbours. */
async function makePair(root: string, exec?: Record<string, string[]>): Promise<Pair> {
  const { alice, bob } = await makeNodes(root, ['alice', 'bob'], exec ? { exec } : {});
  return {
    a: { id: alice.idB32, cfg: alice.cfgPath, spool: alice.spool },
    b: { id: bob.idB32, cfg: bob.cfgPath, spool: bob.spool, incoming: bob.incoming },
  };
}

/** A reference command, stdout as text. */
const nncp = async (bin: string, args: string[], input?: string) => asText(await runNncp(bin, args, { input }));

// ---- tests ----

test('packets queued by nncp-file are listed with their nice, sender and size; pigeon rewrites hdr/ files byte-for-byte', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const { a, b } = await makePair(root);
  const src = path.join(root, 'payload');
  fs.writeFileSync(src, randomBytes(3000));
  for (const nice of ['32', '64', '224']) {
    const r = await nncp('file', ['-cfg', a.cfg, '-quiet', '-nice', nice, src, `bob:f${nice}`]);
    t.is(r.code, 0, r.stderr);
  }
  const tx = path.join(a.spool, b.id, 'tx');
  const ids = packetIds(tx);
  t.is(ids.length, 3);
  const refHdrs = new Map(ids.map((id) => [id, fs.readFileSync(path.join(tx, 'hdr', id))]));
  fs.rmSync(path.join(tx, 'hdr'), { recursive: true });

  const spool = new Spool({ root: a.spool });
  const jobs = await spool.list(b.id, 'tx');
  t.deepEqual(jobs.map((j) => j.nice), [32, 64, 224]);
  t.deepEqual(jobs.map((j) => j.id).sort(), ids);
  for (const j of jobs) {
    t.is(j.sender, a.id);
    t.is(j.recipient, b.id);
    t.is(j.size, fs.statSync(path.join(tx, j.id)).size);
    t.deepEqual(Buffer.from(j.headerRaw), refHdrs.get(j.id));
    t.deepEqual(fs.readFileSync(path.join(tx, 'hdr', j.id)), refHdrs.get(j.id), 'pigeon hdr/ file equals the one nncp-file wrote');
  }
  t.deepEqual(fs.readdirSync(path.join(a.spool, 'tmp')), []);
  t.deepEqual((await spool.list(b.id, 'tx', { nice: 64 })).map((j) => j.nice), [32, 64]);

  // the reference reads the spool pigeon touched
  const stat = await nncp('stat', ['-cfg', a.cfg, '-pkt']);
  t.is(stat.code, 0, stat.stderr);
  for (const id of ids) t.true(stat.stdout.includes(`tx ${id}`), stat.stdout);

  // the reference's neighbour link has the form linkNeighbour makes
  t.is(fs.readlinkSync(path.join(a.spool, 'bob')), spool.nodeDir(b.id));
});

test('a packet committed into rx by pigeon is tossed by nncp-toss; a pigeon seen/ marker makes nncp-xfer skip the packet', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const { a, b } = await makePair(root);
  const xdir = path.join(root, 'xfer');
  fs.mkdirSync(xdir);
  const src = path.join(root, 'hello.txt');
  fs.writeFileSync(src, 'hello from alice\n');
  t.is((await nncp('file', ['-cfg', a.cfg, '-quiet', src, 'bob:'])).code, 0);
  t.is((await nncp('xfer', ['-cfg', a.cfg, '-quiet', '-tx', '-mkdir', xdir])).code, 0);
  const outDir = path.join(xdir, b.id, a.id);
  const [id] = packetIds(outDir);
  t.truthy(id);

  // pigeon does what nncp-xfer -rx would: stream the packet into bob's rx/ under its id
  const spoolB = new Spool({ root: b.spool });
  const tmp = await spoolB.tmpFile();
  for await (const chunk of fs.createReadStream(path.join(outDir, id), { highWaterMark: 64 })) {
    await tmp.write(chunk as Buffer);
  }
  const full = fs.readFileSync(path.join(outDir, id));
  await spoolB.commitPacket(tmp, a.id, 'rx', id, full.subarray(0, ENC_HEADER_SIZE));
  t.deepEqual(packetIds(path.join(b.spool, a.id, 'rx')), [id]);
  t.deepEqual(fs.readFileSync(path.join(b.spool, a.id, 'rx', id)), full);

  const toss = await nncp('toss', ['-cfg', b.cfg, '-quiet']);
  t.is(toss.code, 0, toss.stderr);
  t.is(fs.readFileSync(path.join(b.incoming, 'hello.txt'), 'utf8'), 'hello from alice\n');
  t.deepEqual(packetIds(path.join(b.spool, a.id, 'rx')), []);
  t.deepEqual(packetIds(path.join(b.spool, a.id, 'rx', 'hdr')), [], 'nncp-toss removed the hdr/ file pigeon wrote');

  // seen/ marker written by pigeon
  fs.writeFileSync(src, 'second\n');
  t.is((await nncp('file', ['-cfg', a.cfg, '-quiet', src, 'bob:second.txt'])).code, 0);
  fs.rmSync(path.join(outDir, id));
  t.is((await nncp('xfer', ['-cfg', a.cfg, '-quiet', '-tx', xdir])).code, 0);
  const [id2] = packetIds(outDir);
  t.truthy(id2);
  await spoolB.markSeen(a.id, id2);
  const rx = await nncp('xfer', ['-cfg', b.cfg, '-rx', xdir]);
  t.is(rx.code, 0, rx.stderr);
  t.regex(rx.stderr, /packet already seen/);
  t.deepEqual(packetIds(path.join(b.spool, a.id, 'rx')), []);
  t.true(await spoolB.isSeen(a.id, id2));
});

test('pigeon locks stop nncp-xfer -tx (tx.lock) and nncp-toss (toss.lock)', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const { a, b } = await makePair(root);
  const xdir = path.join(root, 'xfer');
  fs.mkdirSync(xdir);
  const src = path.join(root, 'data.bin');
  fs.writeFileSync(src, randomBytes(1000));
  t.is((await nncp('file', ['-cfg', a.cfg, '-quiet', src, 'bob:'])).code, 0);

  const txLock = await lockDir(a.spool, b.id, 'tx');
  const blocked = await nncp('xfer', ['-cfg', a.cfg, '-tx', '-mkdir', xdir]);
  t.true(blocked.stderr.includes(`Locking directory: locking ${path.join(a.spool, b.id, 'tx.lock')}`), blocked.stderr);
  t.deepEqual(packetIds(path.join(xdir, b.id, a.id)), []);
  t.is(packetIds(path.join(a.spool, b.id, 'tx')).length, 1);
  txLock.release();
  t.is((await nncp('xfer', ['-cfg', a.cfg, '-quiet', '-tx', '-mkdir', xdir])).code, 0);
  t.is(packetIds(path.join(xdir, b.id, a.id)).length, 1);
  t.is((await nncp('xfer', ['-cfg', b.cfg, '-quiet', '-rx', xdir])).code, 0);
  t.is(packetIds(path.join(b.spool, a.id, 'rx')).length, 1);

  const tossLock = await lockDir(b.spool, a.id, 'toss');
  const refused = await nncp('toss', ['-cfg', b.cfg]);
  t.true(refused.stderr.includes(`Locking directory: locking ${path.join(b.spool, a.id, 'toss.lock')}`), refused.stderr);
  t.is(packetIds(path.join(b.spool, a.id, 'rx')).length, 1);
  t.false(fs.existsSync(path.join(b.incoming, 'data.bin')));
  tossLock.release();
  const toss = await nncp('toss', ['-cfg', b.cfg, '-quiet']);
  t.is(toss.code, 0, toss.stderr);
  t.deepEqual(fs.readFileSync(path.join(b.incoming, 'data.bin')), fs.readFileSync(src));
});

test('a toss.lock held by a running nncp-toss makes pigeon refuse with ELOCKED', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const started = path.join(root, 'STARTED');
  const go = path.join(root, 'GO');
  const { a, b } = await makePair(root, {
    slow: ['/bin/sh', '-c', `touch '${started}'; while [ ! -e '${go}' ]; do sleep 0.05; done`],
  });
  const xdir = path.join(root, 'xfer');
  fs.mkdirSync(xdir);
  t.is((await nncp('exec', ['-cfg', a.cfg, '-quiet', 'bob', 'slow'], 'x')).code, 0);
  t.is((await nncp('xfer', ['-cfg', a.cfg, '-quiet', '-tx', '-mkdir', xdir])).code, 0);
  t.is((await nncp('xfer', ['-cfg', b.cfg, '-quiet', '-rx', xdir])).code, 0);

  const tossDone = runNncp('toss', ['-cfg', b.cfg, '-quiet'], { timeout: 20_000 });
  t.teardown(() => fs.writeFileSync(go, ''));
  t.true(await poll(() => fs.existsSync(started)), 'nncp-toss started the exec handle');

  const err = await t.throwsAsync(lockDir(b.spool, a.id, 'toss'), { instanceOf: PigeonError });
  t.is((err as PigeonError).code, 'ELOCKED');
  t.is(err?.message, `${path.join(b.spool, a.id, 'toss.lock')} is locked by another process (nncp or pigeon); try again when it finishes`);

  fs.writeFileSync(go, '');
  t.is((await tossDone).code, 0);
  const lock = await lockDir(b.spool, a.id, 'toss');
  lock.release();
});
