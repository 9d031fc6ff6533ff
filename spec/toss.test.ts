/**
 * pigeon toss on pigeon-made packets, one packet type at a time: what is
 * delivered, what is refused (with which log record), what stays queued,
 * and that the rest of the queue is processed either way. Interop with the
 * reference is in toss-interop.test.ts, faults in toss-faults.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { compress } from 'zstd-napi';
import { base32Decode, base32Encode } from '../src/codec/base32.js';
import { findNode } from '../src/config/types.js';
import { generateAreaKeys } from '../src/crypto/keys.js';
import type { Context } from '../src/context.js';
import { iBytes } from '../src/format.js';
import { parseLog, type LogRecord } from '../src/log/log.js';
import { decryptPacket, encryptPacket, openPlain } from '../src/packet/encrypted.js';
import { PktType, type PlainHeader } from '../src/packet/header.js';
import { pktSizeWithoutEnc } from '../src/toss/common.js';
import { areaMsgHash } from '../src/packet/header.js';
import { tossAll } from '../src/toss/toss.js';
import { txPacket } from '../src/tx/send.js';
import { lab as makeLab, nodeContext, saveNode, type Lab, type TestNode } from './helpers/nncp.js';
import { carry, chunks, plainOf, sendPacket } from './helpers/packets.js';
import { listFiles, logRecords, runPigeon } from './helpers/util.js';

const enc = new TextEncoder();

/** Nodes that all know each other (incoming, exec sh/cat/env, freq.path for every neighbour); `edit` may change their configs. */
const lab = (t: ExecutionContext, names: string[], edit?: (nodes: Record<string, TestNode>) => void): Promise<Lab> =>
  makeLab(t, names, { exec: { sh: ['/bin/sh', '-c'], cat: ['/bin/cat'], env: ['/usr/bin/env'] }, edit });

/** The one record about packet `id` (its Pkt field; ack records name two packets, the first is ours). */
function recordOf(t: ExecutionContext, node: TestNode, id: string, who?: string): LogRecord {
  const text = fs.existsSync(node.log) ? fs.readFileSync(node.log, 'utf8') : '';
  const found = text.split('\n\n').filter((r) => r.includes(`\nPkt: ${id}\n`) || r.startsWith(`Pkt: ${id}\n`)).map((r) => parseLog(r)[0]);
  const pick = who ? found.filter((r) => r.who === who) : found;
  t.is(pick.length, 1, `expected one ${who ?? ''} record about ${id}, got ${pick.map((r) => r.who).join(', ')}`);
  return pick[0];
}

function hasHdr(ctx: Context, nodeId: string, id: string): boolean {
  return fs.existsSync(ctx.spool.hdrPath(nodeId, 'rx', id));
}

// ---------------------------------------------------------------- file

test('file: delivered into incoming with subdirectories, 0666 less umask, logged as the reference does, packet and hdr/ removed', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const data = randomBytes(300_000);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'sub/dir/f.bin'), data);
  const hello = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'hello.txt'), enc.encode('hello\n'));
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: true, tossed: 2, failed: 0 });
  const inc = l.nodes.bob.incoming;
  t.deepEqual(fs.readFileSync(path.join(inc, 'sub/dir/f.bin')), data);
  t.is(fs.readFileSync(path.join(inc, 'hello.txt'), 'utf8'), 'hello\n');
  t.deepEqual(listFiles(inc), ['hello.txt', 'sub/dir/f.bin'], 'no temporary file left behind');
  const umask = process.umask();
  t.is(fs.statSync(path.join(inc, 'sub/dir/f.bin')).mode & 0o777, 0o666 & ~umask);
  t.is(fs.statSync(path.join(inc, 'sub')).mode & 0o777, 0o777 & ~umask);
  t.false(fs.existsSync(p.rxPath));
  t.false(hasHdr(l.ctx.bob, l.nodes.alice.idB32, p.id));
  const rec = recordOf(t, l.nodes.bob, p.id);
  t.is(rec.who, 'rx');
  t.deepEqual(
    [...rec.fields.entries()].filter(([k]) => k !== 'When'),
    [
      ['Who', 'rx'],
      ['Node', l.nodes.alice.idB32],
      ['Pkt', p.id],
      ['Nice', '96'],
      ['Size', String(data.length)],
      ['Type', 'file'],
      ['Dst', 'sub/dir/f.bin'],
      ['Msg', `Got file sub/dir/f.bin (293 KiB) from alice`],
    ],
  );
  t.is(recordOf(t, l.nodes.bob, hello.id).fields.get('Msg'), 'Got file hello.txt (6 B) from alice');
});

test('file: an existing file is kept; the new one becomes NAME.0, then NAME.1 (as the reference)', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  fs.writeFileSync(path.join(inc, 'x.txt'), 'original');
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'x.txt'), enc.encode('one'));
  t.true((await tossAll(l.ctx.bob)).ok);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'x.txt'), enc.encode('two'));
  t.true((await tossAll(l.ctx.bob)).ok);
  t.is(fs.readFileSync(path.join(inc, 'x.txt'), 'utf8'), 'original');
  t.is(fs.readFileSync(path.join(inc, 'x.txt.0'), 'utf8'), 'one');
  t.is(fs.readFileSync(path.join(inc, 'x.txt.1'), 'utf8'), 'two');
});

test('file: a dangling symlink at the destination is neither followed nor replaced', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  const target = path.join(l.dir, 'victim.txt');
  fs.symlinkSync(target, path.join(inc, 'x.txt'));
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'x.txt'), enc.encode('data'));
  t.true((await tossAll(l.ctx.bob)).ok);
  t.false(fs.existsSync(target));
  t.true(fs.lstatSync(path.join(inc, 'x.txt')).isSymbolicLink());
  t.is(fs.readFileSync(path.join(inc, 'x.txt.0'), 'utf8'), 'data');
});

test('file: a symlinked directory inside incoming that stays inside is used', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  fs.mkdirSync(path.join(inc, 'real'));
  fs.symlinkSync('real', path.join(inc, 'alias'));
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'alias/f.txt'), enc.encode('data'));
  t.true((await tossAll(l.ctx.bob)).ok);
  t.is(fs.readFileSync(path.join(inc, 'real', 'f.txt'), 'utf8'), 'data');
});

const refusals: [string, string, string, string][] = [
  // destination, Who, Err, Msg suffix
  ['../evil.txt', 'rx-traversal', 'incoming path traversal', '../evil.txt: traversal'],
  ['a/../../evil.txt', 'rx-traversal', 'incoming path traversal', 'a/../../evil.txt: traversal'],
  ['/tmp/abs.txt', 'rx-non-rel', 'non-relative destination path', '/tmp/abs.txt'],
  ['..', 'rx-traversal', 'incoming path traversal', '..: traversal'],
  ['.', 'rx-traversal', 'incoming path traversal', '.: traversal'],
  ['', 'rx-traversal', 'incoming path traversal', ': traversal'],
  ['out/escape.txt', 'rx-traversal', 'incoming path traversal: out is a symlink leading outside', 'out/escape.txt: traversal'],
];

test('file: every escape from incoming is refused, logged, and the packet kept; the rest of the queue is tossed; not ok', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  const outside = path.join(l.dir, 'outside');
  fs.mkdirSync(outside);
  fs.symlinkSync(outside, path.join(inc, 'out'));
  const bad: { id: string; rxPath: string }[] = [];
  for (const [dst] of refusals) bad.push(await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, dst), enc.encode('evil')));
  const good = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'good.txt'), enc.encode('good'));
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: false, tossed: 1, failed: refusals.length });
  t.is(fs.readFileSync(path.join(inc, 'good.txt'), 'utf8'), 'good');
  t.deepEqual(fs.readdirSync(outside), []);
  t.false(fs.readdirSync(l.nodes.bob.dir).some((n) => n.startsWith('incoming.')), 'nothing written next to incoming');
  t.false(fs.readdirSync(l.dir).some((n) => /\.\d+$/.test(n)), 'nothing written next to the node directories');
  refusals.forEach(([, who, err, msg], i) => {
    const rec = recordOf(t, l.nodes.bob, bad[i].id);
    t.is(rec.who, who);
    t.is(rec.fields.get('Err'), err);
    t.is(rec.fields.get('Msg'), `Tossing file alice/${bad[i].id} (4 B): ${msg}`);
    t.true(fs.existsSync(bad[i].rxPath), `packet for ${refusals[i][0]} kept`);
  });
  t.false(fs.existsSync(good.rxPath));
});

test('file: refused when the sender has no incoming (rx-no-incoming)', async (t) => {
  const l = await lab(t, ['alice', 'bob'], (n) => {
    delete n.bob.raw.neigh.alice.incoming;
  });
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.txt'), enc.encode('x'));
  t.false((await tossAll(l.ctx.bob)).ok);
  const rec = recordOf(t, l.nodes.bob, p.id);
  t.is(rec.who, 'rx-no-incoming');
  t.is(rec.fields.get('Err'), 'incoming is not allowed');
  t.true(fs.existsSync(p.rxPath));
  t.deepEqual(listFiles(l.nodes.bob.incoming), []);
});

test('a self.exchprv that is not the half of self.exchpub fails the toss with that ConfigError, not each packet; the packet stays', async (t) => {
  const l = await lab(t, ['alice', 'bob'], (n) => {
    n.bob.raw.self.exchprv = n.alice.raw.self.exchprv;
  });
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.txt'), enc.encode('x'));
  const err = await t.throwsAsync(tossAll(l.ctx.bob));
  t.regex(err!.message, /self\.exchprv: is not the private half of self\.exchpub$/);
  t.is(err!.name, 'ConfigError');
  t.true(fs.existsSync(p.rxPath));
  t.deepEqual(listFiles(l.nodes.bob.incoming), []);
});

// ---------------------------------------------------------------- bad packets

function flipByte(file: string, offset: number): void {
  const b = fs.readFileSync(file);
  b[offset < 0 ? b.length + offset : offset] ^= 1;
  fs.writeFileSync(file, b);
}

test('bad packets: unknown sender, bad signature, tampered block, truncated, wrong recipient: refused, logged, kept, never delivered', async (t) => {
  const l = await lab(t, ['alice', 'bob', 'carol'], (n) => {
    delete n.bob.raw.neigh.carol; // bob does not know carol
  });
  const big = randomBytes(400_000);
  const fromCarol = await (async () => {
    const res = await txPacket(l.ctx.carol, { to: findNode(l.ctx.carol.cfg, 'bob'), plain: plainOf(PktType.File, 'carol.txt'), nice: 96, payload: chunks(enc.encode('c')) });
    // carol is unknown to bob: the packet sits in alice's directory, as a relay could have put it
    const src = l.ctx.carol.spool.packetPath(res.hop.idB32, 'tx', res.pktId);
    const dst = l.ctx.bob.spool.packetPath(l.nodes.alice.idB32, 'rx', res.pktId);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.renameSync(src, dst);
    return { id: res.pktId, rxPath: dst };
  })();
  const badSig = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'badsig.txt'), enc.encode('x'));
  flipByte(badSig.rxPath, 150);
  const tampered = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'tampered.bin'), big);
  flipByte(tampered.rxPath, 300_000);
  const truncated = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'truncated.bin'), big);
  fs.truncateSync(truncated.rxPath, 172 + 2 * (128 * 1024 + 16)); // at a block boundary
  const wrongRcpt = await (async () => {
    const res = await txPacket(l.ctx.alice, { to: findNode(l.ctx.alice.cfg, 'carol'), plain: plainOf(PktType.File, 'tocarol.txt'), nice: 96, payload: chunks(enc.encode('x')) });
    const src = l.ctx.alice.spool.packetPath(res.hop.idB32, 'tx', res.pktId);
    const dst = l.ctx.bob.spool.packetPath(l.nodes.alice.idB32, 'rx', res.pktId);
    fs.renameSync(src, dst);
    return { id: res.pktId, rxPath: dst };
  })();
  const tamperedExec = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, 'sh\0touch ' + path.join(l.dir, 'ran')), big);
  flipByte(tamperedExec.rxPath, -5000);
  const good = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'good.txt'), enc.encode('good'));

  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: false, tossed: 1, failed: 6 });
  t.deepEqual(listFiles(l.nodes.bob.incoming), ['good.txt'], 'nothing of the bad packets appears, no temporary file is left');
  const expect: [typeof good, string, RegExp][] = [
    [fromCarol, 'rx-open', /^unknown node$/],
    [badSig, 'rx-unmarshal', /bad header signature/],
    [wrongRcpt, 'rx-unmarshal', /not to us/],
    [tampered, 'rx-copy', /fails authentication/],
    [truncated, 'rx-copy', /truncated/],
    [tamperedExec, 'rx-handle', /fails authentication/],
  ];
  // (issue 9: a packet whose stream fails verification is quarantined, the others are kept)
  const quarantined = new Set([tampered.id, truncated.id, tamperedExec.id]);
  for (const [p, who, err] of expect) {
    const rec = recordOf(t, l.nodes.bob, p.id, who);
    t.is(rec.who, who, p.id);
    t.regex(rec.fields.get('Err') ?? '', err);
    if (quarantined.has(p.id)) {
      t.false(fs.existsSync(p.rxPath), `${who} packet moved out of rx/`);
      t.true(fs.existsSync(l.ctx.bob.spool.quarantinePath(l.nodes.alice.idB32, p.id)), `${who} packet quarantined`);
      t.is(recordOf(t, l.nodes.bob, p.id, 'rx-quarantine').fields.get('Err'), rec.fields.get('Err'));
    } else t.true(fs.existsSync(p.rxPath), `${who} packet kept`);
  }
  t.is(recordOf(t, l.nodes.bob, fromCarol.id).fields.get('Node'), l.nodes.carol.idB32);
  t.false(fs.existsSync(good.rxPath));
});

test('a packet-named file that is not a packet is reported and left alone', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const rx = l.ctx.bob.spool.queueDir(l.nodes.alice.idB32, 'rx');
  fs.mkdirSync(rx, { recursive: true });
  const junkName = base32Encode(randomBytes(32));
  fs.writeFileSync(path.join(rx, junkName), 'not a packet at all');
  fs.writeFileSync(path.join(rx, base32Encode(randomBytes(32)) + '.part'), 'partial');
  const good = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'good.txt'), enc.encode('good'));
  const r = await tossAll(l.ctx.bob);
  t.false(r.ok);
  t.is(r.tossed, 1);
  t.true(fs.existsSync(path.join(rx, junkName)));
  t.false(fs.existsSync(good.rxPath));
  t.true(logRecords(l.nodes.bob.log).some((rec) => rec.who === 'job' && rec.fields.get('Name') === junkName));
});

// ---------------------------------------------------------------- exec

test('exec: argv = handle + args, stdin = zstd-decompressed body, environment exactly NNCP_SELF/SENDER/NICE; exec-fat gets the raw body', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const out = path.join(l.dir, 'out');
  fs.mkdirSync(out);
  const body = randomBytes(500_000);
  const script = `cat > ${out}/stdin; env > ${out}/env; printf '%s\\n' "$@" > ${out}/args`;
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.Exec, `sh\0${script}\0x\0a b\0\0c`, 77), compress(body));
  const fat = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0cat > ${out}/fat`, 5), body, 200);
  const pSize = fs.statSync(p.rxPath).size;
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: true, tossed: 2, failed: 0 });
  t.deepEqual(fs.readFileSync(path.join(out, 'stdin')), body);
  t.deepEqual(fs.readFileSync(path.join(out, 'fat')), body);
  t.is(fs.readFileSync(path.join(out, 'args'), 'utf8'), 'a b\n\nc\n');
  const env = fs
    .readFileSync(path.join(out, 'env'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('PWD=')) // sh itself sets PWD
    .sort();
  t.deepEqual(env, [`NNCP_NICE=77`, `NNCP_SELF=${l.nodes.bob.idB32}`, `NNCP_SENDER=${l.nodes.alice.idB32}`]);
  const rec = recordOf(t, l.nodes.bob, p.id);
  t.is(rec.who, 'rx');
  t.is(rec.fields.get('Type'), 'exec');
  t.is(rec.fields.get('Dst'), `sh ${script} x a b  c`);
  t.is(rec.fields.get('Size'), String(pktSizeWithoutEnc(pSize)));
  t.is(rec.fields.get('Msg'), `Got exec from alice to sh ${script} x a b  c (${iBytes(pktSizeWithoutEnc(pSize))})`);
  t.is(recordOf(t, l.nodes.bob, fat.id).fields.get('Type'), 'exec');
  t.false(fs.existsSync(p.rxPath));
  t.false(fs.existsSync(fat.rxPath));
});

test('exec: unknown handle and a failing handle are logged with the reference\'s records; packets stay; others run', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const flag = path.join(l.dir, 'ran');
  const unknown = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, 'nohandle\0arg1'), enc.encode('x'));
  const fails = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, 'sh\0echo to-stdout; cat; exit 3'), enc.encode('line1\nline2\n'));
  const ok = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${flag}`), enc.encode(''));
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: false, tossed: 1, failed: 2 });
  t.true(fs.existsSync(flag));
  const u = recordOf(t, l.nodes.bob, unknown.id);
  t.is(u.who, 'rx-no-handle');
  t.is(u.fields.get('Err'), 'No handle found');
  t.is(u.fields.get('Msg'), `Tossing exec alice/${unknown.id} (1 B): nohandle arg1`);
  const f = recordOf(t, l.nodes.bob, fails.id);
  t.is(f.who, 'rx-handle');
  t.is(f.fields.get('Err'), 'exit status 3');
  t.is(f.fields.get('Output'), 'to-stdout\nline1\nline2');
  t.is(f.fields.get('Msg'), `Tossing exec alice/${fails.id} (12 B): sh echo to-stdout; cat; exit 3: handling`);
  t.true(fs.existsSync(unknown.rxPath));
  t.true(fs.existsSync(fails.rxPath));
  t.false(fs.existsSync(ok.rxPath));
});

test('exec: a handle allowed for another node only is refused (allowlists are per sender)', async (t) => {
  const l = await lab(t, ['alice', 'bob', 'carol'], (n) => {
    n.bob.raw.neigh.alice.exec = { cat: ['/bin/cat'] };
  });
  const flag = path.join(l.dir, 'ran');
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${flag}`), enc.encode(''));
  t.false((await tossAll(l.ctx.bob)).ok);
  t.is(recordOf(t, l.nodes.bob, p.id).who, 'rx-no-handle');
  t.false(fs.existsSync(flag));
  t.true(fs.existsSync(p.rxPath));
});

test('exec: a handle that exits 0 without reading its stdin succeeds once the packet verified; a missing program is logged like Go', async (t) => {
  const l = await lab(t, ['alice', 'bob'], (n) => {
    n.bob.raw.neigh.alice.exec = { quick: ['/bin/true'], missing: ['/nonexistent/prog'] };
  });
  const quick = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, 'quick'), randomBytes(2_000_000));
  const missing = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, 'missing'), enc.encode('x'));
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: false, tossed: 1, failed: 1 });
  t.false(fs.existsSync(quick.rxPath));
  const m = recordOf(t, l.nodes.bob, missing.id);
  t.is(m.who, 'rx-handle');
  t.is(m.fields.get('Err'), 'fork/exec /nonexistent/prog: no such file or directory');
});

test.serial('exec: a slow handle slows the toss down instead of making it buffer the payload', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const size = 48 << 20;
  // Sleep before reading: without backpressure the whole payload would be decrypted into memory meanwhile.
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, 'sh\0sleep 1; wc -c > ' + path.join(l.dir, 'count')), new Uint8Array(size));
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - base)), 20);
  const r = await tossAll(l.ctx.bob);
  clearInterval(timer);
  t.true(r.ok);
  t.is(fs.readFileSync(path.join(l.dir, 'count'), 'utf8').trim(), String(size));
  t.false(fs.existsSync(p.rxPath));
  t.true(peak < 24 << 20, `buffers grew by ${peak} bytes while the handle was not reading`);
});

// ---------------------------------------------------------------- freq

test('freq: the file is queued back from freq.path at the requested niceness, chunked/minsize from the freq section', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const data = randomBytes(50_000);
  fs.writeFileSync(path.join(l.nodes.bob.freqDir, 'pub.bin'), data);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.Freq, 'pub.bin', 33), enc.encode('want/it.bin'));
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: true, tossed: 1, failed: 0 });
  const rec = recordOf(t, l.nodes.bob, p.id);
  t.is(rec.fields.get('Type'), 'freq');
  t.is(rec.fields.get('Src'), 'pub.bin');
  t.is(rec.fields.get('Dst'), 'want/it.bin');
  t.is(rec.fields.get('Msg'), 'Got file request pub.bin to alice');
  const txq = l.ctx.bob.spool.queueDir(l.nodes.alice.idB32, 'tx');
  const replies = fs.readdirSync(txq).filter((n) => n !== 'hdr');
  t.is(replies.length, 1);
  // alice opens the reply: a file packet to want/it.bin with the data, niceness 33
  const dec = await decryptPacket({
    self: l.ctx.alice.cfg.self!,
    lookup: (id) => l.ctx.alice.cfg.neighbours.get(base32Encode(id)),
    input: chunks(fs.readFileSync(path.join(txq, replies[0]))),
  });
  t.is(dec.header.nice, 33);
  const { plain, body } = await openPlain(dec.plaintext);
  t.is(plain.type, PktType.File);
  t.is(new TextDecoder().decode(plain.path), 'want/it.bin');
  const got: Uint8Array[] = [];
  for await (const c of body) got.push(c.slice());
  t.deepEqual(Buffer.concat(got), data);
});

test('freq: refused without freq.path, outside it (.., absolute, symlink), and a missing file is an rx-tx error; nothing queued', async (t) => {
  const l = await lab(t, ['alice', 'bob', 'carol'], (n) => {
    delete n.bob.raw.neigh.carol.freq;
  });
  const freqDir = l.nodes.bob.freqDir;
  fs.writeFileSync(path.join(l.nodes.bob.dir, 'secret.txt'), 'secret');
  fs.symlinkSync(path.join(l.nodes.bob.dir, 'secret.txt'), path.join(freqDir, 'link.txt'));
  const cases: [string, string, string, string][] = [
    ['../secret.txt', 'rx-no-freq', 'freqing path traversal', 'alice'],
    ['/etc/passwd', 'rx-non-rel', 'non-relative source path', 'alice'],
    ['link.txt', 'rx-no-freq', 'freqing path traversal', 'alice'],
    ['missing.txt', 'rx-tx', '', 'alice'],
    ['anything.txt', 'rx-no-freq', 'freqing is not allowed', 'carol'],
  ];
  const sent: { id: string; rxPath: string }[] = [];
  for (const [src, , , from] of cases) sent.push(await sendPacket(l, from, 'bob', plainOf(PktType.Freq, src), enc.encode('dst.txt')));
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: false, tossed: 0, failed: cases.length });
  cases.forEach(([src, who, err], i) => {
    const rec = recordOf(t, l.nodes.bob, sent[i].id);
    t.is(rec.who, who, src);
    if (err) t.is(rec.fields.get('Err'), err);
    else t.regex(rec.fields.get('Err')!, /ENOENT|no such file/);
    t.true(fs.existsSync(sent[i].rxPath));
  });
  for (const n of ['alice', 'carol']) t.false(fs.existsSync(l.ctx.bob.spool.queueDir(l.nodes[n].idB32, 'tx')), `nothing queued for ${n}`);
});

// ---------------------------------------------------------------- trns

test('trns: the carried packet is queued byte for byte for the next hop, named by its MTH, with hdr/; carol can open it', async (t) => {
  const l = await lab(t, ['alice', 'bob', 'carol'], (n) => {
    n.alice.raw.neigh.carol.via = [n.bob.idB32];
  });
  const data = randomBytes(200_000);
  const res = await txPacket(l.ctx.alice, { to: findNode(l.ctx.alice.cfg, 'carol'), plain: plainOf(PktType.File, 'relayed.bin'), nice: 40, payload: chunks(data) });
  t.is(res.hop.name, 'bob');
  const rxPath = carry(l, 'alice', l.nodes.bob.idB32, res.pktId);
  t.deepEqual(await tossAll(l.ctx.bob), { ok: true, tossed: 1, failed: 0 });
  t.false(fs.existsSync(rxPath));
  const txq = l.ctx.bob.spool.queueDir(l.nodes.carol.idB32, 'tx');
  const ids = fs.readdirSync(txq).filter((n) => n !== 'hdr');
  t.is(ids.length, 1);
  t.true(fs.existsSync(path.join(txq, 'hdr', ids[0])));
  const { MTH } = await import('../src/crypto/mth.js');
  const bytes = fs.readFileSync(path.join(txq, ids[0]));
  const m = new MTH();
  m.update(bytes);
  t.is(ids[0], base32Encode(m.digest()));
  t.deepEqual(fs.readFileSync(path.join(txq, 'hdr', ids[0])), bytes.subarray(0, 172));
  const rec = recordOf(t, l.nodes.bob, res.pktId, 'rx');
  t.is(rec.fields.get('Type'), 'trns');
  t.is(rec.fields.get('Dst'), l.nodes.carol.idB32);
  t.regex(rec.fields.get('Msg')!, /^Got transitional packet from alice to carol \(/);
  const tx = logRecords(l.nodes.bob.log).find((r) => r.who === 'tx' && r.fields.get('Type') === 'trns');
  t.is(tx?.fields.get('Node'), l.nodes.carol.idB32);
  t.is(tx?.fields.get('Nice'), '40');
  // carol tosses it
  const dst = l.ctx.carol.spool.packetPath(l.nodes.alice.idB32, 'rx', ids[0]);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.renameSync(path.join(txq, ids[0]), dst);
  t.true((await tossAll(l.ctx.carol)).ok);
  t.deepEqual(fs.readFileSync(path.join(l.nodes.carol.incoming, 'relayed.bin')), data);
});

test('trns: an unknown next hop is refused (rx-unknown) and the packet kept', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const stranger = randomBytes(32);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.Trns, stranger), randomBytes(1000));
  t.false((await tossAll(l.ctx.bob)).ok);
  const rec = recordOf(t, l.nodes.bob, p.id);
  t.is(rec.who, 'rx-unknown');
  t.is(rec.fields.get('Err'), 'unknown node');
  t.is(rec.fields.get('Dst'), base32Encode(stranger));
  t.true(fs.existsSync(p.rxPath));
});

// ---------------------------------------------------------------- ack

test('ack: removes our acknowledged tx packet and its hdr/; an unknown id is fine', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const mine = await txPacket(l.ctx.bob, { to: findNode(l.ctx.bob.cfg, 'alice'), plain: plainOf(PktType.File, 'f'), nice: 96, payload: chunks(enc.encode('x')) });
  const txPath = l.ctx.bob.spool.packetPath(l.nodes.alice.idB32, 'tx', mine.pktId);
  t.true(fs.existsSync(txPath));
  const ack = await sendPacket(l, 'alice', 'bob', plainOf(PktType.Ack, base32Decode(mine.pktId)!));
  const ack2 = await sendPacket(l, 'alice', 'bob', plainOf(PktType.Ack, randomBytes(32)));
  t.deepEqual(await tossAll(l.ctx.bob), { ok: true, tossed: 2, failed: 0 });
  t.false(fs.existsSync(txPath));
  t.false(fs.existsSync(l.ctx.bob.spool.hdrPath(l.nodes.alice.idB32, 'tx', mine.pktId)));
  const rec = logRecords(l.nodes.bob.log).find((r) => r.who === 'rx' && r.fields.get('Type') === 'ack' && r.fields.get('Msg')!.includes(mine.pktId));
  t.is(rec?.fields.get('Msg'), `Got ACK packet from alice of ${mine.pktId}`);
  t.false(fs.existsSync(ack.rxPath));
  t.false(fs.existsSync(ack2.rxPath));
});

// ---------------------------------------------------------------- area

/** An area message (the encrypted packet to the area) as nncp-file area:AREA: makes it. */
async function areaMessage(l: Lab, author: string, areaName: string, inner: PlainHeader, data: Uint8Array): Promise<Uint8Array> {
  const area = l.ctx[author].cfg.areas.get(areaName)!;
  const msg = encryptPacket({ sender: l.ctx[author].cfg.self!, recipient: { id: area.id, exchPub: area.pub! }, nice: 96, plain: inner, payload: chunks(data) });
  const parts: Uint8Array[] = [];
  for await (const c of msg.stream) parts.push(c.slice());
  return Buffer.concat(parts);
}

/** The area packet carrying `msg` from `from` to `to`'s rx queue. */
function sendArea(l: Lab, from: string, to: string, msg: Uint8Array) {
  return sendPacket(l, from, to, plainOf(PktType.Area, base32Decode(areaKeys.id)!, 0), msg);
}

let areaKeys: { id: string; pub: string; prv: string };

test.before(() => {
  const k = generateAreaKeys();
  areaKeys = { id: base32Encode(k.id), pub: base32Encode(k.pub), prv: base32Encode(k.prv) };
});

/** alice, bob and carol in area "ar": alice and carol subscribe to bob, bob to both (with or without the keys). */
function areaLab(t: ExecutionContext, bobHasKeys = true): Promise<Lab> {
  return lab(t, ['alice', 'bob', 'carol'], (n) => {
    n.alice.raw.areas = { ar: { ...areaKeys, subs: ['bob'], incoming: path.join(n.alice.dir, 'areain') } };
    n.bob.raw.areas = {
      ar: bobHasKeys ? { ...areaKeys, subs: ['alice', 'carol'], incoming: path.join(n.bob.dir, 'areain') } : { id: areaKeys.id, subs: ['alice', 'carol'] },
    };
    n.carol.raw.areas = { ar: { ...areaKeys, subs: ['bob'], incoming: path.join(n.carol.dir, 'areain') } };
  });
}

function txIds(l: Lab, owner: string, to: string): string[] {
  const q = l.ctx[owner].spool.queueDir(l.nodes[to].idB32, 'tx');
  return fs.existsSync(q) ? fs.readdirSync(q).filter((n) => n !== 'hdr') : [];
}

test('area: relayed to the other subscribers (not back to the sender), delivered from the area, seen markers; a duplicate is dropped', async (t) => {
  const l = await areaLab(t);
  const data = randomBytes(10_000);
  const msg = await areaMessage(l, 'alice', 'ar', plainOf(PktType.File, 'news.bin'), data);
  const msgHash = areaMsgHash(msg.subarray(0, 172));
  const p = await sendArea(l, 'alice', 'bob', msg);
  t.deepEqual(await tossAll(l.ctx.bob), { ok: true, tossed: 1, failed: 0 });
  t.deepEqual(fs.readFileSync(path.join(l.nodes.bob.dir, 'areain', 'news.bin')), data);
  t.false(fs.existsSync(p.rxPath));
  for (const n of ['alice', 'carol', 'bob']) t.true(fs.existsSync(path.join(l.nodes.bob.spool, l.nodes[n].idB32, 'area', areaKeys.id, msgHash)), `${n} marked`);
  t.deepEqual(txIds(l, 'bob', 'alice'), [], 'not echoed back to alice');
  const echo = txIds(l, 'bob', 'carol');
  t.is(echo.length, 1);
  const rec = logRecords(l.nodes.bob.log).find((r) => r.who === 'rx' && r.fields.get('Type') === 'file');
  t.is(rec?.fields.get('Area'), areaKeys.id);
  t.is(rec?.fields.get('AreaMsg'), msgHash);
  t.is(rec?.fields.get('Msg'), 'Got file news.bin (9.8 KiB) from ar');
  t.true(logRecords(l.nodes.bob.log).some((r) => r.who === 'rx-area-echo' && r.fields.get('Echo') === l.nodes.carol.idB32));
  // carol gets it from bob and delivers it
  const dst = l.ctx.carol.spool.packetPath(l.nodes.bob.idB32, 'rx', echo[0]);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.renameSync(l.ctx.bob.spool.packetPath(l.nodes.carol.idB32, 'tx', echo[0]), dst);
  t.true((await tossAll(l.ctx.carol)).ok);
  t.deepEqual(fs.readFileSync(path.join(l.nodes.carol.dir, 'areain', 'news.bin')), data);
  t.deepEqual(txIds(l, 'carol', 'bob'), [], 'carol does not echo it back to bob');
  // the same message reaches bob again by another route: dropped, not delivered or relayed again
  const again = await sendArea(l, 'alice', 'bob', msg);
  t.deepEqual(await tossAll(l.ctx.bob), { ok: true, tossed: 1, failed: 0 });
  t.false(fs.existsSync(again.rxPath));
  t.deepEqual(fs.readdirSync(path.join(l.nodes.bob.dir, 'areain')), ['news.bin']);
  t.deepEqual(txIds(l, 'bob', 'carol'), []);
});

test('area: without the keys bob only relays; an unknown area and an unknown author are refused', async (t) => {
  const l = await areaLab(t, false);
  const msg = await areaMessage(l, 'alice', 'ar', plainOf(PktType.File, 'x.bin'), enc.encode('x'));
  const p = await sendArea(l, 'alice', 'bob', msg);
  const unknownArea = await sendPacket(l, 'alice', 'bob', plainOf(PktType.Area, randomBytes(32), 0), msg);
  const r = await tossAll(l.ctx.bob);
  t.deepEqual(r, { ok: false, tossed: 1, failed: 1 });
  t.false(fs.existsSync(path.join(l.nodes.bob.dir, 'areain')));
  t.false(fs.existsSync(p.rxPath));
  t.is(txIds(l, 'bob', 'carol').length, 1);
  const u = recordOf(t, l.nodes.bob, unknownArea.id);
  t.is(u.who, 'rx-area-unknown');
  t.is(u.fields.get('Err'), 'unknown area');
  t.true(fs.existsSync(unknownArea.rxPath));

  // carol has the keys but does not know the author (alice) and does not allow unknown authors
  const l2 = await areaLab(t);
  l2.nodes.carol.raw.neigh = Object.fromEntries(Object.entries(l2.nodes.carol.raw.neigh as Record<string, unknown>).filter(([k]) => k !== 'alice'));
  await saveNode(l2.nodes.carol);
  l2.ctx.carol = await nodeContext(l2.nodes.carol);
  const msg2 = await areaMessage(l2, 'alice', 'ar', plainOf(PktType.File, 'y.bin'), enc.encode('y'));
  const q = await sendArea(l2, 'bob', 'carol', msg2);
  t.false((await tossAll(l2.ctx.carol)).ok);
  const rec = recordOf(t, l2.nodes.carol, q.id);
  t.is(rec.who, 'rx-area-unknown');
  t.is(rec.fields.get('Err'), 'unknown sender');
  t.is(rec.fields.get('Sender'), l2.nodes.alice.idB32);
  t.true(fs.existsSync(q.rxPath));
  t.false(fs.existsSync(path.join(l2.nodes.carol.dir, 'areain', 'y.bin')));
});

// ---------------------------------------------------------------- options

test('-seen: a marker is made; a duplicate that shows up again later is removed without being delivered twice', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'once.txt'), enc.encode('x'));
  const copy = fs.readFileSync(p.rxPath);
  t.true((await tossAll(l.ctx.bob, { doSeen: true })).ok);
  t.true(fs.existsSync(l.ctx.bob.spool.seenPath(l.nodes.alice.idB32, p.id)));
  fs.writeFileSync(p.rxPath, copy);
  t.true((await tossAll(l.ctx.bob)).ok);
  t.false(fs.existsSync(p.rxPath));
  t.deepEqual(listFiles(l.nodes.bob.incoming), ['once.txt']);
  t.true(logRecords(l.nodes.bob.log).some((r) => r.who === 'rx-seen' && r.fields.get('Pkt') === p.id));
});

test('-dryrun: everything is decrypted and checked and logged, nothing is delivered, run, queued or removed', async (t) => {
  const l = await lab(t, ['alice', 'bob', 'carol'], (n) => {
    n.alice.raw.neigh.carol.via = [n.bob.idB32];
  });
  fs.writeFileSync(path.join(l.nodes.bob.freqDir, 'f.txt'), 'f');
  const flag = path.join(l.dir, 'ran');
  const file = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'new/dir/f.txt'), enc.encode('x'));
  const exec = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${flag}`), enc.encode(''));
  const freq = await sendPacket(l, 'alice', 'bob', plainOf(PktType.Freq, 'f.txt'), enc.encode('f.txt'));
  const res = await txPacket(l.ctx.alice, { to: findNode(l.ctx.alice.cfg, 'carol'), plain: plainOf(PktType.File, 'r'), nice: 96, payload: chunks(enc.encode('r')) });
  const trns = carry(l, 'alice', l.nodes.bob.idB32, res.pktId);
  const bad = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'bad.bin'), randomBytes(300_000));
  fs.truncateSync(bad.rxPath, 200_000);
  const r = await tossAll(l.ctx.bob, { dryRun: true, doSeen: true });
  t.deepEqual(r, { ok: false, tossed: 4, failed: 1 });
  for (const p of [file.rxPath, exec.rxPath, freq.rxPath, trns, bad.rxPath]) t.true(fs.existsSync(p));
  t.deepEqual(listFiles(l.nodes.bob.incoming), []);
  t.false(fs.existsSync(path.join(l.nodes.bob.incoming, 'new')));
  t.false(fs.existsSync(flag));
  for (const n of ['alice', 'carol']) t.false(fs.existsSync(l.ctx.bob.spool.queueDir(l.nodes[n].idB32, 'tx')));
  t.false(fs.existsSync(path.join(l.ctx.bob.spool.queueDir(l.nodes.alice.idB32, 'rx'), 'seen')));
  t.is(recordOf(t, l.nodes.bob, file.id).fields.get('Msg'), 'Got file new/dir/f.txt (1 B) from alice');
  t.is(recordOf(t, l.nodes.bob, bad.id).who, 'rx-copy');
});

test('-nofile etc.: switched-off types stay queued without counting as failures; -nice leaves nicer packets; -node only that node', async (t) => {
  const l = await lab(t, ['alice', 'bob', 'carol']);
  const f = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.txt'), enc.encode('x'), 200);
  const e = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, 'cat'), enc.encode('x'), 50);
  const c = await sendPacket(l, 'carol', 'bob', plainOf(PktType.File, 'c.txt'), enc.encode('c'), 50);
  t.deepEqual(await tossAll(l.ctx.bob, { noFile: true, noExec: true }), { ok: true, tossed: 0, failed: 0 });
  for (const p of [f, e, c]) t.true(fs.existsSync(p.rxPath));
  t.deepEqual(await tossAll(l.ctx.bob, { nice: 100 }), { ok: true, tossed: 2, failed: 0 });
  t.true(fs.existsSync(f.rxPath), 'nice 200 > 100: left');
  t.false(fs.existsSync(e.rxPath));
  t.false(fs.existsSync(c.rxPath));
  const c2 = await sendPacket(l, 'carol', 'bob', plainOf(PktType.File, 'c2.txt'), enc.encode('c'));
  t.deepEqual(await tossAll(l.ctx.bob, { node: { idB32: l.nodes.alice.idB32 } }), { ok: true, tossed: 1, failed: 0 });
  t.true(fs.existsSync(c2.rxPath));
  t.false(fs.existsSync(f.rxPath));
});

test('CLI: pigeon toss exits 1 when something failed, 0 otherwise; -node of an unknown node is one line', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'ok.txt'), enc.encode('x'));
  let r = await runPigeon(['toss', '-cfg', l.nodes.bob.cfgPath, '-quiet']);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, '../bad.txt'), enc.encode('x'));
  r = await runPigeon(['toss', '-cfg', l.nodes.bob.cfgPath]);
  t.is(r.code, 1);
  t.regex(r.stderr, /ERROR Tossing file alice\/[A-Z2-7]+ \(1 B\): \.\.\/bad\.txt: traversal: incoming path traversal/);
  r = await runPigeon(['toss', '-cfg', l.nodes.bob.cfgPath, '-node', 'nobody']);
  t.is(r.code, 1);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, /nobody/);
});
