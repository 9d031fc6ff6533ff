#!/usr/bin/env node
// Regenerates mth.json: MTH hashes computed by the REFERENCE (`nncp-hash`)
// over deterministic data, so the fixture holds only each recipe and the
// reference's answer. Run: node test-fixtures/mth/make.mjs (needs nncp-hash).
//
// Data recipe "xorshift32": state = seed (uint32, non-zero); for every 4
// output bytes do state ^= state << 13; state ^= state >>> 17;
// state ^= state << 5 (all mod 2^32) and emit state little-endian; cut the
// stream to `size` bytes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function xorshift32(size, seed) {
  const out = new Uint8Array(Math.ceil(size / 4) * 4);
  const dv = new DataView(out.buffer);
  let s = seed >>> 0;
  for (let o = 0; o < out.length; o += 4) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    dv.setUint32(o, s, true);
  }
  return out.subarray(0, size);
}

const B = 128 * 1024;
const plain = [0, 1, 100, B - 1, B, B + 1, 2 * B, 3 * B, 4 * B, 5 * B, 5 * B + 7, 8 * B, 9 * B - 1, 17 * B + 3, 3 * 1024 * 1024 + 12345];
// -seek cases, including the reference's quirks past the end of the file.
const seeks = [
  [5 * B + 7, 1], [5 * B + 7, B / 2 + 3], [5 * B + 7, 2 * B], [5 * B + 7, 5 * B + 7], [5 * B + 7, 7 * B],
  [3 * B, 3 * B], [3 * B, 4 * B], [B, 10 * B], [2 * B, 5 * B], [1000, 5000], [17 * B + 3, 9 * B + 1],
];
const dir = mkdtempSync(path.join(tmpdir(), 'mth-fixture-'));
const version = execFileSync('nncp-hash', ['-version']).toString().trim();
const cases = [];
let seed = 1;
try {
  for (const size of plain) cases.push({ size, seed: seed++ });
  for (const [size, seek] of seeks) cases.push({ size, seed: seed++, seek });
  for (const c of cases) {
    const f = path.join(dir, 'data');
    writeFileSync(f, xorshift32(c.size, c.seed));
    const args = ['-file', f, ...(c.seek === undefined ? [] : ['-seek', String(c.seek)])];
    c.mth = execFileSync('nncp-hash', args).toString().trim();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const out = {
  about: 'MTH of deterministic data as printed by the reference nncp-hash -file DATA [-seek N]',
  reference: version,
  data: 'xorshift32: state=seed; per 4 bytes: s^=s<<13; s^=s>>>17; s^=s<<5 (uint32); emit s little-endian; truncate to size',
  cases,
};
writeFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'mth.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${cases.length} cases`);
