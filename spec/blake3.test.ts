/**
 * BLAKE3 wrappers against the oracle, @noble/hashes: every exported function
 * and every available backend (native and blake3-jit), on random data of the
 * lengths where BLAKE3's 64-byte blocks, 1 KiB chunks and our 128 KiB leaves
 * change behaviour.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake3 as noble } from '@noble/hashes/blake3.js';
import {
  Blake3Xof,
  DeferredHasher,
  blake3DeriveKey,
  blake3Hasher,
  blake3Impl,
  blake3Impls,
  blake3Keyed256,
  blake3Sum256,
} from '../src/crypto/blake3.js';

const KIB128 = 128 * 1024;
const LENGTHS = [0, 1, 63, 64, 65, 1023, 1024, 1025, 4096, KIB128 - 1, KIB128, KIB128 + 1, randomInt(1, 300_000), randomInt(1, 5000)];
const enc = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Split `data` at random points (some pieces empty). */
function randomSplit(data: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    const n = Math.min(data.length - off, randomInt(0, 3) === 0 ? 0 : randomInt(1, 70_000));
    parts.push(data.subarray(off, off + n));
    off += n;
  }
  parts.push(data.subarray(data.length));
  return parts;
}

test('the native backend is in use on this platform, blake3-jit is always there as fallback', (t) => {
  t.deepEqual(blake3Impls().map((i) => i.name), ['native', 'jit']);
  t.is(blake3Impl().name, 'native');
});

test('blake3Sum256 equals noble (and so does every backend)', (t) => {
  for (const len of LENGTHS) {
    const data = randomBytes(len);
    const want = hex(noble(data));
    t.is(hex(blake3Sum256(data)), want, `len ${len}`);
    for (const impl of blake3Impls()) t.is(hex(impl.sum256(data)), want, `${impl.name} len ${len}`);
  }
});

test('blake3Keyed256 equals noble keyed mode', (t) => {
  for (const len of LENGTHS) {
    const key = randomBytes(32);
    const data = randomBytes(len);
    const want = hex(noble(data, { key }));
    t.is(hex(blake3Keyed256(key, data)), want, `len ${len}`);
    t.is(hex(blake3Keyed256(new Uint8Array(key), data)), want, `plain Uint8Array key, len ${len}`);
    for (const impl of blake3Impls()) t.is(hex(impl.keyed256(key, data)), want, `${impl.name} len ${len}`);
  }
});

test('inputs that are views into a larger buffer hash only the view', (t) => {
  const big = randomBytes(5000);
  const view = big.subarray(123, 4000);
  const key = randomBytes(32);
  t.is(hex(blake3Sum256(view)), hex(noble(view.slice())));
  t.is(hex(blake3Keyed256(key, view)), hex(noble(view.slice(), { key })));
});

test('incremental hashers over random splits equal noble, and reset starts over', (t) => {
  for (const impl of blake3Impls()) {
    for (const len of LENGTHS) {
      const key = randomBytes(32);
      const data = randomBytes(len);
      for (const k of [undefined, key]) {
        const h = impl.newHasher(k);
        h.update(randomBytes(100)); // garbage, then reset
        h.reset();
        for (const p of randomSplit(data)) h.update(p);
        t.is(hex(h.digest()), hex(noble(data, k ? { key: k } : {})), `${impl.name} keyed=${!!k} len ${len}`);
      }
    }
  }
  const h = blake3Hasher(new Uint8Array(32).fill(9));
  h.update(enc('abc'));
  t.is(hex(h.digest()), hex(noble(enc('abc'), { key: new Uint8Array(32).fill(9) })));
});

test('blake3DeriveKey equals noble derive-key, for NNCP-like contexts and any output length', (t) => {
  // NNCP contexts are the 8 magic bytes (with NULs) plus " FULL" / " SIZE" / " PAD".
  const contexts = ['NNCPE\x00\x00\x06 FULL', 'NNCPE\x00\x00\x06 PAD', 'pigeon test 2024 ctx', ''];
  for (const context of contexts) {
    for (const len of [0, 1, 32, 64, 1025, randomInt(1, 3000)]) {
      const material = randomBytes(len);
      for (const outLen of [32, 16, 64, 100]) {
        const want = hex(noble(material, { context: enc(context), dkLen: outLen }));
        t.is(hex(blake3DeriveKey(context, material, outLen)), want, `${JSON.stringify(context)} len ${len} out ${outLen}`);
      }
      for (const impl of blake3Impls()) {
        t.is(hex(impl.deriveKey256(context, material)), hex(noble(material, { context: enc(context) })), `${impl.name}`);
      }
    }
  }
});

test('Blake3Xof: any split of reads gives noble\'s keyed XOF stream', (t) => {
  const splits = [
    [32],
    [1, 63, 64, 65, 1000],
    [0, 64, 0, 64, 7],
    [KIB128 + 1, 3, 1023],
    [1024, 1024, 1],
    Array.from({ length: 20 }, () => randomInt(0, 5000)),
  ];
  for (const parts of splits) {
    for (const input of [new Uint8Array(0), randomBytes(1025), randomBytes(randomInt(1, 5000))]) {
      const key = randomBytes(32);
      const xof = new Blake3Xof(key, input);
      const got = Buffer.concat(parts.map((n) => {
        const r = xof.read(n);
        t.is(r.length, n);
        return Buffer.from(r); // copy now: a reader may not reuse what it gave out
      }));
      const total = parts.reduce((a, b) => a + b, 0);
      t.is(hex(got), hex(noble(input, { key, dkLen: total })), `split ${parts.join(',')} input ${input.length}`);
    }
  }
});

test('the packet pad stream (keyed XOF of empty input) starts with the keyed hash of empty input', (t) => {
  const key = randomBytes(32);
  t.is(hex(new Blake3Xof(key).read(32)), hex(blake3Keyed256(key, new Uint8Array(0))));
});

test('digests are plain Uint8Arrays (so .slice() copies, unlike Buffer#slice)', (t) => {
  const key = randomBytes(32);
  for (const out of [blake3Sum256(enc('x')), blake3Keyed256(key, enc('x')), blake3DeriveKey('c', enc('x')), blake3Hasher(key).digest()]) {
    t.false(Buffer.isBuffer(out));
    t.is(out.constructor, Uint8Array);
  }
});

test('bad keys and lengths are refused', (t) => {
  t.throws(() => blake3Keyed256(new Uint8Array(31), new Uint8Array(1)), { instanceOf: TypeError });
  t.throws(() => blake3Hasher(new Uint8Array(33)), { instanceOf: TypeError });
  t.throws(() => new Blake3Xof(new Uint8Array(0)), { instanceOf: TypeError });
  t.throws(() => new Blake3Xof(new Uint8Array(32)).read(-1), { instanceOf: RangeError });
  t.throws(() => blake3DeriveKey('x', new Uint8Array(1), 0), { instanceOf: RangeError });
});

test('PIGEON_BLAKE3=jit forces the pure-JS fallback, with the same results', (t) => {
  const mod = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/crypto/blake3.js');
  const script = `import(${JSON.stringify(mod)}).then((m) => console.log(m.blake3Impl().name, Buffer.from(m.blake3Keyed256(new Uint8Array(32).fill(1), new TextEncoder().encode('pigeon'))).toString('hex')))`;
  const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, PIGEON_BLAKE3: 'jit' }, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), `jit ${hex(noble(enc('pigeon'), { key: new Uint8Array(32).fill(1) }))}`);
});

test('DeferredHasher: held copies before 64 KiB, the native hasher after, one digest either way', (t) => {
  for (const len of [0, 1, 1025, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, KIB128 + 5, randomInt(1, 300_000)]) {
    for (const key of [undefined, randomBytes(32)]) {
      const data = randomBytes(len);
      const h = new DeferredHasher(key);
      const scratch = Buffer.alloc(70_000);
      let fed = 0;
      for (const part of randomSplit(data)) {
        // The caller's buffer is reused at once: the hasher must have copied what it holds.
        scratch.set(part);
        h.update(scratch.subarray(0, part.length));
        scratch.fill(0xee);
        fed += part.length;
        if (randomInt(0, 4) === 0) t.is(hex(h.digest()), hex(noble(data.subarray(0, fed), { key })), `digest midway at ${fed} of ${len}`);
      }
      t.is(hex(h.digest()), hex(noble(data, { key })), `len ${len} ${key ? 'keyed' : 'plain'}`);
      h.reset();
      h.update(data.subarray(0, 100));
      t.is(hex(h.digest()), hex(noble(data.subarray(0, 100), { key })), 'after reset');
    }
  }
});
