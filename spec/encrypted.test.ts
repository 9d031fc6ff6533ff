/**
 * Encrypted packets made by pigeon: compared byte for byte with an
 * independent in-memory encoder built on @noble (the oracle for node:crypto
 * ChaCha20-Poly1305 and native BLAKE3), and round-tripped at block edges.
 */
import test from 'ava';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake3 } from '@noble/hashes/blake3.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateNodeKeys } from '../src/crypto/keys.js';
import { decryptPacket, encryptPacket, openPlain, padSizeFor } from '../src/packet/encrypted.js';
import { encodePlainHeader, PktType, PlainHeader } from '../src/packet/header.js';
import { MAGIC_ENC } from '../src/packet/magic.js';
import { concatBytes } from '../src/codec/bytes.js';
import { fileFiller, type FillSource } from '../src/stream/fileread.js';

const BLK = 128 * 1024;
const alice = generateNodeKeys();
const bob = generateNodeKeys();

function u32(n: number) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
function u64(n: number) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

/** The manual's algorithm, written plainly over whole buffers with noble. */
function oracleEncrypt(eph: Uint8Array, plain: PlainHeader, nice: number, data: Uint8Array, minSize: number, wrappers: number): Uint8Array {
  const ephPub = x25519.getPublicKey(eph);
  const tbs = concatBytes([MAGIC_ENC.bytes, u32(nice), alice.id, bob.id, ephPub]);
  const sig = ed25519.sign(tbs, alice.signPrv.subarray(0, 32));
  const ad = blake3(tbs);
  const shared = x25519.getSharedSecret(eph, bob.exchPub);
  const ctx = new TextDecoder('latin1').decode(MAGIC_ENC.bytes);
  const kFull = blake3(shared, { context: new TextEncoder().encode(ctx + ' FULL') });
  const kSize = blake3(shared, { context: new TextEncoder().encode(ctx + ' SIZE') });
  const kPad = blake3(shared, { context: new TextEncoder().encode(ctx + ' PAD') });
  const pt = concatBytes([encodePlainHeader(plain), data]);
  const pad = padSizeFor(pt.length, minSize, wrappers);
  const nonce = (i: number) => concatBytes([new Uint8Array(4), u64(i)]);
  const out: Uint8Array[] = [tbs, sig];
  let i = 0;
  let off = 0;
  while (pt.length - off >= BLK) {
    out.push(chacha20poly1305(kFull, nonce(i), ad).encrypt(pt.subarray(off, off + BLK)));
    off += BLK;
    i++;
  }
  let tail = concatBytes([u64(pt.length), u64(pad), pt.subarray(off)]);
  let padLeft = pad;
  let key = kSize;
  if (tail.length > BLK) {
    out.push(chacha20poly1305(kSize, nonce(i++), ad).encrypt(tail.subarray(0, BLK)));
    tail = tail.subarray(BLK);
    key = kFull;
  }
  const ipad = Math.min(padLeft, BLK - tail.length);
  padLeft -= ipad;
  out.push(chacha20poly1305(key, nonce(i), ad).encrypt(concatBytes([tail, new Uint8Array(ipad)])));
  if (padLeft > 0) out.push(blake3(new Uint8Array(0), { key: kPad, dkLen: padLeft }));
  return concatBytes(out);
}

async function* chunks(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield data.subarray(o, o + size);
}

/** A FillSource over bytes in memory (the contract: full fills until the end). */
function memFiller(data: Uint8Array): FillSource {
  let pos = 0;
  return {
    async fill(buf, off, len) {
      const n = Math.min(len, data.length - pos);
      buf.set(data.subarray(pos, pos + n), off);
      pos += n;
      return n;
    },
  };
}

async function collect(src: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of src) parts.push(Uint8Array.from(c));
  return concatBytes(parts);
}

const plain: PlainHeader = { type: PktType.File, nice: 224, path: new TextEncoder().encode('dir/file.bin') };
// Data sizes around every structural edge: 276 header bytes + data + 16 SIZE bytes vs 128 KiB blocks.
const sizes = [0, 1, 1000, BLK - 292, BLK - 291, BLK - 277, BLK - 276, BLK - 275, BLK - 1, BLK, BLK + 1, 3 * BLK - 292, 3 * BLK - 291, 3 * BLK + 777];

for (const size of sizes) {
  for (const [minSize, wrappers] of [[0, 1], [2048, 1], [BLK * 2 + 5, 1], [BLK * 4, 3]] as const) {
    test(`data ${size} bytes, minsize ${minSize}, ${wrappers} wrapper(s): equals the noble oracle and decrypts back`, async (t) => {
      const data = new Uint8Array(randomBytes(size));
      const eph = new Uint8Array(randomBytes(32));
      const enc = encryptPacket({
        sender: alice,
        recipient: bob,
        nice: 77,
        plain,
        payload: chunks(data, 4096 + (size % 7919) + 1),
        minSize,
        wrappers,
        ephemeralPrv: eph,
      });
      const packet = await collect(enc.stream);
      const oracle = oracleEncrypt(eph, plain, 77, data, minSize, wrappers);
      t.is(packet.length, oracle.length);
      t.true(Buffer.from(packet).equals(Buffer.from(oracle)), 'bytes differ from the oracle');
      t.is(enc.info.totalSize, packet.length);
      if (wrappers === 1 && minSize > 0) t.true(packet.length >= minSize);
      // The same payload read straight into the sealing buffers (a FillSource) gives the same bytes.
      const filled = encryptPacket({ sender: alice, recipient: bob, nice: 77, plain, payload: memFiller(data), minSize, wrappers, ephemeralPrv: eph });
      t.true(Buffer.from(await collect(filled.stream)).equals(Buffer.from(oracle)), 'FillSource: bytes differ from the oracle');
      t.is(filled.info.totalSize, packet.length);

      const dec = await decryptPacket({
        self: bob,
        lookup: (id) => (Buffer.from(id).equals(Buffer.from(alice.id)) ? { ...alice, name: 'alice' } : undefined),
        input: chunks(packet, 65536 + 3),
      });
      t.is(dec.header.nice, 77);
      const { plain: p, body } = await openPlain(dec.plaintext);
      t.deepEqual(p, plain);
      t.true(Buffer.from(await collect(body)).equals(Buffer.from(data)));
    });
  }
}

// Batch edges of the pipelines: encryption seals 16 blocks at a time; decryption
// opens block 0 alone, then blocks 1-16, 17-32, … (two batches ahead).
const batchSizes = [16 * BLK - 292, 16 * BLK - 276, 16 * BLK - 275, 17 * BLK - 292, 17 * BLK - 276, 17 * BLK - 275, 33 * BLK - 291, 40 * BLK + 12345];
for (const size of batchSizes) {
  for (const [minSize, fileInput] of [[0, false], [45 * BLK, true]] as const) {
    test(`batch edge: data ${size} bytes, minsize ${minSize}, ${fileInput ? 'file' : 'stream'} input: equals the noble oracle, decrypts back, borrowed and owned`, async (t) => {
      const data = new Uint8Array(randomBytes(size));
      const eph = new Uint8Array(randomBytes(32));
      // Owned chunks are kept as they come (no copy); borrowed ones must be copied before the next.
      const enc = encryptPacket({ sender: alice, recipient: bob, nice: 9, plain, payload: chunks(data, 1 << 20), minSize, ephemeralPrv: eph });
      const kept: Uint8Array[] = [];
      for await (const c of enc.stream) kept.push(c);
      const packet = concatBytes(kept);
      t.true(Buffer.from(packet).equals(Buffer.from(oracleEncrypt(eph, plain, 9, data, minSize, 1))), 'bytes differ from the oracle');
      const borrowed = encryptPacket({ sender: alice, recipient: bob, nice: 9, plain, payload: chunks(data, 1 << 20), minSize, ephemeralPrv: eph, borrow: true });
      t.true(Buffer.from(await collect(borrowed.stream)).equals(Buffer.from(packet)), 'borrowed chunks differ');
      const dir = mkdtempSync(path.join(os.tmpdir(), 'pigeon-enc-'));
      const file = path.join(dir, 'pkt');
      writeFileSync(file, packet);
      const fh = await open(file, 'r');
      const src = path.join(dir, 'src');
      writeFileSync(src, data);
      const sfh = await open(src, 'r');
      try {
        // A regular file read straight into the sealing buffers, batch after batch, gives the same bytes.
        for (const borrow of [true, false]) {
          const filled = encryptPacket({ sender: alice, recipient: bob, nice: 9, plain, payload: fileFiller(sfh), minSize, ephemeralPrv: eph, borrow });
          t.true(Buffer.from(await collect(filled.stream)).equals(Buffer.from(packet)), `file FillSource (borrow ${borrow}): bytes differ`);
        }
        for (const borrow of [true, false]) {
          const dec = await decryptPacket({
            self: bob,
            lookup: (id) => (Buffer.from(id).equals(Buffer.from(alice.id)) ? { ...alice, name: 'alice' } : undefined),
            input: fileInput ? { file: fh } : chunks(packet, 100_003),
            borrow,
          });
          const { body } = await openPlain(dec.plaintext);
          const kept: Uint8Array[] = [];
          const copied: Uint8Array[] = [];
          for await (const c of body) {
            kept.push(c);
            copied.push(Uint8Array.from(c));
          }
          t.true(Buffer.from(concatBytes(copied)).equals(Buffer.from(data)), `borrow ${borrow}: payload differs`);
          // Owned chunks stay intact after later ones were read; borrowed ones may not.
          if (!borrow) t.true(Buffer.from(concatBytes(kept)).equals(Buffer.from(data)), 'owned chunks were overwritten');
          t.is(dec.info.payloadSize, size + 276);
        }
      } finally {
        await fh.close();
        await sfh.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

test('a flipped bit deep inside a multi-batch packet stops the stream at that block', async (t) => {
  const data = new Uint8Array(randomBytes(40 * BLK));
  const enc = encryptPacket({ sender: alice, recipient: bob, nice: 9, plain, payload: chunks(data, 1 << 20) });
  const packet = await collect(enc.stream);
  for (const block of [0, 1, 16, 17, 20, 33, 40]) {
    const bad = Uint8Array.from(packet);
    bad[172 + block * (BLK + 16) + 77] ^= 0x10;
    const dec = await decryptPacket({ self: bob, lookup: () => ({ ...alice, name: 'alice' }), input: chunks(bad, 1 << 20), borrow: true });
    let got = 0;
    const err = await t.throwsAsync(async () => {
      for await (const c of dec.plaintext) got += c.length;
    });
    t.regex(err!.message, new RegExp(`block ${block} fails authentication`));
    t.true(got <= block * BLK, `plaintext of block ${block} or later was handed out`);
  }
});

test('padSizeFor accounts for every wrapping layer', (t) => {
  // One layer: 276-byte header + 100 bytes + SIZE + one tag + 172-byte header.
  const one = 172 + 276 + 100 + 16 + 16;
  t.is(padSizeFor(276 + 100, one + 50, 1), 50);
  t.is(padSizeFor(276 + 100, 10, 1), 0);
  // Each extra layer adds a plain header, SIZE, a tag and an encrypted header.
  const two = 172 + 276 + one + 16 + 16;
  t.is(padSizeFor(276 + 100, two + 1, 2), 1);
});

test('maxSize refuses an oversize payload', async (t) => {
  const enc = encryptPacket({ sender: alice, recipient: bob, nice: 1, plain, payload: chunks(new Uint8Array(5000), 1000), maxSize: 4000 });
  await t.throwsAsync(collect(enc.stream), { message: /too big/ });
  const filled = encryptPacket({ sender: alice, recipient: bob, nice: 1, plain, payload: memFiller(new Uint8Array(3 << 20)), maxSize: 2 << 20 });
  await t.throwsAsync(collect(filled.stream), { message: /too big/ });
});
