/**
 * The pieces under `bundle`: the tar header codec (src/codec/tar.ts) read
 * back by GNU tar's rules and by ours, and BlockReader.seek/readSome
 * finding a marker wherever chunk boundaries fall.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parsePaxRecords, parseTarBlock, TAR_BLOCK, tarHeader, tarPad } from '../src/codec/tar.js';
import { BlockReader } from '../src/stream/blockreader.js';
import { pieces } from './helpers/packets.js';
import { tmpDir } from './helpers/util.js';

const NAME = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRST';
const PREFIX = `NNCP/${'B'.repeat(52)}/${'C'.repeat(52)}`;

test('a header written with a prefix reads back whole, and GNU tar lists it the same', async (t) => {
  const h = tarHeader({ prefix: PREFIX, name: NAME, mode: 0o400, size: 1234, mtime: 0, type: '0' });
  t.is(h.length, TAR_BLOCK);
  const p = parseTarBlock(h);
  t.deepEqual(p, { kind: 'header', header: { format: 'ustar', name: `${PREFIX}/${NAME}`, type: '0', size: 1234 } });
  const dir = tarHeader({ name: 'NNCP', mode: 0o700, size: 0, mtime: 0, type: '5' });
  t.deepEqual(parseTarBlock(dir), { kind: 'header', header: { format: 'ustar', name: 'NNCP', type: '5', size: 0 } });
  const tmp = await tmpDir(t);
  const file = path.join(tmp, 'a.tar');
  fs.writeFileSync(file, Buffer.concat([dir, h, Buffer.alloc(1234 + tarPad(1234)), Buffer.alloc(2 * TAR_BLOCK)]));
  const r = spawnSync('tar', ['tf', file], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(r.stdout.trim().split('\n'), ['NNCP', `${PREFIX}/${NAME}`]);
});

test('a block is judged as the reference judges it: zero, checksum (unsigned or signed), formats, sizes, typeflags', (t) => {
  t.deepEqual(parseTarBlock(new Uint8Array(TAR_BLOCK)), { kind: 'zero' });
  const h = tarHeader({ name: 'x', mode: 0o644, size: 10, mtime: 0, type: '0' });
  const bad = Uint8Array.from(h);
  bad[0] ^= 1;
  t.is(parseTarBlock(bad).kind, 'bad');
  t.is(parseTarBlock(h.subarray(0, 100)).kind, 'bad');
  // GNU magic and a base-256 size.
  const gnu = Uint8Array.from(h);
  gnu.set(new TextEncoder().encode('ustar  \0'), 257);
  gnu.fill(0, 124, 136);
  gnu[124] = 0x80;
  gnu[135] = 0x07; // 7 bytes
  const fix = (b: Uint8Array, signed = false) => {
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of b) sum += signed && x > 127 ? x - 256 : x;
    b.set(new TextEncoder().encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    return b;
  };
  t.deepEqual(parseTarBlock(fix(gnu)), { kind: 'header', header: { format: 'gnu', name: 'x', type: '0', size: 7 } });
  t.is(parseTarBlock(fix(Uint8Array.from(gnu), true)).kind, 'header', 'a signed checksum is accepted too');
  // V7 (no magic): NUL typeflag is a file, or a directory when the name ends in "/".
  const v7 = Uint8Array.from(h);
  v7.fill(0, 257, 265);
  v7[156] = 0;
  t.deepEqual(parseTarBlock(fix(v7)), { kind: 'header', header: { format: 'v7', name: 'x', type: '0', size: 10 } });
  v7[1] = 0x2f; // "x/"
  t.deepEqual(parseTarBlock(fix(v7)), { kind: 'header', header: { format: 'v7', name: 'x/', type: '5', size: 10 } });
});

test('PAX records parse; malformed ones are refused with a reason', (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  const m = parsePaxRecords(enc('30 mtime=1432668921.098285006\n11 path=ab\n'));
  t.deepEqual(m, new Map([['mtime', '1432668921.098285006'], ['path', 'ab']]));
  t.is(typeof parsePaxRecords(enc('99 path=ab\n')), 'string');
  t.is(typeof parsePaxRecords(enc('11 path=abX')), 'string');
  t.is(typeof parsePaxRecords(enc('nonsense')), 'string');
});


test('seek finds every marker, whatever the chunking; readSome hands views without losing a byte', async (t) => {
  const marker = new TextEncoder().encode('NNCP');
  const parts: Uint8Array[] = [];
  const want: number[] = [];
  let len = 0;
  for (let i = 0; i < 40; i++) {
    // Random filler never holding "NNCP" by chance: no 'N' in it.
    const filler = randomBytes(1 + (i * 37) % 300).map((b) => (b === 0x4e ? 0x4f : b));
    parts.push(filler);
    len += filler.length;
    want.push(len);
    parts.push(marker, Buffer.from([i]));
    len += marker.length + 1;
  }
  const data = Buffer.concat(parts);
  for (const sizes of [[1], [2], [3], [5, 1, 7], [4096], [333, 1, 2]]) {
    const r = new BlockReader(pieces(data, sizes));
    const found: number[] = [];
    const after: number[] = [];
    while (await r.seek(marker)) {
      found.push(r.consumed);
      const m = await r.read(4);
      t.deepEqual(Buffer.from(m).toString(), 'NNCP');
      const next = await r.readSome(1);
      after.push(next[0]);
    }
    t.deepEqual(found, want, `chunks of ${sizes.join(',')}`);
    t.deepEqual(after, want.map((_, i) => i));
    t.is(r.consumed, data.length);
  }
  // Nothing matches: everything is discarded, false.
  const r = new BlockReader(pieces(Buffer.from('NNC NN N NNC'), [2]));
  t.false(await r.seek(marker));
  t.is(r.consumed, 12);
});
