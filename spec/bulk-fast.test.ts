/**
 * Bulk data fast paths.
 * exec bodies: the compressor ends its zstd frame where level 3 saves
 * nothing and stores such data in raw-block frames (copying cost), probing
 * and retrying to return to zstd where data compresses again. Checked here:
 * the frames it makes (walked block by block), round trips through libzstd
 * (pigeon's toss decoder, zstd-napi's one-shot decoder, the zstd CLI when
 * installed), and packets from `pigeon exec` run by nncp-toss's and pigeon
 * toss's handles with the same stdin.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decompress } from 'zstd-napi';
import { zstdDecompress } from '../src/toss/exec.js';
import { zstdCompress, ZSTD_ADAPT } from '../src/tx/exec.js';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { packetIds, requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Small thresholds, so that a few MiB take every path. */
const SMALL = { CHECK_BYTES: 256 * KiB, PROBE_EVERY: 64 * KiB, PROBE_BYTES: 16 * KiB, FIRST_RAW: 256 * KiB, MAX_RAW: 1 * MiB };

/** Text-like data that zstd compresses well (and level 1 on a 16 KiB sample too). */
function textData(n: number, seed = 0): Buffer {
  const words = ['pigeon', 'carries', 'packets', 'between', 'nodes', 'over', 'sneakernet', 'and', 'cables', 'NNCP'];
  const parts: string[] = [];
  let x = seed + 1;
  let len = 0;
  while (len < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    const w = words[x % words.length] + ((x >>> 8) % 7 === 0 ? '\n' : ' ');
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

async function* chunked(data: Uint8Array, size = 256 * KiB): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield data.subarray(o, o + size);
}

async function compressAll(data: Uint8Array, adapt = ZSTD_ADAPT, size?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of zstdCompress(chunked(data, size), 3, adapt)) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

interface Frame {
  window: number;
  /** Block types in order: raw, rle, compressed. */
  blocks: ('raw' | 'rle' | 'zstd')[];
  /** Bytes the frame stores (raw blocks) or regenerates from (compressed blocks). */
  rawBytes: number;
}

/** Walk zstd frames (RFC 8878 section 3.1) down to their block headers; throws on anything malformed. */
function frames(b: Buffer): Frame[] {
  const res: Frame[] = [];
  let o = 0;
  while (o < b.length) {
    if (b.readUInt32LE(o) !== 0xfd2fb528) throw new Error(`no frame magic at ${o}`);
    const fhd = b[o + 4];
    o += 5;
    const fcsFlag = fhd >> 6;
    const single = (fhd >> 5) & 1;
    const checksum = (fhd >> 2) & 1;
    const didFlag = fhd & 3;
    let window = 0;
    if (!single) {
      const wd = b[o++];
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    o += [0, 1, 2, 4][didFlag] + (fcsFlag === 0 ? single : [1, 2, 4, 8][fcsFlag]);
    const f: Frame = { window, blocks: [], rawBytes: 0 };
    for (;;) {
      const h = b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);
      o += 3;
      const last = h & 1;
      const type = (h >> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw new Error(`reserved block type at ${o - 3}`);
      f.blocks.push((['raw', 'rle', 'zstd'] as const)[type]);
      if (type === 0) f.rawBytes += size;
      o += type === 1 ? 1 : size;
      if (o > b.length) throw new Error('block runs past the end');
      if (last) break;
    }
    o += checksum ? 4 : 0;
    res.push(f);
  }
  return res;
}

async function decodeStream(z: Buffer, piece = 100_000): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of zstdDecompress(chunked(z, piece))) out.push(Buffer.from(c));
  return Buffer.concat(out);
}

function zstdCli(z: Buffer): Buffer | null {
  const r = spawnSync('zstd', ['-dc'], { input: z, maxBuffer: 1 << 30 });
  if (r.error) return null;
  if (r.status !== 0) throw new Error(`zstd -dc: ${r.stderr}`);
  return r.stdout;
}

async function roundTrips(t: import('ava').ExecutionContext, data: Buffer, z: Buffer): Promise<void> {
  t.true((await decodeStream(z)).equals(data), 'pigeon toss decoder (libzstd streaming)');
  t.true(Buffer.from(await decompress(z)).equals(data), 'zstd-napi one-shot decoder');
  const cli = zstdCli(z);
  if (cli) t.true(cli.equals(data), 'zstd CLI');
  else t.log('zstd CLI not installed: that decoder not tried');
}

test('random data: after the first check the compressor stores raw frames (128 KiB blocks at most), with zstd trials spaced 256 KiB, 512 KiB, then 1 MiB apart', async (t) => {
  const data = randomBytes(4 * MiB);
  const z = await compressAll(data, SMALL);
  const fs_ = frames(z);
  // zstd (256 KiB, check) | raw 256 KiB | zstd trial | raw 512 KiB | trial | raw 1 MiB | trial | raw 1 MiB ...
  t.true(fs_.length >= 6, `${fs_.length} frames`);
  const raw = fs_.filter((f) => f.window === 128 * KiB && f.blocks.every((b) => b === 'raw'));
  t.true(raw.length >= 3);
  t.deepEqual(raw.slice(0, 3).map((f) => f.rawBytes), [256 * KiB, 512 * KiB, 1 * MiB]);
  for (const f of raw) t.is(f.blocks.at(-1), 'raw');
  const stored = raw.reduce((s, f) => s + f.rawBytes, 0);
  t.true(stored >= 2.5 * MiB, `${stored} bytes stored raw`);
  t.true(z.length < data.length + 1024, `${z.length} bytes for ${data.length}`);
  await roundTrips(t, data, z);
});

test('text data stays in one zstd frame, as compressed as without the adaptation', async (t) => {
  const data = textData(3 * MiB);
  const z = await compressAll(data, SMALL);
  const fs_ = frames(z);
  t.is(fs_.length, 1);
  // (libzstd itself may end a frame with an empty raw block.)
  t.true(fs_[0].blocks.includes('zstd'));
  t.true(fs_[0].rawBytes < 64 * KiB, `${fs_[0].rawBytes} bytes stored raw`);
  const plain = await compressAll(data, { ...SMALL, CHECK_BYTES: Infinity });
  t.is(frames(plain).length, 1);
  t.true(z.length <= plain.length * 1.01 + 64, `${z.length} vs ${plain.length} bytes`);
  t.true(z.length < data.length / 4);
  await roundTrips(t, data, z);
});

test('random then text: a level-1 probe turns zstd back on within one probe interval', async (t) => {
  const rnd = randomBytes(2 * MiB);
  const txt = textData(2 * MiB, 7);
  const data = Buffer.concat([rnd, txt]);
  const z = await compressAll(data, SMALL);
  // The text costs little more than it does alone (at most one probe interval of it stored raw).
  t.true(z.length < rnd.length + 1024 + SMALL.PROBE_EVERY + (await compressAll(txt, SMALL)).length * 1.2, `${z.length} bytes`);
  const last = frames(z).at(-1)!;
  t.true(last.blocks.includes('zstd'));
  await roundTrips(t, data, z);
});

test('a random block repeated (matches longer than a probe sample) is found again by a zstd trial', async (t) => {
  const block = randomBytes(128 * KiB);
  // 1 MiB of fresh random data, then 3 MiB of one 128 KiB block repeated: level 3 (2 MiB window) finds the repeats.
  const data = Buffer.concat([randomBytes(1 * MiB), ...Array.from({ length: 24 }, () => block)]);
  const z = await compressAll(data, SMALL);
  t.true(z.length < 1.6 * MiB, `${z.length} bytes`);
  await roundTrips(t, data, z);
});

test('odd chunk sizes, tiny and empty inputs round-trip; input shorter than a check is one zstd frame as before', async (t) => {
  for (const size of [3, 1000, 100_000, 300_001]) {
    const data = size < 1000 ? Buffer.concat([randomBytes(300_001), textData(99_999)]) : Buffer.concat([randomBytes(1 * MiB + 17), textData(333_333), randomBytes(700_001)]);
    const z = await compressAll(data, SMALL, size);
    frames(z);
    t.true((await decodeStream(z, 777)).equals(data), `chunks of ${size}`);
  }
  for (const data of [Buffer.alloc(0), Buffer.from('x'), randomBytes(200 * KiB)]) {
    const z = await compressAll(data, SMALL);
    t.is(frames(z).length, 1);
    t.true((await decodeStream(z)).equals(data));
  }
});

test('the decoder hands out whole MiB pieces, and a frame ending exactly where a piece fills is not taken for a cut frame', async (t) => {
  // Each of these frames regenerates a whole number of MiB, so the decoder's 1 MiB output
  // fills exactly at a frame's end; the next call, with no input left, moves nothing.
  const one = randomBytes(3 * MiB);
  const two = textData(2 * MiB, 7);
  const z = Buffer.concat([await compressAll(one), await compressAll(two), await compressAll(one)]);
  t.is(frames(z).length, 3);
  const data = Buffer.concat([one, two, one]);
  for (const piece of [100_000, 1 * MiB, 2 * MiB + 256, z.length]) {
    const sizes: number[] = [];
    const out: Buffer[] = [];
    for await (const c of zstdDecompress(chunked(z, piece))) {
      sizes.push(c.length);
      out.push(Buffer.from(c));
    }
    t.true(Buffer.concat(out).equals(data), `input pieces of ${piece}`);
    t.true(sizes.every((s) => s === 1 * MiB), `input pieces of ${piece}: ${sizes.join(' ')}`);
  }
  // A cut frame is still one.
  await t.throwsAsync(decodeStream(z.subarray(0, z.length - 1000)), { message: /middle of a zstd frame/ });
});

// ---- interop: the default thresholds, through the CLI ----

const ENV = { NNCPNOSYNC: '1' };

function carry(from: TestNode, to: TestNode, keep: boolean): void {
  const tx = path.join(from.spool, to.idB32, 'tx');
  const rx = path.join(to.spool, from.idB32, 'rx');
  fs.mkdirSync(rx, { recursive: true });
  for (const id of packetIds(tx)) {
    if (keep) fs.copyFileSync(path.join(tx, id), path.join(rx, id));
    else fs.renameSync(path.join(tx, id), path.join(rx, id));
  }
}

test('pigeon exec of 14 MiB mixing random and text data: nncp-toss and pigeon toss hand the handle the same stdin', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const out = path.join(root, 'out');
  const { alice, bob } = await makeNodes(root, ['alice', 'bob'], { exec: { rec: ['/bin/sh', '-c', `cat > ${out}`] } });
  const data = Buffer.concat([randomBytes(9 * MiB), textData(3 * MiB), randomBytes(2 * MiB)]);
  const r = await runPigeon(['exec', '-quiet', '-cfg', alice.cfgPath, 'bob', 'rec'], { input: data, env: ENV });
  t.is(r.code, 0, r.stderr.toString());
  const tx = path.join(alice.spool, bob.idB32, 'tx');
  const [pkt] = packetIds(tx);
  t.truthy(pkt);
  // With the default thresholds this input takes raw frames (4-8 MiB) and zstd ones.
  const fr = frames(await compressAll(data));
  t.true(fr.some((f) => f.window === 128 * KiB && f.rawBytes === 4 * MiB && f.blocks.every((b) => b === 'raw')));
  t.true(fr.some((f) => f.blocks.includes('zstd')));
  const copy = path.join(root, 'pkt');
  fs.copyFileSync(path.join(tx, pkt), copy);
  carry(alice, bob, false);
  const n = await runNncp('toss', ['-quiet', '-cfg', bob.cfgPath], { env: ENV });
  t.is(n.code, 0, n.stderr.toString());
  t.true(fs.readFileSync(out).equals(data), 'nncp-toss');
  fs.rmSync(out);
  // The same packet again, tossed by pigeon.
  fs.rmSync(path.join(bob.spool, alice.idB32), { recursive: true, force: true });
  fs.rmSync(path.join(bob.spool, 'tmp'), { recursive: true, force: true });
  const rx = path.join(bob.spool, alice.idB32, 'rx');
  fs.mkdirSync(rx, { recursive: true });
  fs.copyFileSync(copy, path.join(rx, pkt));
  const p = await runPigeon(['toss', '-quiet', '-cfg', bob.cfgPath], { env: ENV });
  t.is(p.code, 0, p.stderr.toString());
  t.true(fs.readFileSync(out).equals(data), 'pigeon toss');
});
