/**
 * `pigeon bundle` on its own (the reference on the other side is in
 * bundle-interop, kills in bundle-crash): the stream's layout, several
 * nodes in one stream, -nice, -delete both ways, -dryrun, -check, and a
 * damaged stream (garbage, odd chunking, bad checksums, truncation,
 * entries that are not packets), and a 64 MiB packet through a pipe in
 * bounded memory.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { base32Encode } from '../src/codec/base32.js';
import { TAR_BLOCK, tarHeader, tarPad } from '../src/codec/tar.js';
import type { Context } from '../src/context.js';
import { bundleRx, bundleTx, type BundleRxOptions } from '../src/xfer/bundle.js';
import { capturingContext, lab, type Lab } from './helpers/nncp.js';
import { fakePacket, pieces, queueFile } from './helpers/packets.js';
import { bash, listFiles, logRecords, ok, runPigeon } from './helpers/util.js';

/** A writable collecting what is written (copies: the writer reuses its buffers). */
function collector(): { out: Writable; data: () => Buffer } {
  const parts: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(Buffer.from(chunk));
      cb();
    },
  });
  return { out, data: () => Buffer.concat(parts) };
}


async function txStream(ctx: Context, l: Lab, nodes: string[], opts: { nice?: number; delete?: boolean } = {}): Promise<Buffer> {
  const c = collector();
  const res = await bundleTx(ctx, { nodes: nodes.map((n) => ctx.cfg.neighbours.get(l.nodes[n].idB32)!), out: c.out, ...opts });
  if (!res.ok) throw new Error('bundleTx failed');
  return c.data();
}

function rx(ctx: Context, data: Uint8Array, opts: Omit<BundleRxOptions, 'input'> = {}, sizes?: number[]) {
  return bundleRx(ctx, { ...opts, input: pieces(data, sizes) });
}

/** Packet ids in NODE's rx queue from FROM. */
function rxQueue(l: Lab, node: string, from: string): string[] {
  return listFiles(path.join(l.nodes[node].spool, l.nodes[from].idB32, 'rx')).filter((f) => !f.startsWith('hdr/'));
}

function txQueue(l: Lab, node: string, to: string): string[] {
  return listFiles(path.join(l.nodes[node].spool, l.nodes[to].idB32, 'tx')).filter((f) => !f.startsWith('hdr/'));
}

function tmpFiles(l: Lab, node: string): string[] {
  return listFiles(path.join(l.nodes[node].spool, 'tmp'));
}

/** Three packets from alice: two for bob (one of 300 kB), one for carol. */
async function three(t: ExecutionContext) {
  const l = await lab(t, ['alice', 'bob', 'carol']);
  const b1 = await queueFile(l.ctx.alice, 'bob', 'big.bin', 300_000);
  const b2 = await queueFile(l.ctx.alice, 'bob', 'small.bin', 100, 64);
  const c1 = await queueFile(l.ctx.alice, 'carol', 'c.bin', 5000);
  return { l, b1, b2, c1 };
}

test('one stream for two nodes: the reference layout, each recipient takes its own, toss delivers them', async (t) => {
  const { l, b1, b2, c1 } = await three(t);
  const s = await txStream(l.ctx.alice, l, ['bob', 'carol']);
  t.is(s.length % TAR_BLOCK, 0);
  t.true(s.subarray(s.length - 2 * TAR_BLOCK).equals(Buffer.alloc(2 * TAR_BLOCK)), 'ends with the two zero blocks of a tar');
  const dir = path.join(l.dir, 's.tar');
  fs.writeFileSync(dir, s);
  const listing = spawnSync('tar', ['tvf', dir], { encoding: 'utf8' });
  t.is(listing.status, 0, listing.stderr);
  const [A, B, C] = ['alice', 'bob', 'carol'].map((n) => l.nodes[n].idB32);
  const names = listing.stdout.trim().split('\n').map((line) => line.split(/\s+/).slice(-1)[0]);
  // Queue order: by niceness, then id (small.bin has niceness 64).
  t.deepEqual(names, ['NNCP', `NNCP/${B}/${A}/${b2.id}`, 'NNCP', `NNCP/${B}/${A}/${b1.id}`, 'NNCP', `NNCP/${C}/${A}/${c1.id}`]);
  t.regex(listing.stdout, /^dr?wx------ 0\/0 +0 1970-01-01 00:00 NNCP$/m);
  t.regex(listing.stdout, new RegExp(`^-r-------- 0/0 +300\\d+ 1970-01-01 00:00 NNCP/${B}/${A}/${b1.id}$`, 'm'));
  t.deepEqual(txQueue(l, 'alice', 'bob').sort(), [b1.id, b2.id].sort(), 'without -delete the packets stay queued');

  const rb = await rx(l.ctx.bob, s);
  t.true(rb.ok);
  t.deepEqual(rb.packets.sort(), [b1.id, b2.id].sort());
  t.deepEqual(rxQueue(l, 'bob', 'alice').sort(), [b1.id, b2.id].sort());
  t.deepEqual(listFiles(path.join(l.nodes.bob.spool, A, 'rx', 'hdr')).sort(), [b1.id, b2.id].sort(), 'hdr/ files written');
  const rc = await rx(l.ctx.carol, s);
  t.deepEqual(rc.packets, [c1.id]);
  t.deepEqual(tmpFiles(l, 'bob'), []);
  const recs = logRecords(l.nodes.bob.log).filter((r) => r.who === 'bundle-rx');
  t.is(recs.length, 2);
  t.deepEqual([...recs[0].fields.keys()], ['When', 'Who', 'XX', 'Node', 'Pkt', 'FullSize', 'Size', 'Msg']);
  t.regex(recs[0].fields.get('Msg')!, /^Bundle transfer, received from alice [A-Z2-7]{52} \(/);

  for (const n of ['bob', 'carol']) ok(t, `toss on ${n}`, await runPigeon(['toss', '-cfg', l.nodes[n].cfgPath, '-quiet']));
  t.true(fs.readFileSync(path.join(l.nodes.bob.incoming, 'big.bin')).equals(b1.data));
  t.true(fs.readFileSync(path.join(l.nodes.bob.incoming, 'small.bin')).equals(b2.data));
  t.true(fs.readFileSync(path.join(l.nodes.carol.incoming, 'c.bin')).equals(c1.data));
});

test('garbage before, between and after, odd chunk sizes, a stream twice: each packet taken once', async (t) => {
  const { l, b1, b2 } = await three(t);
  const s = await txStream(l.ctx.alice, l, ['bob']);
  const noise = (n: number) => randomBytes(n).map((b) => (b === 0x4e ? 0x4d : b)); // no stray "NNCP"
  const g = Buffer.concat([noise(777), s, noise(3000), Buffer.from('NNCP'), noise(600), s.subarray(0, s.length - 2 * TAR_BLOCK), s, noise(99)]);
  const r = await rx(l.ctx.bob, g, {}, [1, 3, 511, 512, 513, 7, 65536, 2]);
  t.true(r.ok);
  t.deepEqual(r.packets.sort(), [b1.id, b2.id].sort(), 'taken once, later copies seen as already there');
  t.deepEqual(rxQueue(l, 'bob', 'alice').sort(), [b1.id, b2.id].sort());
  // Byte by byte (carol's stream: one small packet): the same.
  const s2 = Buffer.concat([noise(5), await txStream(l.ctx.alice, l, ['carol']), noise(5)]);
  const r2 = await rx(l.ctx.carol, s2, {}, [1]);
  t.is(r2.packets.length, 1);
  t.deepEqual(rxQueue(l, 'carol', 'alice'), r2.packets);
});

test('-tx -nice leaves nicer packets; -tx -delete dequeues what was written, hdr/ files too', async (t) => {
  const { l, b1, b2 } = await three(t);
  const s = await txStream(l.ctx.alice, l, ['bob'], { nice: 100, delete: true });
  t.true(s.includes(Buffer.from(b2.id)), 'niceness 64 goes');
  t.false(s.includes(Buffer.from(b1.id)), 'niceness 224 stays');
  t.deepEqual(txQueue(l, 'alice', 'bob'), [b1.id]);
  t.false(fs.existsSync(l.ctx.alice.spool.hdrPath(l.nodes.bob.idB32, 'tx', b2.id)));
  const r = await rx(l.ctx.bob, s, { nice: 32 });
  t.deepEqual(r.packets, [], '-rx -nice 32 skips niceness 64');
  t.deepEqual((await rx(l.ctx.bob, s)).packets, [b2.id]);
  // Tossed with -seen, or quarantined: not taken again.
  const again = await rx(l.ctx.bob, s);
  t.deepEqual(again.packets, []);
  const rxDir = path.join(l.nodes.bob.spool, l.nodes.alice.idB32, 'rx');
  fs.mkdirSync(path.join(rxDir, 'quarantine'));
  fs.renameSync(path.join(rxDir, b2.id), path.join(rxDir, 'quarantine', b2.id));
  const { ctx, stderr } = await capturingContext(l.nodes.bob.cfgPath);
  t.deepEqual((await rx(ctx, s)).packets, [], 'a quarantined packet is not taken again');
  t.regex(stderr(), /packet already in quarantine/);
  fs.rmSync(path.join(rxDir, 'quarantine'), { recursive: true });
  fs.mkdirSync(path.join(rxDir, 'seen'));
  fs.writeFileSync(path.join(rxDir, 'seen', b2.id), '');
  t.deepEqual((await rx(l.ctx.bob, s)).packets, [], 'a seen packet is not taken again');
});

/** The stream with one byte of `id`'s packet flipped. */
function corrupt(s: Buffer, id: string): Buffer {
  const at = s.indexOf(Buffer.from(id));
  const out = Buffer.from(s);
  out[at - (at % TAR_BLOCK) + TAR_BLOCK + 300] ^= 0x55; // inside the packet, past its header
  return out;
}

test('a packet whose checksum is not its name never enters rx/, with or without -check; -dryrun writes nothing', async (t) => {
  const { l, b1, b2 } = await three(t);
  const bad = corrupt(await txStream(l.ctx.alice, l, ['bob']), b1.id);
  const { ctx, stderr } = await capturingContext(l.nodes.bob.cfgPath);
  const dry = await rx(ctx, bad, { dryRun: true });
  t.true(dry.ok, '-dryrun without -check does not hash');
  t.deepEqual(dry.packets.sort(), [b1.id, b2.id].sort());
  t.deepEqual(listFiles(l.nodes.bob.spool), [], '-dryrun: nothing written');
  const dryCheck = await rx(ctx, bad, { dryRun: true, check: true });
  t.false(dryCheck.ok);
  t.deepEqual(dryCheck.packets, [b2.id]);
  t.deepEqual(listFiles(l.nodes.bob.spool), []);
  for (const check of [false, true]) {
    const r = await rx(ctx, bad, { check });
    t.false(r.ok);
    t.deepEqual(rxQueue(l, 'bob', 'alice'), [b2.id]);
    t.deepEqual(tmpFiles(l, 'bob'), []);
  }
  t.regex(stderr(), new RegExp(`ERROR Bundle transfer ${l.nodes.alice.idB32}/rx/${b1.id}: bad checksum\\n`));
});

test('a truncated stream: the packet cut short leaves nothing (no temporary file), those before it are taken, exit 1 with one line', async (t) => {
  const { l, b1, b2 } = await three(t);
  const s = await txStream(l.ctx.alice, l, ['bob']);
  const cutAt = s.indexOf(Buffer.from(b1.id)) + 100_000; // inside the big packet, which comes second
  const file = path.join(l.dir, 'cut.tar');
  fs.writeFileSync(file, s.subarray(0, cutAt));
  const r = await runPigeon(['bundle', '-cfg', l.nodes.bob.cfgPath, '-noprogress', '-rx'], { stdinFile: file });
  t.is(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 2, r.stderr);
  t.regex(lines[0], new RegExp(`Bundle transfer, received from alice ${b2.id}`));
  t.regex(lines[1], new RegExp(`ERROR Bundle transfer ${l.nodes.alice.idB32}/rx/${b1.id}: the stream ended after \\d+ of its \\d+ bytes \\(a truncated bundle\\); nothing was kept$`));
  t.deepEqual(rxQueue(l, 'bob', 'alice'), [b2.id]);
  t.deepEqual(tmpFiles(l, 'bob'), []);
  // Cut inside the packet's own (encrypted) header, past its tar header: the same.
  fs.writeFileSync(file, s.subarray(0, s.indexOf(Buffer.from(b1.id)) + TAR_BLOCK + 100));
  const r2 = await runPigeon(['bundle', '-cfg', l.nodes.bob.cfgPath, '-noprogress', '-rx'], { stdinFile: file });
  t.is(r2.code, 1);
  t.regex(r2.stderr, /ERROR .*: the stream ended after 100 of its \d+ bytes \(a truncated bundle\)/);
  // Cut inside the tar header: garbage at the end, as the reference sees it (said with -debug).
  fs.writeFileSync(file, s.subarray(0, s.indexOf(Buffer.from(b1.id)) + 200));
  const r3 = await runPigeon(['bundle', '-cfg', l.nodes.bob.cfgPath, '-noprogress', '-rx', '-debug'], { stdinFile: file });
  t.is(r3.code, 0);
  t.regex(r3.stderr, /Who: bundle-rx-read-tar\nXX: rx\nErr: unexpected EOF\n/);
  t.deepEqual(rxQueue(l, 'bob', 'alice'), [b2.id]);
});

test('-rx -delete on the sender: our packets found intact leave tx/, a damaged one stays; NODE limits the recipients; -dryrun only says', async (t) => {
  const { l, b1, b2, c1 } = await three(t);
  const s = await txStream(l.ctx.alice, l, ['bob', 'carol']);
  const bad = corrupt(s, b1.id);
  const dry = await rx(l.ctx.alice, bad, { delete: true, dryRun: true });
  t.false(dry.ok, 'the damaged one is an error');
  t.deepEqual(dry.removed.sort(), [b2.id, c1.id].sort());
  t.is(txQueue(l, 'alice', 'bob').length + txQueue(l, 'alice', 'carol').length, 3, '-dryrun removes nothing');
  const carolOnly = await rx(l.ctx.alice, bad, { delete: true, nodes: [l.ctx.alice.cfg.neighbours.get(l.nodes.carol.idB32)!] });
  t.true(carolOnly.ok);
  t.deepEqual(carolOnly.removed, [c1.id]);
  t.deepEqual(txQueue(l, 'alice', 'carol'), []);
  const all = await rx(l.ctx.alice, bad, { delete: true });
  t.deepEqual(all.removed, [b2.id]);
  t.deepEqual(txQueue(l, 'alice', 'bob'), [b1.id], 'the damaged copy does not count');
  t.true(fs.existsSync(l.ctx.alice.spool.hdrPath(l.nodes.bob.idB32, 'tx', b1.id)));
  t.false(fs.existsSync(l.ctx.alice.spool.hdrPath(l.nodes.bob.idB32, 'tx', b2.id)));
  const recs = logRecords(l.nodes.alice.log).filter((r) => r.who === 'bundle-tx-removed');
  t.true(recs.length >= 3);
});

/** A tar entry "NNCP" directory + file NAME holding DATA. */
function entry(name: string, data: Uint8Array, type = '0'): Buffer {
  const slash = name.lastIndexOf('/');
  return Buffer.concat([
    tarHeader({ name: 'NNCP', mode: 0o700, size: 0, mtime: 0, type: '5' }),
    tarHeader({ prefix: name.slice(0, slash), name: name.slice(slash + 1), mode: 0o400, size: data.length, mtime: 0, type }),
    data,
    Buffer.alloc(tarPad(data.length)),
  ]);
}

test('entries that are not packets for us are skipped, said with -debug only; packets from strangers are not taken', async (t) => {
  const l = await lab(t, ['alice', 'bob', 'carol']);
  const [A, B, C] = ['alice', 'bob', 'carol'].map((n) => l.nodes[n].idB32);
  const stranger = base32Encode(randomBytes(32));
  const good = fakePacket(A, B, 100);
  const forCarol = fakePacket(A, C, 100);
  const fromStranger = fakePacket(stranger, B, 100);
  const foreignMagic = fakePacket(A, B, 100);
  foreignMagic.data.write('NNCPE\0\0\x05', 0, 'latin1');
  const stream = Buffer.concat([
    entry(`NNCP/${B}/${A}/short`, randomBytes(100)),
    entry(`NNCP/${B}/${A}/not-a-packet-name`, randomBytes(1000)),
    entry(`NNCP/${B}/${A}/${good.id}`, good.data, '2'), // a symlink entry
    entry(`NNCP/${B}/${A}/${foreignMagic.id}`, foreignMagic.data),
    entry(`NNCP/${C}/${A}/${forCarol.id}`, forCarol.data),
    entry(`NNCP/${B}/${stranger}/${fromStranger.id}`, fromStranger.data),
    tarHeader({ name: 'NNCP-not-a-dir', mode: 0o644, size: 0, mtime: 0, type: '0' }),
    entry(`NNCP/${B}/${A}/${good.id}`, good.data),
    Buffer.alloc(2 * TAR_BLOCK),
  ]);
  const file = path.join(l.dir, 's.tar');
  fs.writeFileSync(file, stream);
  const r = await runPigeon(['bundle', '-cfg', l.nodes.bob.cfgPath, '-noprogress', '-rx'], { stdinFile: file });
  t.is(r.code, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 2, r.stderr);
  t.regex(lines[0], new RegExp(`${stranger}/rx/${fromStranger.id}: the sender is not a neighbour of ours, skipped$`));
  t.regex(lines[1], new RegExp(`Bundle transfer, received from alice ${good.id} \\(1.1 KiB\\)$`));
  t.deepEqual(listFiles(path.join(l.nodes.bob.spool)).filter((f) => !f.includes('/hdr/')), [`${A}/rx/${good.id}`]);
  const d = await runPigeon(['bundle', '-cfg', l.nodes.bob.cfgPath, '-noprogress', '-debug', '-rx'], { stdinFile: file });
  t.is(d.code, 0);
  for (const what of ['too small packet', 'Err: bad packet name', 'Err: not a file entry', 'format is unsupported', 'unknown recipient', 'expected NNCP/', 'packet already exists']) {
    t.true(d.stderr.includes(what), what);
  }
});

test('the command line: -rx xor -tx, -tx without NODE says so, an unknown node is one line; a pipe both ways', async (t) => {
  const { l, b1, b2, c1 } = await three(t);
  const alice = ['-cfg', l.nodes.alice.cfgPath, '-noprogress'];
  const both = await runPigeon(['bundle', ...alice, '-rx', '-tx', 'bob']);
  t.is(both.code, 1);
  t.is(both.stderr, 'pigeon bundle: -rx and -tx can not be set simultaneously\n');
  const none = await runPigeon(['bundle', ...alice]);
  t.is(none.code, 1);
  t.regex(none.stderr, /^pigeon bundle: at least one of -rx and -tx must be specified/);
  const noNode = await runPigeon(['bundle', ...alice, '-tx']);
  t.is(noNode.code, 0);
  t.is(noNode.stdout.length, 0);
  t.is(noNode.stderr, 'pigeon bundle: -tx without NODE: nothing written; name the nodes whose packets go into the stream\n');
  const unknown = await runPigeon(['bundle', ...alice, '-tx', 'bob', 'nosuch']);
  t.is(unknown.code, 1);
  t.is(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
  t.regex(unknown.stderr, /nosuch/);
  t.is(unknown.stdout.length, 0);

  const pipe = await bash(
    `node ${JSON.stringify(path.resolve('dist/cmd/pigeon.js'))} bundle ${alice.join(' ')} -quiet -tx -delete bob carol | cat | ` +
      `node ${JSON.stringify(path.resolve('dist/cmd/pigeon.js'))} bundle -cfg ${l.nodes.bob.cfgPath} -noprogress -rx; echo "rc=\${PIPESTATUS[*]}"`,
  );
  t.regex(pipe.stdout, /rc=0 0 0/, pipe.stderr);
  t.deepEqual(rxQueue(l, 'bob', 'alice').sort(), [b1.id, b2.id].sort());
  t.deepEqual(txQueue(l, 'alice', 'bob'), []);
  t.deepEqual(txQueue(l, 'alice', 'carol'), [], `-delete took carol's too (${c1.id})`);

  // A reader that goes away: one line, exit 1, what was not written whole stays queued.
  const again = await queueFile(l.ctx.alice, 'bob', 'again.bin', 300_000); // more than a pipe holds
  const gone = await bash(`node ${JSON.stringify(path.resolve('dist/cmd/pigeon.js'))} bundle ${alice.join(' ')} -tx -delete bob | head -c 1000 > /dev/null; echo "rc=\${PIPESTATUS[0]}"`);
  t.regex(gone.stdout, /rc=1/);
  t.regex(gone.stderr, /^\S+ ERROR Bundle transfer: writing the stream: the reader of the stream went away \(EPIPE\); what was not written whole stays queued\n$/);
  t.deepEqual(txQueue(l, 'alice', 'bob'), [again.id]);
});

test('a 64 MiB packet streams through a pipe both ways in bounded memory (peak RSS of each side far below the packet)', async (t) => {
  if (!fs.existsSync('/usr/bin/time')) {
    t.log('SKIP memory bound: /usr/bin/time is not installed');
    t.pass();
    return;
  }
  const l = await lab(t, ['alice', 'bob']);
  const small = await queueFile(l.ctx.alice, 'bob', 'small.bin', 1000);
  const pigeon = `${process.execPath} ${path.resolve('dist/cmd/pigeon.js')}`;
  const pipeline = () =>
    bash(
      `/usr/bin/time -f 'tx=%M' ${pigeon} bundle -cfg ${l.nodes.alice.cfgPath} -quiet -tx -delete bob | ` +
        `/usr/bin/time -f 'rx=%M' ${pigeon} bundle -cfg ${l.nodes.bob.cfgPath} -quiet -rx`,
    );
  const base = await pipeline();
  t.is(base.code, 0, base.stderr);
  const kb = (r: { stderr: string }, side: string) => Number(new RegExp(`${side}=(\\d+)`).exec(r.stderr)?.[1]);
  const big = await queueFile(l.ctx.alice, 'bob', 'big.bin', 64 << 20);
  const r = await pipeline();
  t.is(r.code, 0, r.stderr);
  t.deepEqual(rxQueue(l, 'bob', 'alice').sort(), [small.id, big.id].sort());
  for (const side of ['tx', 'rx']) {
    const grew = kb(r, side) - kb(base, side);
    t.log(`${side}: peak RSS ${Math.round(kb(r, side) / 1024)} MB with the 64 MiB packet, ${Math.round(kb(base, side) / 1024)} MB with 1 kB`);
    t.true(grew < 24 * 1024, `${side} peak RSS grew by ${grew} KiB for a 64 MiB packet`);
  }
});
