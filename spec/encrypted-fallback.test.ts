/**
 * Packets made and opened with the node:crypto engine (PIGEON_NATIVE=0, as
 * on a machine without a C compiler) are the same bytes as the native
 * engine's, across batch edges and with padding.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.PIGEON_NATIVE = '0';
const { aead } = await import('../src/crypto/aead.js');
const { generateNodeKeys } = await import('../src/crypto/keys.js');
const { decryptPacket, encryptPacket, openPlain } = await import('../src/packet/encrypted.js');
const { PktType } = await import('../src/packet/header.js');

async function* chunks(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield data.subarray(o, o + size);
}

test('PIGEON_NATIVE=0 selects node:crypto, and its packets round-trip at batch edges', async (t) => {
  t.is(aead().engine, 'node:crypto');
  const alice = generateNodeKeys();
  const bob = generateNodeKeys();
  const plain = { type: PktType.File, nice: 1, path: new TextEncoder().encode('x') };
  for (const size of [0, 17 * 131072 - 276, 33 * 131072 + 5]) {
    const data = randomBytes(size);
    const enc = encryptPacket({ sender: alice, recipient: bob, nice: 3, plain, payload: chunks(data, 70_000), minSize: 40 * 131072 });
    const parts: Uint8Array[] = [];
    for await (const c of enc.stream) parts.push(Uint8Array.from(c));
    const packet = Buffer.concat(parts);
    const dec = await decryptPacket({ self: bob, lookup: () => ({ ...alice, name: 'alice' }), input: chunks(packet, 99_999), borrow: true });
    const { body } = await openPlain(dec.plaintext);
    const got: Uint8Array[] = [];
    for await (const c of body) got.push(Uint8Array.from(c));
    t.true(Buffer.concat(got).equals(data), `size ${size}`);
  }
});

test('a packet sealed by one engine opens with the other, and is the same bytes (both directions)', async (t) => {
  // A child process with the native engine (when built) encrypts and opens; this process uses node:crypto.
  const alice = generateNodeKeys();
  const bob = generateNodeKeys();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pigeon-engines-'));
  try {
    const data = randomBytes(20 * 131072 + 999);
    const eph = randomBytes(32);
    const minSize = 23 * 131072;
    const plain = { type: PktType.File, nice: 1, path: new TextEncoder().encode('x') };
    const enc = encryptPacket({ sender: alice, recipient: bob, nice: 3, plain, payload: chunks(data, 1 << 20), minSize, ephemeralPrv: eph });
    const parts: Uint8Array[] = [];
    for await (const c of enc.stream) parts.push(Uint8Array.from(c));
    const mine = Buffer.concat(parts);
    const hex = (o: object) => Object.fromEntries(Object.entries(o).filter(([, v]) => v instanceof Uint8Array).map(([n, v]) => [n, Buffer.from(v as Uint8Array).toString('hex')]));
    const job = { keys: { alice: hex(alice), bob: hex(bob) }, eph: eph.toString('hex'), data: path.join(dir, 'data'), minSize, in: path.join(dir, 'in'), out: path.join(dir, 'out') };
    writeFileSync(job.data, data);
    writeFileSync(job.in, mine);
    writeFileSync(path.join(dir, 'job.json'), JSON.stringify(job));
    const helper = fileURLToPath(new URL('./helpers/engine-roundtrip.js', import.meta.url));
    const r = spawnSync(process.execPath, [helper, path.join(dir, 'job.json')], { env: { ...process.env, PIGEON_NATIVE: '' }, encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^ok (native|node:crypto)/);
    if (process.env.CI) t.regex(r.stdout, /^ok native/);
    const theirs = readFileSync(job.out);
    t.true(theirs.equals(mine), 'the engines made different bytes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeAllAt writes every byte at its offset, in pieces (node:fs fallback)', async (t) => {
  const { checkWriteAllAt } = await import('./helpers/writeall.js');
  await checkWriteAllAt(t);
});
