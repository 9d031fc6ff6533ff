/**
 * MTH against three independent answers: a level-by-level implementation over
 * @noble/hashes written here from the manual's description, the reference's
 * hashes committed in test-fixtures/mth/mth.json (deterministic data), and
 * `nncp-hash -file` run now. Plus chunking invariance, resuming from an
 * offset, the parallel file reader, and misuse.
 */
import test from 'ava';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { blake3 as noble } from '@noble/hashes/blake3.js';
import {
  MTH,
  MTH_BLOCK_SIZE,
  MTH_LEAF_KEY,
  MTH_NODE_KEY,
  mthOfFile,
  mthOfStream,
  MthWorker,
  type MthEvent,
} from '../src/crypto/mth.js';
import { mthSum } from '../src/crypto/mthsum.js';
import { requireNncp, runNncp, tmpDir } from './helpers/util.js';

const B = MTH_BLOCK_SIZE;
const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const SIZES = [0, 1, B - 1, B, B + 1, 2 * B, 3 * B, 4 * B, 5 * B, 5 * B + 7, 3 * 1024 * 1024 + randomInt(1, B)];

/** The tree as the manual draws it, level by level, over noble. */
function oracle(data: Uint8Array): string {
  const leafKey = noble(enc('NNCP MTH LEAF'));
  const nodeKey = noble(enc('NNCP MTH NODE'));
  let level: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += B) level.push(noble(data.subarray(o, o + B), { key: leafKey }));
  if (level.length === 0) level.push(noble(new Uint8Array(0), { key: leafKey }));
  if (level.length === 1) level.push(level[0]);
  while (level.length > 1) {
    const up: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) up.push(noble(Buffer.concat([level[i], level[i + 1]]), { key: nodeKey }));
    if (level.length % 2 === 1) up.push(level[level.length - 1]);
    level = up;
  }
  return hex(level[0]);
}

/** The fixture's data recipe (see test-fixtures/mth/make.mjs). */
function xorshift32(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(size / 4) * 4);
  const dv = new DataView(out.buffer);
  let s = seed >>> 0;
  for (let o = 0; o < out.length; o += 4) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    dv.setUint32(o, s, true);
  }
  return out.subarray(0, size);
}

/** Random cut points, with empty pieces, single bytes and encryptor-sized (128 KiB + 16) blocks. */
function randomSplit(data: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    const pick = randomInt(0, 6);
    const want = pick === 0 ? 0 : pick === 1 ? 1 : pick === 2 ? B + 16 : pick === 3 ? B : randomInt(1, 3 * B);
    const n = Math.min(want, data.length - off);
    parts.push(data.subarray(off, off + n));
    off += n;
  }
  return parts;
}

function mthOf(data: Uint8Array, parts?: Uint8Array[]): string {
  const m = new MTH();
  for (const p of parts ?? [data]) m.update(p);
  return hex(m.digest());
}

/** Resume the way the reference does: data from `offset` first, then the whole data as prefix. */
function resumed(data: Uint8Array, offset: number, split = false): string {
  const m = new MTH({ size: data.length, offset });
  const tail = data.subarray(Math.min(offset, data.length));
  for (const p of split ? randomSplit(tail) : [tail]) m.update(p);
  for (const p of split ? randomSplit(data) : [data]) m.preadd(p);
  return hex(m.digest());
}

interface FixtureCase { size: number; seed: number; seek?: number; mth: string }
const FIXTURE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-fixtures/mth');
const fixture = JSON.parse(readFileSync(path.join(FIXTURE_DIR, 'mth.json'), 'utf8')) as { cases: FixtureCase[] };

test('the keys are plain BLAKE3-256 of the ASCII names, as nncp-hash -debug prints them', (t) => {
  // Printed by `nncp-hash -debug` (NNCP 8.8.2).
  t.is(hex(MTH_LEAF_KEY), 'e18bccbb41cb5a1110514fe50d85ea750f3d56f6238c12ac84ee2736d1f48b0b');
  t.is(hex(MTH_NODE_KEY), 'daa8f800d826a1c15a23317c4697f283761253e8a05e93074eadf0ed3e2d68a9');
  t.is(hex(MTH_LEAF_KEY), hex(noble(enc('NNCP MTH LEAF'))));
  t.is(hex(MTH_NODE_KEY), hex(noble(enc('NNCP MTH NODE'))));
  t.not(hex(MTH_LEAF_KEY), hex(noble(new Uint8Array(0), { context: enc('NNCP MTH LEAF') })));
});

test('MTH equals the noble oracle at every interesting size', (t) => {
  for (const size of SIZES) {
    const data = randomBytes(size);
    t.is(mthOf(data), oracle(data), `size ${size}`);
  }
});

test('MTH equals nncp-hash -file (the reference, run now)', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  for (const size of SIZES) {
    const data = randomBytes(size);
    const f = path.join(dir, `d${size}`);
    await writeFile(f, data);
    const r = await runNncp('hash', ['-file', f]);
    t.is(r.code, 0, r.stderr);
    t.is(r.stdout.toString(), `${mthOf(data)}\n`, `size ${size}`);
  }
});

test('MTH reproduces the reference-made fixtures (plain and -seek, quirks included)', async (t) => {
  t.true(fixture.cases.length >= 20);
  const dir = await tmpDir(t);
  for (const c of fixture.cases) {
    const data = xorshift32(c.size, c.seed);
    const what = `size ${c.size} seed ${c.seed} seek ${c.seek ?? '-'}`;
    const f = path.join(dir, 'data');
    await writeFile(f, data);
    if (c.seek === undefined) {
      t.is(mthOf(data), c.mth, what);
      t.is(oracle(data), c.mth, `oracle ${what}`);
    } else {
      t.is(resumed(data, c.seek), c.mth, what);
    }
    t.is(hex(await mthOfFile(f, { seek: c.seek, workers: 0 })), c.mth, `file ${what}`);
  }
});

test('any chunking of the input gives the same hash', (t) => {
  for (const size of [5 * B + 7, 9 * B + randomInt(0, B), 17 * B]) {
    const data = randomBytes(size);
    const want = oracle(data);
    for (let i = 0; i < 15; i++) t.is(mthOf(data, randomSplit(data)), want, `size ${size} split ${i}`);
    // One byte at a time across a leaf boundary.
    const m = new MTH();
    m.update(data.subarray(0, B - 3));
    for (let o = B - 3; o < B + 3; o++) m.update(data.subarray(o, o + 1));
    m.update(data.subarray(B + 3));
    t.is(hex(m.digest()), want);
  }
});

test('resuming from any offset gives the plain hash (when offset <= size)', async (t) => {
  for (const size of [1, 100, B, B + 1, 3 * B + 5, 8 * B, 9 * B - 1]) {
    const data = randomBytes(size);
    const want = oracle(data);
    const offsets = new Set([0, 1, B - 1, B, B + 1, 2 * B, Math.floor(size / 2), size - 1, size, randomInt(0, size + 1)]);
    for (const offset of [...offsets].filter((o) => o >= 0 && o <= size)) {
      t.is(resumed(data, offset), want, `size ${size} offset ${offset}`);
      t.is(resumed(data, offset, true), want, `split, size ${size} offset ${offset}`);
      const m = new MTH({ size, offset });
      m.update(data.subarray(offset));
      await m.preaddFrom(Readable.from([data.subarray(0, 7), data.subarray(7)]));
      t.is(hex(m.digest()), want, `preaddFrom, size ${size} offset ${offset}`);
    }
  }
});

test('prefixSize covers every leaf that starts before the offset', (t) => {
  t.is(new MTH({ size: 3 * B + 5, offset: 0 }).prefixSize, 0);
  t.is(new MTH({ size: 3 * B + 5, offset: 1 }).prefixSize, B);
  t.is(new MTH({ size: 3 * B + 5, offset: B }).prefixSize, B);
  t.is(new MTH({ size: 3 * B + 5, offset: B + 1 }).prefixSize, 2 * B);
  t.is(new MTH({ size: 3 * B + 5, offset: 3 * B + 1 }).prefixSize, 3 * B + 5);
  t.is(new MTH({ size: 0, offset: 77 }).prefixSize, 0);
});

test('events: leaves in order with their noble hashes, the last step is the root', (t) => {
  const data = randomBytes(5 * B + 7);
  const events: MthEvent[] = [];
  const m = new MTH({ onEvent: (e) => events.push(e) });
  m.update(data);
  const root = hex(m.digest());
  const leaves = events.filter((e) => e.type === 'Add' && e.level === 0).map((e) => hex(e.hash));
  const want = [];
  for (let o = 0; o < data.length; o += B) want.push(hex(noble(data.subarray(o, o + B), { key: noble(enc('NNCP MTH LEAF')) })));
  t.deepEqual(leaves, want);
  t.is(hex(events[events.length - 1].hash), root);
  t.is(events[events.length - 1].type, 'Fold');
});

test('leaf hashes computed elsewhere can be added at leaf boundaries', (t) => {
  const data = randomBytes(4 * B + 9);
  const m = new MTH();
  m.update(data.subarray(0, B));
  m.addLeafHash(noble(data.subarray(B, 2 * B), { key: MTH_LEAF_KEY }));
  m.update(data.subarray(2 * B));
  t.is(hex(m.digest()), oracle(data));
  const off = new MTH();
  off.update(data.subarray(0, 5));
  t.throws(() => off.addLeafHash(new Uint8Array(32)), { message: /leaf boundary/ });
  t.throws(() => new MTH().addLeafHash(new Uint8Array(31)), { instanceOf: RangeError });
});

test('misuse is refused with a clear error', (t) => {
  const m = new MTH({ size: 3 * B, offset: B + 5 });
  m.update(new Uint8Array(2 * B - 5));
  t.throws(() => m.digest(), { message: /first 262144 bytes fed with preadd/ });
  m.preadd(new Uint8Array(100));
  t.throws(() => m.update(new Uint8Array(1)), { message: /update after preadd/ });
  t.throws(() => m.digest(), { message: /missing/ });
  const d = new MTH();
  d.digest();
  t.throws(() => d.update(new Uint8Array(1)), { message: /after digest/ });
  t.is(hex(d.digest()), oracle(new Uint8Array(0)), 'digest is idempotent');
  t.throws(() => new MTH({ size: -1 }), { instanceOf: RangeError });
});

test('mthOfStream and the stdin path of pigeon hash (mthSum)', async (t) => {
  const data = randomBytes(3 * B + 77);
  const want = oracle(data);
  t.is(hex(await mthOfStream(Readable.from(randomSplit(data)))), want);
  t.is(hex(await mthSum({ input: Readable.from(randomSplit(data)) })), want);
});

test('mthOfFile: worker threads, this thread and the in-memory hash agree, with and without -seek', async (t) => {
  const dir = await tmpDir(t);
  // Big enough that both parts of a -seek run reach the 16 MiB where workers take over.
  const data = randomBytes(34 * 1024 * 1024 + 12345);
  const f = path.join(dir, 'big');
  await writeFile(f, data);
  const want = mthOf(data);
  for (const seek of [0, 3 * B + 1000, 17 * 1024 * 1024 + 5]) {
    for (const workers of [0, 1, 2]) {
      const progress: number[] = [];
      const got = await mthOfFile(f, { seek, workers, onProgress: (phase, done, total) => phase === 'hash' && progress.push(done - total) });
      t.is(hex(got), want, `seek ${seek} workers ${workers}`);
      t.is(progress[progress.length - 1], 0, 'progress ends at the total');
    }
  }
});

test('MthWorker (hashing on another thread) gives the same hashes, leaves the caller\'s buffers alone', async (t) => {
  const data = randomBytes(3 * 1024 * 1024 + 5); // several 1 MiB hand-overs
  const want = oracle(data);
  const w = new MthWorker({ maxInFlight: B }); // small limit: update() has to wait for the worker
  const block = Buffer.allocUnsafe(B + 16); // reused for every block, as the encryptor does
  for (let o = 0; o < data.length; o += block.length) {
    const n = data.copy(block, 0, o, o + block.length);
    await w.update(block.subarray(0, n));
    t.is(block.length, B + 16, 'our buffer is not detached');
  }
  t.is(hex(await w.digest()), want);

  const offset = 2 * B + 77;
  const r = new MthWorker({ size: data.length, offset });
  await r.update(data.subarray(offset));
  for (const p of randomSplit(data)) await r.preadd(p);
  t.is(hex(await r.digest()), want, 'resumed');

  const bad = new MthWorker({ size: data.length, offset });
  await bad.update(data.subarray(offset));
  await t.throwsAsync(() => bad.digest(), { message: /preadd before digest/ });
  await t.throwsAsync(() => bad.update(data), { message: /preadd before digest/ });
});

test('mthOfFile reports a missing file', async (t) => {
  await t.throwsAsync(() => mthOfFile(path.join(FIXTURE_DIR, 'no-such-file')), { code: 'ENOENT' });
});
