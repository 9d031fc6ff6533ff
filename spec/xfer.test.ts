/**
 * pigeon xfer on its own: the medium's layout, -mkdir/-keep/-node/-nice,
 * what -rx refuses to import (partial, garbage, foreign, tampered files),
 * seen/ packets, atomic appearance. Against the reference: xfer-interop.test.ts.
 *
 * Packets here are a real 172-byte encrypted header (sender, recipient,
 * niceness) followed by random bytes, named by their MTH: xfer never
 * decrypts, it checks names, headers and hashes.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { mthOfFile } from '../src/crypto/mth.js';
import { ENC_HEADER_SIZE } from '../src/packet/header.js';
import { TRASH_MIN_BYTES } from '../src/spool/trash.js';
import { xferRx, xferTx } from '../src/xfer/xfer.js';
import { capturingContext, makeNodes, type TestNode } from './helpers/nncp.js';
import { fakePacket } from './helpers/packets.js';
import { listFiles, logRecords, runPigeon, tmpDir } from './helpers/util.js';

/** Queue a fake packet in `from`'s tx queue for `to` (with its hdr/ file). */
function queue(from: TestNode, to: TestNode, nice: number, bodyLen = 1000): { id: string; data: Buffer } {
  const pkt = fakePacket(from.idB32, to.idB32, nice, bodyLen);
  const dir = path.join(from.spool, to.idB32, 'tx');
  fs.mkdirSync(path.join(dir, 'hdr'), { recursive: true });
  fs.writeFileSync(path.join(dir, pkt.id), pkt.data);
  fs.writeFileSync(path.join(dir, 'hdr', pkt.id), pkt.data.subarray(0, ENC_HEADER_SIZE));
  return pkt;
}

/** Put bytes on the medium as DIR/recipient/sender/name. */
function onMedium(dir: string, to: string, from: string, name: string, data: Uint8Array): string {
  const d = path.join(dir, to, from);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, name), data);
  return path.join(d, name);
}

/** alice, bob and carol, made in-process (xfer needs ids and a valid configuration, no crypto). */
async function nodes(t: ExecutionContext): Promise<{ dir: string; a: TestNode; b: TestNode; c: TestNode }> {
  const dir = await tmpDir(t);
  const { alice, bob, carol } = await makeNodes(dir, ['alice', 'bob', 'carol'], { generator: 'pigeon' });
  return { dir, a: alice, b: bob, c: carol };
}

const px = (node: TestNode, ...args: string[]) => runPigeon(['xfer', '-cfg', node.cfgPath, '-noprogress', ...args]);

test('-tx: nothing without the neighbour directory; -mkdir makes DIR/RECIPIENT/SENDER/PACKET and empties tx/', async (t) => {
  const { dir, a, b, c } = await nodes(t);
  const p1 = queue(a, b, 224);
  const p2 = queue(a, b, 96, 300_000);
  const p3 = queue(a, c, 160);
  const medium = path.join(dir, 'stick');
  fs.mkdirSync(medium);
  const { ctx } = await capturingContext(a.cfgPath);

  let r = await xferTx(ctx, { dir: medium });
  t.true(r.ok);
  t.deepEqual(listFiles(medium), [], 'without -mkdir, no neighbour directory means nothing is written');
  t.true(fs.existsSync(path.join(a.spool, b.idB32, 'tx', p1.id)));

  r = await xferTx(ctx, { dir: medium, mkdir: true });
  t.true(r.ok);
  t.deepEqual(r.packets.sort(), [p1.id, p2.id, p3.id].sort());
  t.deepEqual(listFiles(medium), [
    path.join(b.idB32, a.idB32, p1.id),
    path.join(b.idB32, a.idB32, p2.id),
    path.join(c.idB32, a.idB32, p3.id),
  ].sort());
  t.true(fs.statSync(path.join(medium, a.idB32, a.idB32)).isDirectory(), 'the self neighbour gets its directories too, as with nncp-xfer');
  for (const [to, p] of [[b, p1], [b, p2], [c, p3]] as const) {
    const onStick = path.join(medium, to.idB32, a.idB32, p.id);
    t.true(fs.readFileSync(onStick).equals(p.data));
    t.is(base32Encode(await mthOfFile(onStick)), p.id);
    t.false(fs.existsSync(path.join(a.spool, to.idB32, 'tx', p.id)), 'sent packet left tx/');
    t.false(fs.existsSync(path.join(a.spool, to.idB32, 'tx', 'hdr', p.id)), 'and its hdr/ file');
  }
  t.false(listFiles(medium).some((f) => path.basename(f).startsWith('nncp')), 'no temporary file left on the medium');
  const recs = logRecords(a.log).filter((x) => x.who === 'xfer-tx');
  t.is(recs.length, 3);
  const rec = recs.find((x) => x.fields.get('Pkt') === p2.id)!;
  t.deepEqual([...rec.fields.keys()], ['When', 'Who', 'XX', 'Node', 'Pkt', 'Size', 'Msg']);
  t.is(rec.fields.get('XX'), 'tx');
  t.is(rec.fields.get('Node'), b.idB32);
  t.is(rec.fields.get('Size'), String(p2.data.length));
  // 300172 bytes = 293.1 KiB, printed without decimals from 10 up.
  t.is(rec.fields.get('Msg'), `Packet transfer, sent to bob: ${p2.id} (293 KiB)`);
});

test('-tx -keep -node -nice: only that node and niceness; tx/ keeps them; a packet already on the medium is verified, not copied again', async (t) => {
  const { dir, a, b, c } = await nodes(t);
  const bulk = queue(a, b, 224);
  const prio = queue(a, b, 96);
  const other = queue(a, c, 96);
  const medium = path.join(dir, 'stick');
  fs.mkdirSync(medium);
  const { ctx } = await capturingContext(a.cfgPath);
  const r = await xferTx(ctx, { dir: medium, mkdir: true, keep: true, node: ctx.cfg.byName.get('bob'), nice: 96 });
  t.true(r.ok);
  t.deepEqual(listFiles(medium), [path.join(b.idB32, a.idB32, prio.id)]);
  for (const [to, p] of [[b, bulk], [b, prio], [c, other]] as const) t.true(fs.existsSync(path.join(a.spool, to.idB32, 'tx', p.id)));
  t.false(fs.existsSync(path.join(medium, c.idB32)), 'other nodes untouched, even with -mkdir');

  // Same name already there (issue 9, item 3): what is not the packet is replaced; the packet itself
  // (from the -keep run) is verified and dequeued. nncp-xfer leaves both, and both queued.
  fs.writeFileSync(path.join(medium, b.idB32, a.idB32, bulk.id), 'placeholder');
  const r2 = await xferTx(ctx, { dir: medium, node: ctx.cfg.byName.get('bob') });
  t.true(r2.ok);
  t.deepEqual(r2.packets.sort(), [bulk.id, prio.id].sort());
  t.true(fs.readFileSync(path.join(medium, b.idB32, a.idB32, bulk.id)).equals(bulk.data));
  t.false(fs.existsSync(path.join(a.spool, b.idB32, 'tx', bulk.id)));
  t.false(fs.existsSync(path.join(a.spool, b.idB32, 'tx', prio.id)), 'already on the medium (from the -keep run): verified, dequeued');
});

test('-tx into a missing DIR with -mkdir fails for each node and says so (DIR itself is never created)', async (t) => {
  const { dir, a, b } = await nodes(t);
  queue(a, b, 224);
  const { ctx, stderr } = await capturingContext(a.cfgPath);
  const r = await xferTx(ctx, { dir: path.join(dir, 'no-such-stick'), mkdir: true });
  t.false(r.ok);
  t.false(fs.existsSync(path.join(dir, 'no-such-stick')));
  t.regex(stderr(), /ERROR Packet transfer, sent to bob: directory .*no-such-stick/);
  t.truthy(logRecords(a.log).find((x) => x.who === 'xfer-tx-mkdir'));
});

test('-rx imports packets into rx/ with hdr/ files, removes them from the medium; -keep leaves them', async (t) => {
  const { dir, a, b } = await nodes(t);
  const medium = path.join(dir, 'stick');
  const p1 = fakePacket(a.idB32, b.idB32, 224);
  const p2 = fakePacket(a.idB32, b.idB32, 96, 200_000);
  const f1 = onMedium(medium, b.idB32, a.idB32, p1.id, p1.data);
  const f2 = onMedium(medium, b.idB32, a.idB32, p2.id, p2.data);
  const { ctx } = await capturingContext(b.cfgPath);

  let r = await xferRx(ctx, { dir: medium, keep: true });
  t.true(r.ok);
  t.deepEqual(r.packets.sort(), [p1.id, p2.id].sort());
  for (const p of [p1, p2]) {
    t.true(fs.readFileSync(path.join(b.spool, a.idB32, 'rx', p.id)).equals(p.data));
    t.true(fs.readFileSync(path.join(b.spool, a.idB32, 'rx', 'hdr', p.id)).equals(p.data.subarray(0, ENC_HEADER_SIZE)));
  }
  t.true(fs.existsSync(f1) && fs.existsSync(f2), '-keep');
  t.deepEqual(fs.readdirSync(path.join(b.spool, 'tmp')), []);
  const rec = logRecords(b.log).find((x) => x.who === 'xfer-rx' && x.fields.get('File') === f2)!;
  t.truthy(rec);
  t.deepEqual([...rec.fields.keys()], ['When', 'Who', 'XX', 'Dir', 'Node', 'File', 'Size', 'Msg']);
  t.is(rec.fields.get('Dir'), path.join(medium, b.idB32));
  t.is(rec.fields.get('Node'), a.idB32);
  // 200172 bytes = 195.48 KiB -> 195.5 -> "%.0f" rounds half to even: 196.
  t.is(rec.fields.get('Msg'), `Packet transfer, received from alice: ${f2} (196 KiB)`);

  fs.rmSync(path.join(b.spool, a.idB32), { recursive: true });
  r = await xferRx(ctx, { dir: medium });
  t.true(r.ok);
  t.false(fs.existsSync(f1) || fs.existsSync(f2), 'imported packets leave the medium');
  t.true(fs.existsSync(path.join(b.spool, a.idB32, 'rx', p1.id)));
});

test('-rx from a medium on the spool\'s filesystem links a packet into rx/ (same inode); a second name, -keep or PIGEON_XFER_LINK=0 copies', async (t) => {
  const { dir, a, b } = await nodes(t);
  const medium = path.join(dir, 'stick');
  const rx = (id: string) => path.join(b.spool, a.idB32, 'rx', id);
  const [linked, twoNames, kept, copied] = [300, 20_000, 5000, 70_000].map((n) => fakePacket(a.idB32, b.idB32, 96, n));
  const files = new Map([linked, twoNames, kept, copied].map((p) => [p.id, onMedium(medium, b.idB32, a.idB32, p.id, p.data)]));
  const ino = (p: string) => fs.statSync(p).ino;
  const inodes = new Map([...files].map(([id, f]) => [id, ino(f)]));
  // A second name elsewhere: whoever holds it could change the bytes after the check.
  const other = path.join(dir, 'other-name');
  fs.linkSync(files.get(twoNames.id)!, other);
  const { ctx } = await capturingContext(b.cfgPath);

  let r = await xferRx(ctx, { dir: medium, keep: true });
  t.true(r.ok);
  t.not(ino(rx(kept.id)), inodes.get(kept.id), '-keep: copied');
  t.true(fs.existsSync(files.get(kept.id)!), '-keep: still on the medium');
  fs.rmSync(files.get(kept.id)!);
  for (const p of [linked, twoNames, copied]) fs.rmSync(rx(p.id));

  const cli = await runPigeon(['xfer', '-cfg', b.cfgPath, '-quiet', '-rx', '-node', 'alice', medium], { env: { PIGEON_XFER_LINK: '0' } });
  t.is(cli.code, 0, cli.stderr);
  t.not(ino(rx(copied.id)), inodes.get(copied.id), 'PIGEON_XFER_LINK=0: copied');
  t.deepEqual(listFiles(path.join(medium, b.idB32, a.idB32)), [], 'all taken off the medium');
  for (const p of [linked, twoNames]) {
    fs.rmSync(rx(p.id));
    onMedium(medium, b.idB32, a.idB32, p.id, p.data);
  }
  inodes.set(linked.id, ino(files.get(linked.id)!));
  fs.rmSync(other);
  fs.linkSync(files.get(twoNames.id)!, other);
  inodes.set(twoNames.id, ino(other));

  r = await xferRx(ctx, { dir: medium });
  t.true(r.ok);
  t.deepEqual(r.packets.sort(), [linked.id, twoNames.id].sort());
  t.is(ino(rx(linked.id)), inodes.get(linked.id)!, 'linked: the medium\'s file itself');
  t.is(fs.statSync(rx(linked.id)).nlink, 1, 'and the medium\'s name is gone');
  t.not(ino(rx(twoNames.id)), inodes.get(twoNames.id), 'a file with another name: copied');
  t.true(fs.readFileSync(other).equals(twoNames.data), 'its other name untouched');
  for (const p of [linked, twoNames]) {
    t.true(fs.readFileSync(rx(p.id)).equals(p.data));
    t.true(fs.readFileSync(path.join(b.spool, a.idB32, 'rx', 'hdr', p.id)).equals(p.data.subarray(0, ENC_HEADER_SIZE)));
  }
  t.deepEqual(listFiles(path.join(medium, b.idB32, a.idB32)), []);
  t.deepEqual(fs.readdirSync(path.join(b.spool, 'tmp')), [], 'no link left in tmp/');
});

test('-rx -node and -nice leave other senders and nicer packets on the medium', async (t) => {
  const { dir, a, b, c } = await nodes(t);
  const medium = path.join(dir, 'stick');
  const fromA = fakePacket(a.idB32, b.idB32, 96);
  const bulkA = fakePacket(a.idB32, b.idB32, 224);
  const fromC = fakePacket(c.idB32, b.idB32, 96);
  const fa = onMedium(medium, b.idB32, a.idB32, fromA.id, fromA.data);
  const fb = onMedium(medium, b.idB32, a.idB32, bulkA.id, bulkA.data);
  const fc = onMedium(medium, b.idB32, c.idB32, fromC.id, fromC.data);
  const { ctx } = await capturingContext(b.cfgPath);
  const r = await xferRx(ctx, { dir: medium, node: ctx.cfg.byName.get('alice'), nice: 160 });
  t.true(r.ok);
  t.false(fs.existsSync(fa));
  t.true(fs.existsSync(fb) && fs.existsSync(fc));
  t.deepEqual(listFiles(b.spool).filter((f) => !f.includes('hdr') && !f.startsWith('tmp')), [path.join(a.idB32, 'rx', fromA.id)]);
});

test('-rx never imports partial, garbage, tampered or foreign files; says so; exit 1 for the refused ones', async (t) => {
  const { dir, a, b, c } = await nodes(t);
  const medium = path.join(dir, 'stick');
  const good = fakePacket(a.idB32, b.idB32, 224);
  const truncated = fakePacket(a.idB32, b.idB32, 224, 300_000);
  const flipped = fakePacket(a.idB32, b.idB32, 224, 5000);
  const forCarol = fakePacket(a.idB32, c.idB32, 224);
  const relayed = fakePacket(a.idB32, b.idB32, 224);
  const flippedData = Buffer.from(flipped.data);
  flippedData[3000] ^= 0x10;
  const randomName = base32Encode(randomBytes(32));
  const shortName = base32Encode(randomBytes(32));
  const unknownSender = base32Encode(randomBytes(32));
  const stray = {
    good: onMedium(medium, b.idB32, a.idB32, good.id, good.data),
    truncated: onMedium(medium, b.idB32, a.idB32, truncated.id, truncated.data.subarray(0, 200_000)),
    flipped: onMedium(medium, b.idB32, a.idB32, flipped.id, flippedData),
    random: onMedium(medium, b.idB32, a.idB32, randomName, randomBytes(5000)),
    short: onMedium(medium, b.idB32, a.idB32, shortName, randomBytes(100)),
    part: onMedium(medium, b.idB32, a.idB32, good.id + '.part', good.data.subarray(0, 500)),
    tmp: onMedium(medium, b.idB32, a.idB32, 'nncpxfer18eabfa32c5c5954', good.data),
    forCarol: onMedium(medium, b.idB32, a.idB32, forCarol.id, forCarol.data),
    // From alice but forwarded by carol: a relay's directory holds packets signed by their origin.
    relayed: onMedium(medium, b.idB32, c.idB32, relayed.id, relayed.data),
    unknown: onMedium(medium, b.idB32, unknownSender, relayed.id, relayed.data),
  };
  const before = new Map(Object.entries(stray).map(([k, p]) => [k, fs.readFileSync(p)]));

  const r = await px(b, '-rx', medium);
  t.is(r.code, 1, 'checksum mismatches and foreign packets make the exit code 1');
  // Only the good and the relayed packets entered the spool; nothing is left in tmp/.
  const inSpool = listFiles(b.spool).filter((f) => !f.startsWith('tmp'));
  t.deepEqual(
    inSpool,
    [
      path.join(a.idB32, 'rx', good.id),
      path.join(a.idB32, 'rx', 'hdr', good.id),
      path.join(c.idB32, 'rx', relayed.id),
      path.join(c.idB32, 'rx', 'hdr', relayed.id),
    ].sort(),
  );
  t.deepEqual(fs.readdirSync(path.join(b.spool, 'tmp')), []);
  // Everything else is still on the medium, untouched.
  for (const [k, p] of Object.entries(stray)) {
    if (k === 'good' || k === 'relayed') {
      t.false(fs.existsSync(p));
      continue;
    }
    t.true(fs.readFileSync(p).equals(before.get(k)!), `${k} left as it was`);
  }
  // And each one was reported.
  for (const k of ['truncated', 'flipped', 'random', 'short', 'part', 'tmp', 'forCarol'] as const) {
    t.true(r.stderr.includes(stray[k]), `${k} is named on stderr:\n${r.stderr}`);
  }
  t.regex(r.stderr, new RegExp(`ERROR .*${truncated.id}.*: checksum mismatch`));
  t.regex(r.stderr, new RegExp(`ERROR .*${flipped.id}.*: checksum mismatch`));
  t.regex(r.stderr, /addressed to carol, not to us/);
  t.true(r.stderr.includes(`received from ${unknownSender}: unknown`), r.stderr);
  t.false(r.stderr.includes('    at '), 'no stack trace');
  const mismatch = logRecords(b.log).filter((x) => x.who === 'xfer-rx' && x.fields.get('Err') === 'checksum mismatch');
  t.deepEqual(mismatch.map((x) => x.fields.get('File')).sort(), [stray.truncated, stray.flipped].sort());
});

test('-rx skips packets already seen, and removes them from the medium unless -keep', async (t) => {
  const { dir, a, b } = await nodes(t);
  const medium = path.join(dir, 'stick');
  const p = fakePacket(a.idB32, b.idB32, 224);
  const f = onMedium(medium, b.idB32, a.idB32, p.id, p.data);
  const { ctx, stderr } = await capturingContext(b.cfgPath);
  await ctx.spool.markSeen(a.idB32, p.id);
  let r = await xferRx(ctx, { dir: medium, keep: true });
  t.true(r.ok);
  t.deepEqual(r.packets, []);
  t.true(fs.existsSync(f));
  t.false(fs.existsSync(path.join(b.spool, a.idB32, 'rx', p.id)));
  t.regex(stderr(), /packet already seen/);
  t.truthy(logRecords(b.log).find((x) => x.who === 'xfer-rx-seen'));
  r = await xferRx(ctx, { dir: medium });
  t.true(r.ok);
  t.false(fs.existsSync(f));
  t.false(fs.existsSync(path.join(b.spool, a.idB32, 'rx', p.id)));
});

test('-rx without DIR/<our id> does nothing and succeeds', async (t) => {
  const { dir, b } = await nodes(t);
  const { ctx } = await capturingContext(b.cfgPath);
  const r = await xferRx(ctx, { dir });
  t.true(r.ok);
  t.deepEqual(r.packets, []);
});

test('CLI: -rx and -tx together are refused; DIR is required', async (t) => {
  const { dir, a } = await nodes(t);
  const r = await px(a, '-rx', '-tx', dir);
  t.is(r.code, 1);
  t.regex(r.stderr, /-rx and -tx can not be set simultaneously/);
  t.is(r.stderr.trim().split('\n').length, 1);
  const r2 = await px(a, '-rx');
  t.not(r2.code, 0);
  t.regex(r2.stderr, /DIR/);
});

test('a packet appears on the medium (and in rx/) only complete, under its final name', async (t) => {
  const { dir, a, b } = await nodes(t);
  const big = queue(a, b, 224, 24 << 20);
  const medium = path.join(dir, 'stick');
  const dst = path.join(medium, b.idB32, a.idB32);
  fs.mkdirSync(dst, { recursive: true });
  const watch = async (d: string, name: string, size: number, run: Promise<{ code: number; stderr: string }>) => {
    let done = false;
    const result = run.finally(() => (done = true));
    let seenPartial = false;
    let sawTmp = false;
    while (!done) {
      for (const e of fs.existsSync(d) ? fs.readdirSync(d) : []) {
        if (e !== name) {
          if (e.startsWith('nncp')) sawTmp = true;
          continue;
        }
        try {
          if (fs.statSync(path.join(d, e)).size !== size) seenPartial = true;
        } catch {
          // removed meanwhile
        }
      }
      await new Promise((res) => setTimeout(res, 2));
    }
    return { r: await result, seenPartial, sawTmp };
  };
  const tx = await watch(dst, big.id, big.data.length, px(a, '-tx', '-keep', medium));
  t.is(tx.r.code, 0, tx.r.stderr);
  t.false(tx.seenPartial, 'never a partial file under the packet name on the medium');
  t.is(fs.statSync(path.join(dst, big.id)).size, big.data.length);
  t.log(`temporary file seen on the medium while copying: ${tx.sawTmp}`);

  const rxDir = path.join(b.spool, a.idB32, 'rx');
  const rx = await watch(rxDir, big.id, big.data.length, px(b, '-rx', medium));
  t.is(rx.r.code, 0, rx.r.stderr);
  t.false(rx.seenPartial, 'never a partial file under the packet name in rx/');
  t.true(fs.readFileSync(path.join(rxDir, big.id)).equals(big.data));
});

test('-tx: a big packet leaves tx/ for the spool trash, which is freed after the run; small ones are unlinked at once', async (t) => {
  const { dir, a, b } = await nodes(t);
  const big = queue(a, b, 96, TRASH_MIN_BYTES);
  const small = queue(a, b, 96, 1000);
  const bigIno = fs.statSync(path.join(a.spool, b.idB32, 'tx', big.id)).ino;
  const medium = path.join(dir, 'stick');
  fs.mkdirSync(path.join(medium, b.idB32), { recursive: true });
  const { ctx } = await capturingContext(a.cfgPath);
  // At the end of bob's run (each node's run empties the trash), only the big packet is in it, under its own inode.
  const tmp = path.join(a.spool, 'tmp');
  const seen: { files: string[]; ino: number }[] = [];
  const trash = ctx.spool.trash.bind(ctx.spool);
  ctx.spool.trash = () => {
    const tr = trash();
    const empty = tr.empty.bind(tr);
    tr.empty = async () => {
      // What an earlier node's run put there may still be being freed (rm runs detached): only what is new counts.
      const files = listFiles(tmp).filter((f) => !seen.some((s) => s.files.includes(f)));
      if (files.length > 0) seen.push({ files, ino: files.length === 1 ? fs.statSync(path.join(tmp, files[0])).ino : -1 });
      await empty();
    };
    return tr;
  };
  // Copied (a medium on another filesystem): a linked packet frees nothing when it leaves tx/ (next test).
  const r = await xferTx(ctx, { dir: medium, link: false });
  t.true(r.ok);
  t.deepEqual(r.packets.sort(), [big.id, small.id].sort());
  t.is(seen.length, 1, 'one node had a big packet');
  t.deepEqual(seen[0].files.map((f) => path.basename(f)), [big.id]);
  t.regex(seen[0].files[0], new RegExp(`^\\.pigeon-trash\\.[0-9a-f]+/${big.id}$`));
  t.is(seen[0].ino, bigIno);
  t.deepEqual(listFiles(path.join(a.spool, b.idB32, 'tx')), []);
  t.is(Buffer.compare(fs.readFileSync(path.join(medium, b.idB32, a.idB32, big.id)), big.data), 0);
  for (const end = Date.now() + 10_000; listFiles(tmp).length > 0 && Date.now() < end; ) await new Promise((res) => setTimeout(res, 20));
  t.deepEqual(listFiles(tmp), [], 'freed after the run');
});

test('-tx to a medium on the spool\'s filesystem: the queued file itself goes there by hard link (a bad copy on the medium replaced), no trash, no temporary file; -keep copies', async (t) => {
  const { dir, a, b } = await nodes(t);
  const medium = path.join(dir, 'stick');
  const dst = path.join(medium, b.idB32, a.idB32);
  const txDir = path.join(a.spool, b.idB32, 'tx');
  const big = queue(a, b, 96, TRASH_MIN_BYTES);
  const small = queue(a, b, 96, 1000);
  const ino = (p: string) => fs.statSync(p).ino;
  const { ctx } = await capturingContext(a.cfgPath);

  fs.mkdirSync(medium);
  let r = await xferTx(ctx, { dir: medium, mkdir: true, keep: true });
  t.true(r.ok, 'the -keep run');
  for (const p of [big, small]) t.not(ino(path.join(dst, p.id)), ino(path.join(txDir, p.id)), '-keep: a copy');
  fs.rmSync(dst, { recursive: true });
  fs.mkdirSync(dst);
  fs.writeFileSync(path.join(dst, small.id), 'a bad copy');
  const inodes = new Map([big, small].map((p) => [p.id, ino(path.join(txDir, p.id))]));
  r = await xferTx(ctx, { dir: medium });
  t.true(r.ok, 'the linking run');
  t.deepEqual(r.packets.sort(), [big.id, small.id].sort());
  t.deepEqual(fs.readdirSync(dst).sort(), [big.id, small.id].sort(), 'under their names only');
  for (const p of [big, small]) {
    const f = path.join(dst, p.id);
    t.is(ino(f), inodes.get(p.id)!, `${p.id}: the queued file itself`);
    t.is(fs.statSync(f).nlink, 1, 'and no longer in tx/');
    t.true(fs.readFileSync(f).equals(p.data));
  }
  t.deepEqual(listFiles(txDir), [], 'dequeued, hdr/ files included');
  t.deepEqual(fs.existsSync(path.join(a.spool, 'tmp')) ? fs.readdirSync(path.join(a.spool, 'tmp')) : [], [], 'nothing went to the trash');
});
