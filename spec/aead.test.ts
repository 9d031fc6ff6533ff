/**
 * The two ChaCha20-Poly1305 engines (the native addon and node:crypto) give
 * noble's results, one block or many at a time; a flipped bit stops a batch
 * exactly at its block. On CI the native engine must be the one in use.
 */
import test from 'ava';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from 'node:crypto';
import { aead, aeadFallbackReason, nodeAead, type Aead } from '../src/crypto/aead.js';
import { nativeModule } from '../src/native.js';

const nonce = (i: number) => {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(i));
  return n;
};

test('the native engine is built and loaded (required on CI)', (t) => {
  if (aead().engine !== 'native') {
    if (process.env.CI) t.fail(`native AEAD not in use on CI: ${aeadFallbackReason()}`);
    else t.log(`!!! native AEAD not in use (${aeadFallbackReason()}): only node:crypto is tested here`);
  }
  t.pass();
});

const engines: Aead[] = [nodeAead, ...(aead().engine === 'native' ? [aead()] : [])];

for (const e of engines) {
  test(`${e.engine}: single blocks equal noble at odd sizes and counters, and refuse a wrong key, counter, AD or tag`, (t) => {
    for (const len of [0, 1, 15, 16, 17, 1000, 65535, 128 * 1024]) {
      const key = randomBytes(32);
      const ad = randomBytes(32);
      const counter = [0, 1, 2 ** 32 + 5, 2 ** 40 - 1][len % 4];
      const pt = randomBytes(len);
      const ct = new Uint8Array(len + 16);
      e.seal(key, counter, ad, pt, ct);
      t.deepEqual(ct, chacha20poly1305(key, nonce(counter), ad).encrypt(pt), `seal ${len}`);
      const back = new Uint8Array(len);
      t.true(e.open(key, counter, ad, ct, back));
      t.deepEqual(Buffer.from(back), pt);
      t.false(e.open(randomBytes(32), counter, ad, ct, back), 'wrong key');
      t.false(e.open(key, counter + 1, ad, ct, back), 'wrong counter');
      t.false(e.open(key, counter, randomBytes(32), ct, back), 'wrong AD');
      const bad = Uint8Array.from(ct);
      bad[bad.length - 1] ^= 1;
      t.false(e.open(key, counter, ad, bad, back), 'bad tag');
    }
  });

  test(`${e.engine}: batches equal block-by-block noble, and stop at the first bad block`, async (t) => {
    const B = 4096 + 7;
    const n = 9;
    const key = randomBytes(32);
    const ad = randomBytes(32);
    const pt = randomBytes(B * n);
    const ct = new Uint8Array((B + 16) * n);
    await e.sealBatch(key, 100, ad, pt, ct, B, n);
    for (let i = 0; i < n; i++) {
      t.deepEqual(ct.subarray(i * (B + 16), (i + 1) * (B + 16)), chacha20poly1305(key, nonce(100 + i), ad).encrypt(pt.subarray(i * B, (i + 1) * B)));
    }
    const out = new Uint8Array(B * n);
    t.is(await e.openBatch(key, 100, ad, ct, out, B, n), n);
    t.deepEqual(Buffer.from(out), pt);
    ct[5 * (B + 16) + 3] ^= 0x80;
    t.is(await e.openBatch(key, 100, ad, ct, out, B, n), 5);
    t.is(await e.openBatch(key, 101, ad, ct, out, B, n), 0, 'counters are part of the nonce');
  });
}

if (aead().engine === 'native') {
  test('native: arguments that do not fit are refused with a TypeError, not a crash', async (t) => {
    const e = aead();
    t.throws(() => e.open(new Uint8Array(31), 0, new Uint8Array(0), new Uint8Array(32), new Uint8Array(16)), { instanceOf: TypeError });
    t.throws(() => e.open(new Uint8Array(32), 0, new Uint8Array(0), new Uint8Array(32), new Uint8Array(15)), { instanceOf: TypeError });
    t.throws(() => e.seal(new Uint8Array(32), -1, new Uint8Array(0), new Uint8Array(32), new Uint8Array(48)), { instanceOf: TypeError });
    t.throws(() => e.seal(new Uint8Array(32), 0, new Uint8Array(0), new Uint8Array(32), new Uint8Array(47)), { instanceOf: TypeError });
    await t.throwsAsync(() => e.openBatch(new Uint8Array(32), 0, new Uint8Array(0), new Uint8Array(100), new Uint8Array(100), 100, 1), { instanceOf: TypeError });
    // A batch counts its nonces, so it takes a counter, never a fixed nonce.
    const mod = nativeModule()!;
    t.throws(() => mod.openBatch(new Uint8Array(32), new Uint8Array(12) as unknown as number, new Uint8Array(0), new Uint8Array(132), new Uint8Array(116), 116, 1, () => {}), { instanceOf: TypeError });
  });

  test('native: one message under an explicit 12-byte nonce equals noble (as Noise uses it)', (t) => {
    const mod = nativeModule()!;
    const key = randomBytes(32);
    const ad = randomBytes(7);
    const nonce = randomBytes(12);
    const pt = randomBytes(65_000);
    const ct = new Uint8Array(pt.length + 16);
    mod.seal(key, nonce, ad, pt, ct);
    t.deepEqual(ct, chacha20poly1305(key, nonce, ad).encrypt(pt));
    const back = new Uint8Array(pt.length);
    t.true(mod.open(key, nonce, ad, ct, back));
    t.deepEqual(Buffer.from(back), pt);
    t.throws(() => mod.open(key, new Uint8Array(11), ad, ct, back), { instanceOf: TypeError });
  });
}

test('writeAllAt writes every byte at its offset, in pieces (native when built)', async (t) => {
  const { checkWriteAllAt } = await import('./helpers/writeall.js');
  await checkWriteAllAt(t);
});
