/**
 * Chunked files: the .nncp.meta codec (manual: Chunked files) and
 * reassembly — all checks before anything is written, an atomic result
 * that never overwrites, chunks removed only once the file is in place.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { decodeMeta, encodeMeta, expectedChunkSize } from '../src/chunked/meta.js';
import { dumpMeta, reassemble } from '../src/chunked/reass.js';
import type { Context } from '../src/context.js';
import { mthOfStream } from '../src/crypto/mth.js';
import { Logger } from '../src/log/log.js';
import { once } from '../src/stream/blockreader.js';
import { Spool } from '../src/spool/spool.js';
import type { Config } from '../src/config/types.js';
import { logFields, tmpDir } from './helpers/util.js';

async function context(t: ExecutionContext): Promise<{ ctx: Context; dir: string; log: string }> {
  const dir = await tmpDir(t);
  const log = path.join(dir, 'log');
  const ctx = {
    cfg: { path: path.join(dir, 'cfg.hjson') } as Config,
    spool: new Spool({ root: path.join(dir, 'spool'), noSync: true }),
    log: new Logger({ path: log, quiet: true }),
    quiet: true,
    debug: false,
    progress: false,
  } as Context;
  const incoming = path.join(dir, 'in');
  fs.mkdirSync(incoming);
  return { ctx, dir: incoming, log };
}

/** Write DIR/NAME.nncp.chunkN and NAME.nncp.meta the way a toss of `file -chunked` leaves them. */
async function chunkUp(dir: string, name: string, data: Buffer, chunkSize: number): Promise<string> {
  const checksums: Uint8Array[] = [];
  let n = 0;
  for (let off = 0; off === 0 || off < data.length; off += chunkSize, n++) {
    const part = data.subarray(off, off + chunkSize);
    fs.writeFileSync(path.join(dir, `${name}.nncp.chunk${n}`), part);
    checksums.push(await mthOfStream(once(part)));
  }
  const meta = path.join(dir, `${name}.nncp.meta`);
  fs.writeFileSync(meta, encodeMeta({ fileSize: data.length, chunkSize, checksums }));
  return meta;
}

test('meta codec: the manual\'s layout, byte for byte', (t) => {
  const sums = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
  const b = encodeMeta({ fileSize: 0x1_0000_0005, chunkSize: 0x1000, checksums: sums });
  t.is(b.length, 8 + 8 + 8 + 4 + 64);
  t.deepEqual(Buffer.from(b.subarray(0, 8)), Buffer.from([0x4e, 0x4e, 0x43, 0x50, 0x4d, 0, 0, 2]));
  t.is(Buffer.from(b).readBigUInt64BE(8), 0x1_0000_0005n);
  t.is(Buffer.from(b).readBigUInt64BE(16), 0x1000n);
  t.is(Buffer.from(b).readUInt32BE(24), 2);
  t.deepEqual(Buffer.from(b.subarray(28, 60)), Buffer.from(sums[0]));
  t.throws(() => decodeMeta(b), { message: /does not fit 2 chunks/ }, 'file size inconsistent with 2 chunks of 4 KiB');
  const ok = encodeMeta({ fileSize: 5000, chunkSize: 4096, checksums: sums });
  const m = decodeMeta(ok);
  t.is(m.fileSize, 5000);
  t.is(m.chunkSize, 4096);
  t.deepEqual(m.checksums.map((c) => Buffer.from(c)), sums.map((c) => Buffer.from(c)));
  t.is(expectedChunkSize(m, 0), 4096);
  t.is(expectedChunkSize(m, 1), 904);
});

test('meta codec refuses foreign, old, truncated and empty metas', (t) => {
  const good = encodeMeta({ fileSize: 10, chunkSize: 16, checksums: [new Uint8Array(32)] });
  const v1 = Uint8Array.from(good);
  v1[7] = 1;
  t.throws(() => decodeMeta(v1), { message: /old format/ });
  const foreign = Uint8Array.from(good);
  foreign[4] = 0x58;
  t.throws(() => decodeMeta(foreign), { message: /unknown magic/ });
  t.throws(() => decodeMeta(good.subarray(0, good.length - 1)), { message: /truncated/ });
  t.throws(() => decodeMeta(good.subarray(0, 12)));
  t.throws(() => decodeMeta(encodeMeta({ fileSize: 0, chunkSize: 16, checksums: [] })), { message: /no chunks/ });
});

test('reassemble: the file appears whole, chunks and meta are removed, a "reass" record is logged', async (t) => {
  const { ctx, dir, log } = await context(t);
  const data = randomBytes(300_000);
  const meta = await chunkUp(dir, 'movie.mkv', data, 131072);
  t.true(await reassemble(ctx, meta));
  t.deepEqual(fs.readdirSync(dir), ['movie.mkv']);
  t.true(fs.readFileSync(path.join(dir, 'movie.mkv')).equals(data));
  t.like(logFields(log).at(-1), { Who: 'reass', Path: meta, Msg: `Reassembling chunked file "${meta}": done` });
});

test('reassemble: exact multiples of the chunk size and empty files; -keep keeps the parts; an existing file is never overwritten', async (t) => {
  const { ctx, dir } = await context(t);
  const exact = randomBytes(2 * 65536);
  let meta = await chunkUp(dir, 'exact', exact, 65536);
  t.true(await reassemble(ctx, meta, { keep: true }));
  t.true(fs.readFileSync(path.join(dir, 'exact')).equals(exact));
  t.true(fs.existsSync(meta) && fs.existsSync(path.join(dir, 'exact.nncp.chunk1')), '-keep leaves chunks and meta');
  t.true(await reassemble(ctx, meta, { keep: true }));
  t.true(await reassemble(ctx, meta));
  t.true(fs.readFileSync(path.join(dir, 'exact.0')).equals(exact), 'second copy goes to FILE.0');
  t.true(fs.readFileSync(path.join(dir, 'exact.1')).equals(exact), 'third copy goes to FILE.1');
  t.false(fs.existsSync(meta));
  meta = await chunkUp(dir, 'empty', Buffer.alloc(0), 65536);
  t.true(await reassemble(ctx, meta));
  t.is(fs.statSync(path.join(dir, 'empty')).size, 0);
});

test('reassemble refuses a missing chunk, a chunk of the wrong size and a corrupted chunk: nothing written, parts kept, each logged', async (t) => {
  const { ctx, dir, log } = await context(t);
  const data = randomBytes(200_000);
  const meta = await chunkUp(dir, 'f', data, 65536);
  const before = fs.readdirSync(dir).sort();

  fs.renameSync(path.join(dir, 'f.nncp.chunk2'), path.join(dir, 'aside'));
  t.false(await reassemble(ctx, meta));
  t.like(logFields(log).at(-1), { Who: 'reass-chunk-miss', Chunk: '2', Msg: `Reassembling chunked file "${meta}": chunk 2 missing` });
  fs.renameSync(path.join(dir, 'aside'), path.join(dir, 'f.nncp.chunk2'));

  fs.appendFileSync(path.join(dir, 'f.nncp.chunk0'), 'x');
  t.false(await reassemble(ctx, meta));
  t.like(logFields(log).at(-1), { Who: 'reass-chunk', Chunk: '0' });
  t.regex(logFields(log).at(-1)!.Err, /^invalid size/);
  fs.truncateSync(path.join(dir, 'f.nncp.chunk0'), 65536);

  const c1 = path.join(dir, 'f.nncp.chunk1');
  const bytes = fs.readFileSync(c1);
  bytes[1000] ^= 1;
  fs.writeFileSync(c1, bytes);
  t.false(await reassemble(ctx, meta));
  t.like(logFields(log).at(-1), { Who: 'reass-chunk', Chunk: '1', Err: 'checksum is bad' });
  t.false(await reassemble(ctx, meta, { dryRun: true }));
  t.deepEqual(fs.readdirSync(dir).sort(), before, 'no output file, no temporary file, all parts kept');

  bytes[1000] ^= 1;
  fs.writeFileSync(c1, bytes);
  t.true(await reassemble(ctx, meta, { dryRun: true }));
  t.like(logFields(log).at(-1), { Who: 'reass', path: meta });
  t.deepEqual(fs.readdirSync(dir).sort(), before, '-dryrun writes nothing');
});

test('reassemble: bad meta files and names are refused and logged', async (t) => {
  const { ctx, dir, log } = await context(t);
  const garbage = path.join(dir, 'g.nncp.meta');
  fs.writeFileSync(garbage, 'garbage\n');
  t.false(await reassemble(ctx, garbage));
  t.like(logFields(log).at(-1), { Who: 'reass-bad-meta', Path: garbage, Msg: `Reassembling chunked file "${garbage}": bad meta` });
  const meta = await chunkUp(dir, 'ok', randomBytes(10), 16);
  const renamed = path.join(dir, 'ok.meta');
  fs.renameSync(meta, renamed);
  t.false(await reassemble(ctx, renamed));
  t.like(logFields(log).at(-1), { Who: 'reass' });
  t.regex(logFields(log).at(-1)!.Err, /invalid filename suffix/);
  t.false(await reassemble(ctx, path.join(dir, 'missing.nncp.meta')));
  t.like(logFields(log).at(-1), { Who: 'reass-bad-meta' });
});

test('reassemble -stdout writes the verified file to a stream; -dump prints the meta as nncp-reass does', async (t) => {
  const { ctx, dir } = await context(t);
  const data = randomBytes(150_000);
  const meta = await chunkUp(dir, 'x.bin', data, 65536);
  const out = new PassThrough();
  const got: Buffer[] = [];
  out.on('data', (b: Buffer) => got.push(b));
  t.true(await reassemble(ctx, meta, { stdout: out, keep: true }));
  t.true(Buffer.concat(got).equals(data));
  t.true(fs.existsSync(meta));
  let printed = '';
  t.true(await reassemble(ctx, meta, { dump: true, print: (s) => (printed += s) }));
  const m = decodeMeta(fs.readFileSync(meta));
  t.is(printed, dumpMeta('x.bin', m));
  t.regex(printed, /^Original filename: x\.bin\nFile size: 146 KiB \(150000 bytes\)\nChunk size: 64 KiB \(65536 bytes\)\nNumber of chunks: 3\nChecksums:\n\t0: [0-9a-f]{64}\n\t1: [0-9a-f]{64}\n\t2: [0-9a-f]{64}\n$/);
});
