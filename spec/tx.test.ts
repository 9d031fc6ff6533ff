/**
 * The sending commands (file, exec, freq, trns, ack) as pigeon makes their
 * packets: every queued packet is opened with the recipient's keys by
 * pigeon's own decryptPacket and checked for type, niceness (outer and
 * plain), path and payload; defaults come from the CLI; bad input fails with
 * one line and leaves nothing in the spool or its tmp/.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decompress } from 'zstd-napi';
import { decodeMeta } from '../src/chunked/meta.js';
import { base32Decode, base32Encode } from '../src/codec/base32.js';
import { mthOfStream } from '../src/crypto/mth.js';
import { decryptPacket, openPlain } from '../src/packet/encrypted.js';
import { EncHeader, PktType, PlainHeader } from '../src/packet/header.js';
import { txAck } from '../src/tx/ack.js';
import { execPath, txExec } from '../src/tx/exec.js';
import { txFreq } from '../src/tx/freq.js';
import { cleanRelPath, txFile } from '../src/tx/file.js';
import { parseVia } from '../src/tx/route.js';
import { once } from '../src/stream/blockreader.js';
import { generateAreaKeys } from '../src/crypto/keys.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { nodeContext, saveNode, tmpNodes, type MakeNodesOptions, type TestNode } from './helpers/nncp.js';
import { asText, bash, listFiles, logFields, packetIds, PIGEON_JS, run, runPigeon } from './helpers/util.js';

type Nodes = Record<string, TestNode>;

/** Like makeNodes (same layout and configuration), with keys generated in-process: fast. */
function nodes(t: ExecutionContext, names: string[], opts: Pick<MakeNodesOptions, 'neighExtra'> = {}): Promise<Nodes> {
  return tmpNodes(t, names, { ...opts, generator: 'pigeon' });
}

function txDir(from: TestNode, to: TestNode): string {
  return path.join(from.spool, to.idB32, 'tx');
}

/** Files in the spool's tmp/ (must stay empty after failures). */
function tmpFiles(n: TestNode): string[] {
  try {
    return fs.readdirSync(path.join(n.spool, 'tmp'));
  } catch {
    return [];
  }
}

/** Every packet file anywhere in a spool (tx and rx queues). */
function allPackets(n: TestNode): string[] {
  return listFiles(n.spool).filter((r) => /(^|\/)(tx|rx)\/[A-Z2-7]{52}$/.test(r)).map((r) => path.join(n.spool, r));
}

interface Opened {
  header: EncHeader;
  plain: PlainHeader;
  body: Buffer;
}

/** Decrypt a packet as `by` (signature checked against the senders in `all`). */
async function open(by: TestNode, all: Nodes, data: Uint8Array | string): Promise<Opened> {
  const bytes = typeof data === 'string' ? fs.readFileSync(data) : data;
  const dec = await decryptPacket({
    self: by.keys,
    lookup: (id) => Object.values(all).find((n) => Buffer.from(n.keys.id).equals(Buffer.from(id)))?.keys,
    input: once(bytes),
  });
  const { plain, body } = await openPlain(dec.plaintext);
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(Buffer.from(c));
  return { header: dec.header, plain, body: Buffer.concat(parts) };
}

/** The only packet queued from `from` to `to`. */
async function onlyPacket(t: ExecutionContext, from: TestNode, to: TestNode): Promise<string> {
  const list = packetIds(txDir(from, to));
  t.is(list.length, 1, `one packet queued for ${to.name}`);
  return path.join(txDir(from, to), list[0]);
}

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');

/** Send through the library (for tests where the CLI is not the point): quiet context of `from`. */
async function send(from: TestNode, to: string, src: string, dst: string, extra: Partial<Parameters<typeof txFile>[1]> = {}, input?: string | Uint8Array): Promise<void> {
  const ctx = await nodeContext(from);
  await txFile(ctx, { to: ctx.cfg.byName.get(to)!, src, dst, nice: 224, input: input === undefined ? undefined : once(Buffer.from(input)), ...extra });
}


// ---- file ----

test('file: a regular file becomes one file packet with nice B, its basename as path, its bytes as payload, and a tx log record', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const src = path.join(alice.dir, 'report.bin');
  const data = randomBytes(200_000);
  fs.writeFileSync(src, data);
  const r = await runPigeon(['file', '-cfg', alice.cfgPath, '-noprogress', src, 'bob:']);
  t.is(r.code, 0, r.stderr);
  const pkt = await onlyPacket(t, alice, bob);
  const o = await open(bob, { alice, bob }, pkt);
  t.is(o.plain.type, PktType.File);
  t.is(o.header.nice, 224);
  t.is(o.plain.nice, 224);
  t.is(text(o.plain.path), 'report.bin');
  t.true(o.body.equals(data));
  t.deepEqual(Buffer.from(o.header.sender), Buffer.from(alice.keys.id));
  const rec = logFields(alice.log).find((x) => x.Who === 'tx');
  t.truthy(rec);
  t.like(rec, { Type: 'file', Node: bob.idB32, Nice: '224', Src: src, Dst: 'report.bin', Size: String(200_000 + 276), Pkt: path.basename(pkt) });
  t.is(rec!.Msg, `File ${src} (196 KiB) is sent to bob:report.bin`);
  t.true(fs.existsSync(path.join(txDir(alice, bob), 'hdr', path.basename(pkt))), 'hdr/ file written');
  t.deepEqual(tmpFiles(alice), []);
});

test('file: NODE:DST names the destination (cleaned), -nice is honoured', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const src = path.join(alice.dir, 'x');
  fs.writeFileSync(src, 'x');
  const r = await runPigeon(['file', '-cfg', alice.cfgPath, '-nice', 'F+2', src, 'bob:some//dir/./name.txt']);
  t.is(r.code, 0, r.stderr);
  const o = await open(bob, { alice, bob }, await onlyPacket(t, alice, bob));
  t.is(text(o.plain.path), 'some/dir/name.txt');
  t.is(o.header.nice, 34);
  t.is(o.plain.nice, 34);
});

test('file: stdin ("-") is streamed as the payload', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const data = randomBytes(300_000);
  const r = await runPigeon(['file', '-cfg', alice.cfgPath, '-', 'bob:from-stdin'], { input: data });
  t.is(r.code, 0, r.stderr);
  const o = await open(bob, { alice, bob }, await onlyPacket(t, alice, bob));
  t.is(text(o.plain.path), 'from-stdin');
  t.true(o.body.equals(data));
  t.like(logFields(alice.log).find((x) => x.Who === 'tx'), { Src: '-', Dst: 'from-stdin' });
});

test('file -: stdin read from a regular file, a shell pipe and a socket gives the same payload', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const data = randomBytes(3 * 256 * 1024 + 12345);
  const src = path.join(alice.dir, 'in.bin');
  fs.writeFileSync(src, data);
  const viaFile = await runPigeon(['file', '-cfg', alice.cfgPath, '-quiet', '-', 'bob:from-file'], { stdinFile: src });
  t.is(viaFile.code, 0, viaFile.stderr);
  const viaPipe = await bash(`cat "${src}" | "${process.execPath}" "${PIGEON_JS}" file -cfg "${alice.cfgPath}" -quiet - bob:from-pipe`);
  t.is(viaPipe.code, 0, viaPipe.stderr);
  const viaSocket = await runPigeon(['file', '-cfg', alice.cfgPath, '-quiet', '-', 'bob:from-socket'], { input: data });
  t.is(viaSocket.code, 0, viaSocket.stderr);
  const got = new Map<string, Buffer>();
  for (const id of packetIds(txDir(alice, bob))) {
    const o = await open(bob, { alice, bob }, path.join(txDir(alice, bob), id));
    got.set(text(o.plain.path), o.body);
  }
  t.deepEqual([...got.keys()].sort(), ['from-file', 'from-pipe', 'from-socket']);
  for (const b of got.values()) t.true(b.equals(data));
});

test('file: a directory travels as a PAX archive named DIR.tar that GNU tar extracts with the same contents', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const dir = path.join(alice.dir, 'photos');
  fs.mkdirSync(path.join(dir, 'sub', 'deeper'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'empty'));
  const big = randomBytes(70_000);
  fs.writeFileSync(path.join(dir, 'sub', 'big.bin'), big);
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a\n');
  const longName = 'n'.repeat(120) + '-é.txt';
  fs.writeFileSync(path.join(dir, 'sub', longName), 'long');
  fs.symlinkSync('a.txt', path.join(dir, 'link'));
  fs.utimesSync(path.join(dir, 'a.txt'), new Date('2020-01-02T03:04:05.250Z'), new Date('2020-01-02T03:04:05.250Z'));
  const r = await runPigeon(['file', '-cfg', alice.cfgPath, dir, 'bob:']);
  t.is(r.code, 0, r.stderr);
  const o = await open(bob, { alice, bob }, await onlyPacket(t, alice, bob));
  t.is(text(o.plain.path), 'photos.tar');
  const rec = logFields(alice.log).find((x) => x.Who === 'tx');
  t.is(Number(rec!.Size), o.body.length + 276, 'the size announced up front is the archive size');
  const tarFile = path.join(bob.dir, 'photos.tar');
  fs.writeFileSync(tarFile, o.body);
  const out = path.join(bob.dir, 'x');
  fs.mkdirSync(out);
  const x = asText(await run('tar', ['-xf', tarFile, '-C', out]));
  t.is(x.code, 0, x.stderr);
  t.true(fs.readFileSync(path.join(out, 'photos', 'sub', 'big.bin')).equals(big));
  t.is(fs.readFileSync(path.join(out, 'photos', 'a.txt'), 'utf8'), 'a\n');
  t.is(fs.readFileSync(path.join(out, 'photos', 'sub', longName), 'utf8'), 'long');
  t.true(fs.statSync(path.join(out, 'photos', 'empty')).isDirectory());
  t.true(fs.statSync(path.join(out, 'photos', 'sub', 'deeper')).isDirectory());
  t.false(fs.existsSync(path.join(out, 'photos', 'link')), 'symlinks are skipped');
  t.is(fs.statSync(path.join(out, 'photos', 'a.txt')).mtime.toISOString(), '2020-01-02T03:04:05.250Z', 'sub-second mtime kept');
  const list = asText(await run('tar', ['-tvf', tarFile]));
  t.regex(list.stdout, /^drwxrwxrwx 0\/0 +0 .* photos$/m);
  t.regex(list.stdout, /^-rw-rw-rw- 0\/0 +70000 .* photos\/sub\/big\.bin$/m);
  // Directories first, then files, each in name order, as the reference lists them.
  const names = list.stdout.trim().split('\n').map((l) => l.split(' ').pop());
  t.deepEqual(names.slice(0, 4), ['photos', 'photos/empty', 'photos/sub', 'photos/sub/deeper']);
});

test('file -chunked: chunk packets DST.nncp.chunkN and a meta file whose checksums are the chunks\' MTH', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const src = path.join(alice.dir, 'big');
  const data = randomBytes(300_000);
  fs.writeFileSync(src, data);
  const r = await runPigeon(['file', '-cfg', alice.cfgPath, '-chunked', '128', src, 'bob:big.bin']);
  t.is(r.code, 0, r.stderr);
  const opened = await Promise.all(packetIds(txDir(alice, bob)).map((id) => open(bob, { alice, bob }, path.join(txDir(alice, bob), id))));
  const byPath = new Map(opened.map((o) => [text(o.plain.path), o]));
  t.deepEqual([...byPath.keys()].sort(), ['big.bin.nncp.chunk0', 'big.bin.nncp.chunk1', 'big.bin.nncp.chunk2', 'big.bin.nncp.meta']);
  const chunks = [0, 1, 2].map((i) => byPath.get(`big.bin.nncp.chunk${i}`)!.body);
  t.deepEqual(chunks.map((c) => c.length), [131072, 131072, 300_000 - 262144]);
  t.true(Buffer.concat(chunks).equals(data));
  const meta = decodeMeta(byPath.get('big.bin.nncp.meta')!.body);
  t.is(meta.fileSize, 300_000);
  t.is(meta.chunkSize, 131072);
  for (let i = 0; i < 3; i++) t.deepEqual(Buffer.from(meta.checksums[i]), Buffer.from(await mthOfStream(once(chunks[i]))));
  const recs = logFields(alice.log).filter((x) => x.Who === 'tx');
  t.deepEqual(recs.map((x) => [x.Dst, x.Size]), [
    ['big.bin.nncp.chunk0', '131348'],
    ['big.bin.nncp.chunk1', '131348'],
    ['big.bin.nncp.chunk2', String(300_000 - 262144 + 276)],
    ['big.bin.nncp.meta', '124'],
  ]);
});

test('file -chunked: stdin is chunked too (size unknown), a file no bigger than a chunk is sent whole, the neighbour\'s freq.chunked is the default and 0 turns it off', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob'], {
    neighExtra: (owner) => (owner === 'alice' ? { freq: { chunked: 64 } } : {}),
  });
  const data = randomBytes(100_000);
  let r = await runPigeon(['file', '-cfg', alice.cfgPath, '-', 'bob:s'], { input: data });
  t.is(r.code, 0, r.stderr);
  let names = await Promise.all(packetIds(txDir(alice, bob)).map(async (id) => text((await open(bob, { alice, bob }, path.join(txDir(alice, bob), id))).plain.path)));
  t.deepEqual(names.sort(), ['s.nncp.chunk0', 's.nncp.chunk1', 's.nncp.meta'], 'freq.chunked 64 KiB applies by default');
  fs.rmSync(path.join(alice.spool, bob.idB32), { recursive: true });

  const small = path.join(alice.dir, 'small');
  fs.writeFileSync(small, randomBytes(65536));
  await send(alice, 'bob', small, '', { chunked: 64 * 1024 });
  names = await Promise.all(packetIds(txDir(alice, bob)).map(async (id) => text((await open(bob, { alice, bob }, path.join(txDir(alice, bob), id))).plain.path)));
  t.deepEqual(names, ['small'], 'a file of exactly one chunk is not chunked');
  fs.rmSync(path.join(alice.spool, bob.idB32), { recursive: true });

  await send(alice, 'bob', '-', 'whole', { chunked: 0 }, data);
  const o = await open(bob, { alice, bob }, await onlyPacket(t, alice, bob));
  t.is(text(o.plain.path), 'whole');
  t.true(o.body.equals(data));
});

test('file -minsize pads each packet; the neighbour\'s freq.minsize is the default and -minsize 0 turns it off', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob'], {
    neighExtra: (owner) => (owner === 'alice' ? { freq: { minsize: 8 } } : {}),
  });
  const src = path.join(alice.dir, 'tiny');
  fs.writeFileSync(src, 'tiny');
  let r = await runPigeon(['file', '-cfg', alice.cfgPath, src, 'bob:a']);
  t.is(r.code, 0, r.stderr);
  const a = await onlyPacket(t, alice, bob);
  t.is(fs.statSync(a).size, 8192, 'padded to freq.minsize');
  t.is(text((await open(bob, { alice, bob }, a)).body), 'tiny');
  fs.rmSync(a);
  r = await runPigeon(['file', '-cfg', alice.cfgPath, '-minsize', '0', src, 'bob:b']);
  t.is(r.code, 0, r.stderr);
  t.true(fs.statSync(await onlyPacket(t, alice, bob)).size < 1024);
  fs.rmSync(path.join(alice.spool, bob.idB32), { recursive: true });
  await send(alice, 'bob', src, 'c', { minSize: 20 * 1024 });
  t.is(fs.statSync(await onlyPacket(t, alice, bob)).size, 20480);
});

test('file refuses bad input with one line and leaves nothing queued nor in tmp/', async (t) => {
  const { alice } = await nodes(t, ['alice', 'bob']);
  const src = path.join(alice.dir, 'f');
  fs.writeFileSync(src, randomBytes(5000));
  const cases: [string[], RegExp, string?][] = [
    [[src, 'dave:'], /unknown node dave/],
    [['-nice', 'X', src, 'bob:'], /-nice "X": not a niceness/],
    [[src, 'bob:/etc/passwd'], /absolute paths are refused/],
    [[path.join(alice.dir, 'missing'), 'bob:'], /missing: no such file or directory/],
    [[src, 'bob'], /expected NODE:\[DST\]/],
    [['-maxsize', '1', src, 'bob:'], /more than the 1024 bytes -maxsize allows/],
    [['-maxsize', '1', '-', 'bob:big'], /too big|maxsize/, 'stdin'],
  ];
  const results = await Promise.all(cases.map(([args, , input]) => runPigeon(['file', '-cfg', alice.cfgPath, '-noprogress', ...args], { input: input ? randomBytes(5000) : undefined })));
  for (const [i, [args, re]] of cases.entries()) {
    const r = results[i];
    t.is(r.code, 1, args.join(' '));
    t.regex(r.stderr, re, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  }
  // The same checks, and more, through the library.
  const ctx = await nodeContext(alice);
  const to = ctx.cfg.byName.get('bob')!;
  const lib: [Parameters<typeof txFile>[1], RegExp][] = [
    [{ to, src, dst: 'a/../../x', nice: 224 }, /leads outside the incoming directory/],
    [{ to, src: '-', dst: '', nice: 224, input: once(new Uint8Array(1)) }, /give the destination file name/],
    [{ to, src, dst: 'x'.repeat(300), nice: 224 }, /at most 255/],
    [{ to, src: '/dev/null', dst: 'n', nice: 224 }, /unsupported file type/],
    [{ to, src, dst: 'c', nice: 224, chunked: 4096, maxSize: 2048 }, /-maxsize allows/],
    [{ to, src, dst: 'v', nice: 224, via: [randomBytes(32)] }, /not a known neighbour/],
  ];
  for (const [opts, re] of lib) await t.throwsAsync(txFile(ctx, opts), { message: re });
  t.throws(() => parseVia(ctx, 'bob,nobody'), { message: /-via bob,nobody: unknown node "nobody"/ });
  t.deepEqual(parseVia(ctx, '-'), []);
  t.is(parseVia(ctx, ''), undefined);
  t.deepEqual(allPackets(alice), []);
  t.deepEqual(tmpFiles(alice), []);
});

test('file: a chunked send that fails part-way takes back the chunks it had queued', async (t) => {
  const { alice } = await nodes(t, ['alice', 'bob']);
  const ctx = await nodeContext(alice);
  const to = ctx.cfg.byName.get('bob')!;
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield randomBytes(200_000);
    throw new Error('disk went away');
  }
  await t.throwsAsync(txFile(ctx, { to, src: '-', dst: 'part', nice: 224, chunked: 65536, input: failing() }), { message: /disk went away/ });
  t.deepEqual(allPackets(alice), []);
  t.deepEqual(tmpFiles(alice), []);
  const errRec = logFields(alice.log).find((x) => x.Who === 'tx' && x.Err !== undefined);
  t.like(errRec, { Err: 'disk went away', Type: 'file', Size: '0', Pkt: '' });
});

test('file -via routes through relays: the relay can open only a trns layer that holds the packet for the destination; -via - sends direct', async (t) => {
  const { alice, bob, carol } = await nodes(t, ['alice', 'bob', 'carol'], {
    neighExtra: (owner, neigh) => (owner === 'alice' && neigh === 'carol' ? { via: ['bob'] } : {}),
  });
  const all = { alice, bob, carol };
  const src = path.join(alice.dir, 'f');
  fs.writeFileSync(src, 'via me');
  let r = await runPigeon(['file', '-cfg', alice.cfgPath, src, 'carol:f']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(packetIds(txDir(alice, carol)), [], 'nothing queued for carol directly');
  const outer = await open(bob, all, await onlyPacket(t, alice, bob));
  t.is(outer.plain.type, PktType.Trns);
  t.is(outer.plain.nice, 0);
  t.deepEqual(Buffer.from(outer.plain.path), Buffer.from(carol.keys.id));
  t.is(outer.header.nice, 224);
  await t.throwsAsync(open(carol, all, await onlyPacket(t, alice, bob)), undefined, 'carol cannot open the outer layer');
  const inner = await open(carol, all, outer.body);
  t.is(inner.plain.type, PktType.File);
  t.is(text(inner.body), 'via me');
  t.like(logFields(alice.log).find((x) => x.Who === 'tx'), { Node: carol.idB32, Dst: 'f' });

  fs.rmSync(path.join(alice.spool, bob.idB32), { recursive: true });
  r = await runPigeon(['file', '-cfg', alice.cfgPath, '-via', '-', src, 'carol:g']);
  t.is(r.code, 0, r.stderr);
  t.is(text((await open(carol, all, await onlyPacket(t, alice, carol))).plain.path), 'g');
  await send(alice, 'carol', src, 'h', { via: [bob.keys.id, bob.keys.id] });
  const l1 = await open(bob, all, await onlyPacket(t, alice, bob));
  const l2 = await open(bob, all, l1.body);
  t.deepEqual(Buffer.from(l1.plain.path), Buffer.from(bob.keys.id), 'first relay forwards to the second');
  t.deepEqual(Buffer.from(l2.plain.path), Buffer.from(carol.keys.id));
  t.is(text((await open(carol, all, l2.body)).plain.path), 'h');
});

// ---- areas ----

test('file/exec to area:AREA: an area packet queued to ourselves holding a message encrypted to the area, marked as seen by us, logged as tx-area', async (t) => {
  const ak = generateAreaKeys();
  const { alice } = await nodes(t, ['alice', 'bob']);
  alice.raw.areas = { myarea: { id: base32Encode(ak.id), pub: base32Encode(ak.pub), prv: base32Encode(ak.prv), subs: ['bob'] } };
  await saveNode(alice);
  const src = path.join(alice.dir, 'news.txt');
  fs.writeFileSync(src, 'to everybody');
  let r = await runPigeon(['file', '-cfg', alice.cfgPath, src, 'area:myarea:']);
  t.is(r.code, 0, r.stderr);
  r = await runPigeon(['exec', '-cfg', alice.cfgPath, 'area:myarea', 'cat', '-n'], { input: 'exec body' });
  t.is(r.code, 0, r.stderr);
  const queue = txDir(alice, alice);
  const areaSelf = { ...alice, keys: { ...alice.keys, id: ak.id, exchPrv: ak.prv } } as TestNode;
  const seen = fs.readdirSync(path.join(alice.spool, alice.idB32, 'area', base32Encode(ak.id))).sort();
  const got: Opened[] = [];
  const hashes: string[] = [];
  for (const id of packetIds(queue)) {
    const outer = await open(alice, { alice }, path.join(queue, id));
    t.is(outer.plain.type, PktType.Area);
    t.is(outer.plain.nice, 0);
    t.deepEqual(Buffer.from(outer.plain.path), Buffer.from(ak.id));
    const header = outer.body.subarray(0, 172);
    t.deepEqual(Buffer.from(header.subarray(44, 76)), Buffer.from(ak.id), 'the message is addressed to the area');
    hashes.push(base32Encode(blake2b(header, { dkLen: 32 })));
    got.push(await open(areaSelf, { alice }, outer.body));
  }
  t.deepEqual(hashes.sort(), seen, 'each message is marked as seen by us');
  const file = got.find((o) => o.plain.type === PktType.File)!;
  t.is(text(file.plain.path), 'news.txt');
  t.is(text(file.body), 'to everybody');
  const exec = got.find((o) => o.plain.type === PktType.Exec)!;
  t.deepEqual(text(exec.plain.path).split('\0'), ['cat', '-n']);
  t.is(text(await decompress(exec.body)), 'exec body');
  const recs = logFields(alice.log);
  t.is(recs.filter((x) => x.Who === 'tx-area').length, 2);
  t.like(recs.find((x) => x.Who === 'tx-area'), { Node: alice.idB32, Area: base32Encode(ak.id), Size: String(fs.statSync(src).size + 276 + 172 + 16 + 16) });
  t.like(recs.find((x) => x.Who === 'tx' && x.Type === 'file'), { Node: alice.idB32, Dst: 'news.txt', Msg: `File ${src} (288 B) is sent to self:news.txt` });
  r = await runPigeon(['file', '-cfg', alice.cfgPath, src, 'area:nosuch:']);
  t.is(r.code, 1);
  t.regex(r.stderr, /unknown area nosuch/);
});

// ---- exec ----

test('exec: stdin is zstd-compressed, path is HANDLE\\0ARGS (dashes pass through), nice P and replynice B by default', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const body = Buffer.from('hello exec\n'.repeat(1000));
  const r = await runPigeon(['exec', '-cfg', alice.cfgPath, 'bob', 'sendmail', '-t', 'root@example', '-nice', 'x y'], { input: body });
  t.is(r.code, 0, r.stderr);
  const o = await open(bob, { alice, bob }, await onlyPacket(t, alice, bob));
  t.is(o.plain.type, PktType.Exec);
  t.is(o.header.nice, 96);
  t.is(o.plain.nice, 224);
  t.deepEqual(text(o.plain.path).split('\0'), ['sendmail', '-t', 'root@example', '-nice', 'x y']);
  t.true(o.body.length < body.length, 'compressed');
  t.true(Buffer.from(await decompress(o.body)).equals(body));
  t.like(logFields(alice.log).find((x) => x.Who === 'tx'), {
    Type: 'exec',
    Node: bob.idB32,
    Nice: '96',
    ReplyNice: '224',
    Dst: 'sendmail -t root@example -nice x y',
    Size: String(o.body.length + 276),
  });
});

test('exec -nocompress sends exec-fat; -nice/-replynice go to the outer and plain headers; empty stdin is fine', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  let r = await runPigeon(['exec', '-cfg', alice.cfgPath, '-nocompress', '-nice', 'F', '-replynice', '7', 'bob', 'cat'], { input: 'raw body' });
  t.is(r.code, 0, r.stderr);
  const pkt = await onlyPacket(t, alice, bob);
  const o = await open(bob, { alice, bob }, pkt);
  t.is(o.plain.type, PktType.ExecFat);
  t.is(o.header.nice, 32);
  t.is(o.plain.nice, 7);
  t.is(text(o.plain.path), 'cat');
  t.is(text(o.body), 'raw body');
  fs.rmSync(pkt);
  const ctx = await nodeContext(alice);
  await txExec(ctx, { to: ctx.cfg.byName.get('bob')!, handle: 'cat', args: [], nice: 96, replyNice: 224, input: once(new Uint8Array(0)) });
  const e = await open(bob, { alice, bob }, await onlyPacket(t, alice, bob));
  t.is(Buffer.from(await decompress(e.body)).length, 0);
});

test('exec refuses bad input with one line, nothing queued', async (t) => {
  const { alice } = await nodes(t, ['alice', 'bob']);
  const cases: [string[], RegExp][] = [
    [['bob'], /usage: pigeon exec/],
    [['-frobnicate', 'bob', 'cat'], /^pigeon exec: unknown flag -frobnicate; pigeon exec -h lists the flags$/m],
    [['bob', 'cat', 'a'.repeat(300)], /at most 255/],
    [['-maxsize', '1', 'bob', 'cat'], /too big|maxsize/],
  ];
  const results = await Promise.all(cases.map(([args]) => runPigeon(['exec', '-cfg', alice.cfgPath, ...args], { input: randomBytes(100_000) })));
  for (const [i, [args, re]] of cases.entries()) {
    const r = results[i];
    t.not(r.code, 0, args.join(' '));
    t.regex(r.stderr, re, args.join(' '));
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  t.deepEqual(allPackets(alice), []);
  t.deepEqual(tmpFiles(alice), []);
  t.throws(() => execPath('h', ['a\0b']), { message: /NUL byte/ });
});

test('exec streams a large stdin in bounded memory (peak RSS well under 100 MB for 256 MiB)', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const child = spawn(process.execPath, [PIGEON_JS, 'exec', '-cfg', alice.cfgPath, '-quiet', 'bob', 'cat'], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, NNCPNOSYNC: '1' },
  });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  let hwm = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) hwm = Math.max(hwm, Number(m[1]));
    } catch {
      // exited
    }
  }, 20);
  const total = 256 << 20;
  const block = randomBytes(1 << 20);
  for (let sent = 0; sent < total; sent += block.length) {
    block[0] = sent & 255; // vary the data a little
    if (!child.stdin.write(Buffer.from(block))) await new Promise((r) => child.stdin.once('drain', r));
  }
  child.stdin.end();
  const code = await new Promise((r) => child.on('close', r));
  clearInterval(poll);
  t.is(code, 0, stderr);
  t.true(hwm > 0, 'RSS was sampled');
  t.log(`peak RSS ${Math.round(hwm / 1024)} MB`);
  t.true(hwm < 100 * 1024, `peak RSS ${hwm} kB`);
  t.is(packetIds(txDir(alice, bob)).length, 1);
});

// ---- freq ----

test('freq: path is SRC, payload is DST (default: SRC\'s last element), nice N and replynice B by default', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  let r = await runPigeon(['freq', '-cfg', alice.cfgPath, 'bob:dir/song.ogg']);
  t.is(r.code, 0, r.stderr);
  let pkt = await onlyPacket(t, alice, bob);
  let o = await open(bob, { alice, bob }, pkt);
  t.is(o.plain.type, PktType.Freq);
  t.is(o.header.nice, 160);
  t.is(o.plain.nice, 224);
  t.is(text(o.plain.path), 'dir/song.ogg');
  t.is(text(o.body), 'song.ogg');
  t.like(logFields(alice.log).find((x) => x.Who === 'tx'), { Type: 'freq', Nice: '160', ReplyNice: '224', Src: 'dir/song.ogg', Dst: 'song.ogg' });
  fs.rmSync(pkt);
  r = await runPigeon(['freq', '-cfg', alice.cfgPath, '-nice', 'P', '-replynice', 'F', 'bob:a/b', 'local/name']);
  t.is(r.code, 0, r.stderr);
  pkt = await onlyPacket(t, alice, bob);
  o = await open(bob, { alice, bob }, pkt);
  t.is(o.header.nice, 96);
  t.is(o.plain.nice, 32);
  t.is(text(o.body), 'local/name');
  fs.rmSync(pkt);
  for (const [args, re] of [
    [['bob:/etc/passwd'], /source \/etc\/passwd: absolute paths are refused/],
    [['bob'], /expected NODE:SRC/],
  ] as [string[], RegExp][]) {
    r = await runPigeon(['freq', '-cfg', alice.cfgPath, ...args]);
    t.is(r.code, 1);
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  const ctx = await nodeContext(alice);
  const to = ctx.cfg.byName.get('bob')!;
  await t.throwsAsync(txFreq(ctx, { to, src: 'x', dst: '/abs', nice: 160, replyNice: 224 }), { message: /destination \/abs: absolute paths are refused/ });
  await t.throwsAsync(txFreq(ctx, { to, src: '../x', dst: 'x', nice: 160, replyNice: 224 }), { message: /leads outside the remote's freq.path/ });
  t.deepEqual(allPackets(alice), []);
});

// ---- ack ----

/** Run pigeon with file descriptor 4 open on a file; returns its content. */
async function runWithFd4(args: string[], fd4?: string): Promise<{ code: number; stderr: string; fd4: string }> {
  const fd = fd4 ? fs.openSync(fd4, 'w') : null;
  try {
    const r = await runPigeon(args, { extraFds: ['ignore', fd ?? 'ignore'] });
    return { code: r.code, stderr: r.stderr, fd4: fd4 ? fs.readFileSync(fd4, 'utf8') : '' };
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

test('ack -node: one ACK packet (path = packet id, no payload) per received packet, listed as NODE/PKT on fd 4; ACKs are not ACKed', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  // Alice queues two files and an ACK for bob; move them into bob's rx queue.
  for (const name of ['one', 'two']) {
    await send(alice, 'bob', '-', name, {}, name);
  }
  const aliceCtx = await nodeContext(alice);
  const fakeId = base32Encode(randomBytes(32));
  await txAck(aliceCtx, { to: aliceCtx.cfg.byName.get('bob')!, pktId: fakeId, nice: 160 });
  const rx = path.join(bob.spool, alice.idB32, 'rx');
  fs.mkdirSync(rx, { recursive: true });
  const received: string[] = [];
  for (const id of packetIds(txDir(alice, bob))) {
    fs.renameSync(path.join(txDir(alice, bob), id), path.join(rx, id));
    received.push(id);
  }
  const fd4 = path.join(bob.dir, 'acks');
  const r = await runWithFd4(['ack', '-cfg', bob.cfgPath, '-node', 'alice'], fd4);
  t.is(r.code, 0, r.stderr);
  const lines = r.fd4.trim().split('\n');
  t.is(lines.length, 2, 'the ACK packet itself is skipped');
  const acked: string[] = [];
  for (const line of lines) {
    const [nodeId, pkt] = line.split('/');
    t.is(nodeId, alice.idB32);
    const o = await open(alice, { alice, bob }, path.join(txDir(bob, alice), pkt));
    t.is(o.plain.type, PktType.Ack);
    t.is(o.header.nice, 160, 'nice N by default');
    t.is(o.plain.nice, 160);
    t.is(o.body.length, 0);
    acked.push(base32Encode(o.plain.path));
  }
  const files: string[] = [];
  for (const id of received) {
    const o = await open(bob, { alice, bob }, path.join(rx, id));
    if (o.plain.type !== PktType.Ack) files.push(id);
  }
  t.deepEqual(acked.sort(), files.sort());
  const recs = logFields(bob.log);
  t.is(recs.filter((x) => x.Who === 'tx' && x.Type === 'ack').length, 2);
  t.true(recs.some((x) => x.Who === 'ack-read-if-ack' && x.Msg.endsWith(': it is ACK, skipping')));
  t.like(recs.find((x) => x.Who === 'tx'), { Node: alice.idB32, Nice: '160' });
  t.deepEqual(packetIds(path.join(bob.spool, alice.idB32, 'rx')).length, 3, 'rx packets stay where they are');

  // Without fd 4 open nothing breaks.
  const again = await runWithFd4(['ack', '-cfg', bob.cfgPath, '-node', 'alice']);
  t.is(again.code, 0, again.stderr);
  t.is(packetIds(txDir(bob, alice)).length, 4);
});

test('ack -pkt makes one ACK with -nice/-minsize; usage errors are one line', async (t) => {
  const { alice, bob } = await nodes(t, ['alice', 'bob']);
  const id = base32Encode(randomBytes(32));
  const fd4 = path.join(bob.dir, 'acks');
  const r = await runWithFd4(['ack', '-cfg', bob.cfgPath, '-node', 'alice', '-pkt', id, '-nice', 'B', '-minsize', '4'], fd4);
  t.is(r.code, 0, r.stderr);
  const [nodeId, pkt] = r.fd4.trim().split('/');
  t.is(nodeId, alice.idB32);
  const file = path.join(txDir(bob, alice), pkt);
  t.is(fs.statSync(file).size, 4096);
  const o = await open(alice, { alice, bob }, file);
  t.deepEqual(Buffer.from(o.plain.path), Buffer.from(base32Decode(id)!));
  t.is(o.header.nice, 224);
  for (const [args, re] of [
    [[], /-node NODE/],
    [['-all', '-node', 'alice'], /either -all or -node/],
    [['-node', 'alice', '-pkt', 'NOTANID'], /not a packet id/],
  ] as [string[], RegExp][]) {
    const e = await runPigeon(['ack', '-cfg', bob.cfgPath, ...args]);
    t.not(e.code, 0);
    t.regex(e.stderr, re);
    t.is(e.stderr.trim().split('\n').length, 1);
  }
});

test('ack: an rx packet from an unknown sender is logged and makes the exit code 1, the others are still ACKed', async (t) => {
  const { alice, bob, carol } = await nodes(t, ['alice', 'bob', 'carol']);
  for (const from of [alice, carol]) {
    await send(from, 'bob', '-', 'x', {}, 'x');
  }
  const rx = path.join(bob.spool, alice.idB32, 'rx');
  fs.mkdirSync(rx, { recursive: true });
  for (const from of [alice, carol]) for (const id of packetIds(txDir(from, bob))) fs.renameSync(path.join(txDir(from, bob), id), path.join(rx, id));
  // bob forgets carol
  delete bob.raw.neigh.carol;
  await saveNode(bob);
  const fd4 = path.join(bob.dir, 'acks');
  const r = await runWithFd4(['ack', '-cfg', bob.cfgPath, '-node', 'alice'], fd4);
  t.is(r.code, 1);
  t.is(r.fd4.trim().split('\n').length, 1);
  t.true(logFields(bob.log).some((x) => x.Who === 'ack-read' && x.Err === 'unknown node'));
});

// ---- trns ----

test('trns wraps an existing packet for -via relays; the relay finds the original packet, byte for byte, addressed to the destination', async (t) => {
  const { alice, bob, carol } = await nodes(t, ['alice', 'bob', 'carol']);
  const all = { alice, bob, carol };
  await send(alice, 'carol', '-', 't', {}, 'transit');
  const orig = await onlyPacket(t, alice, carol);
  const origBytes = fs.readFileSync(orig);
  let r = await runPigeon(['trns', '-cfg', alice.cfgPath, '-via', 'bob', '-nice', 'N', `carol:${path.basename(orig)}`]);
  t.is(r.code, 0, r.stderr);
  t.true(fs.existsSync(orig), 'the original stays');
  const wrapped = await open(bob, all, await onlyPacket(t, alice, bob));
  t.is(wrapped.plain.type, PktType.Trns);
  t.deepEqual(Buffer.from(wrapped.plain.path), Buffer.from(carol.keys.id));
  t.is(wrapped.header.nice, 160);
  t.true(wrapped.body.equals(origBytes));
  // By path, with the recipient's configured via, is refused without any relay.
  const copy = path.join(alice.dir, 'pkt');
  fs.copyFileSync(orig, copy);
  r = await runPigeon(['trns', '-cfg', alice.cfgPath, copy]);
  t.is(r.code, 1);
  t.regex(r.stderr, /no relay to send it through/);
  r = await runPigeon(['trns', '-cfg', alice.cfgPath, '-via', 'bob', path.join(alice.dir, 'missing')]);
  t.is(r.code, 1);
  t.regex(r.stderr, /neither an existing file nor NODE:PKT/);
  fs.writeFileSync(copy, 'garbage that is not a packet at all, but long enough to hold a header'.repeat(4));
  r = await runPigeon(['trns', '-cfg', alice.cfgPath, '-via', 'bob', copy]);
  t.is(r.code, 1);
  t.regex(r.stderr, /unknown magic/);
  t.deepEqual(tmpFiles(alice), []);
});

test('cleanRelPath cleans like filepath.Clean and refuses escapes', (t) => {
  t.is(cleanRelPath('a//b/./c/', 'd'), 'a/b/c');
  t.is(cleanRelPath('a/../b', 'd'), 'b');
  t.throws(() => cleanRelPath('..', 'd'));
  t.throws(() => cleanRelPath('.', 'd'));
  t.throws(() => cleanRelPath('/x', 'd'));
  t.throws(() => cleanRelPath('a/../../x', 'd'));
  t.throws(() => cleanRelPath('', 'd'));
});
