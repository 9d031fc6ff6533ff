/**
 * The spool's partial-receive API (src/spool/partial.ts) alone, without a
 * network: what rx/ holds of a packet and where its .part resumes, chunks
 * written in place (the running checksum only follows the current end),
 * .part → rx/ with its hdr/ file, .part → .nock → check → rx/, a corrupt
 * .nock caught by its check, discarding, reading tx/ packets, and the
 * configured umask on .part files.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { MTH } from '../src/crypto/mth.js';
import { encodeEncHeader, ENC_HEADER_SIZE } from '../src/packet/header.js';
import { Partials } from '../src/spool/partial.js';
import { Spool } from '../src/spool/spool.js';
import { tmpDir } from './helpers/util.js';

const NODE = base32Encode(new Uint8Array(32).fill(7));

/** Bytes that look like an encrypted packet (a valid header, then noise) and their packet id. */
function fakePacket(size: number, nice = 96): { id: string; data: Buffer } {
  const head = encodeEncHeader({ nice, sender: randomBytes(32), recipient: randomBytes(32), exchPub: randomBytes(32), signature: randomBytes(64) });
  const data = Buffer.concat([head, randomBytes(size - ENC_HEADER_SIZE)]);
  return { id: base32Encode(new MTH().update(data).digest()), data };
}

async function setup(t: ExecutionContext, opts: { noHdr?: boolean; umask?: number } = {}): Promise<{ spool: Spool; partials: Partials; rx: string }> {
  const root = await tmpDir(t);
  const spool = new Spool({ root, noSync: true, noHdr: opts.noHdr, umask: opts.umask });
  const rx = await spool.ensureQueue(NODE, 'rx');
  return { spool, partials: new Partials(spool), rx };
}

/** Feed `data` from `from` on in chunks of `chunk` bytes. */
function feed(rx: { write(offset: number, data: Uint8Array): boolean }, data: Buffer, from: number, chunk: number): void {
  for (let off = from; off < data.length; off += chunk) rx.write(off, data.subarray(off, Math.min(off + chunk, data.length)));
}

/** The packet is rx/<id> with its bytes and hdr/ file, and neither .part nor .nock is left. */
function inRx(t: ExecutionContext, spool: Spool, p: { id: string; data: Buffer }): void {
  t.deepEqual(fs.readFileSync(spool.packetPath(NODE, 'rx', p.id)), p.data);
  t.false(fs.existsSync(spool.partPath(NODE, p.id)));
  t.false(fs.existsSync(spool.nockPath(NODE, p.id)));
  t.deepEqual(fs.readFileSync(spool.hdrPath(NODE, 'rx', p.id)), p.data.subarray(0, ENC_HEADER_SIZE));
}

test('what rx/ holds of a packet, and where its .part resumes', async (t) => {
  const { spool, partials, rx } = await setup(t);
  const p = fakePacket(1000);
  t.is(await partials.holding(NODE, p.id), null);
  t.is(await partials.resumeOffset(NODE, p.id), 0);
  fs.writeFileSync(spool.partPath(NODE, p.id), p.data.subarray(0, 333));
  t.is(spool.partPath(NODE, p.id), path.join(rx, p.id + '.part'));
  t.is(await partials.holding(NODE, p.id), null, 'a .part is not a holding: it is resumed');
  t.is(await partials.resumeOffset(NODE, p.id), 333);
  fs.writeFileSync(spool.nockPath(NODE, p.id), p.data);
  t.is(await partials.holding(NODE, p.id), 'nock');
  await spool.markSeen(NODE, p.id);
  t.is(await partials.holding(NODE, p.id), 'seen');
  fs.writeFileSync(spool.packetPath(NODE, 'rx', p.id), p.data);
  t.is(await partials.holding(NODE, p.id), 'packet');
  t.true(await partials.roomFor(1));
  t.false(await partials.roomFor(Number.MAX_SAFE_INTEGER));
});

test('received whole and in order: checksummed as it arrives, committed to rx/ with its hdr/ file', async (t) => {
  const { spool, partials } = await setup(t);
  const p = fakePacket(300_000);
  const r = partials.open(NODE, p.id, p.data.length, 0, { hash: true });
  feed(r, p.data, 0, 65_232);
  await r.sync();
  t.is(r.verdict(), 'good');
  await r.commit();
  await r.writeHdr();
  inRx(t, spool, p);
});

test('the running checksum follows the current end only: a write elsewhere lands in place and drops it', async (t) => {
  const { spool, partials, rx } = await setup(t);
  const p = fakePacket(200_000);
  const r = partials.open(NODE, p.id, p.data.length, 0, { hash: true });
  t.false(r.write(0, p.data.subarray(0, 1000)), 'at the end: hashed');
  t.false(r.write(1000, p.data.subarray(1000, 5000)));
  t.true(r.write(9000, p.data.subarray(9000, 12_000)), 'past the end: the checksum is dropped');
  t.false(r.write(5000, p.data.subarray(5000, 9000)), 'dropped once, not again');
  r.write(12_000, p.data.subarray(12_000));
  t.is(r.verdict(), 'unchecked');
  await t.throwsAsync(r.commit(), { message: /not checksummed/ });
  t.deepEqual(fs.readFileSync(spool.partPath(NODE, p.id)), p.data, 'every chunk is where it belongs');
  t.is(await r.toNock(), null, 'nothing to go on: the check hashes the whole file');
  t.true(fs.existsSync(path.join(rx, p.id + '.nock')));
  t.deepEqual(await partials.check(NODE, p.id, null), { size: p.data.length });
  inRx(t, spool, p);
});

test('resumed from a .part: .nock, then the check hashes only the beginning and moves it to rx/', async (t) => {
  const { spool, partials } = await setup(t);
  const p = fakePacket(400_000);
  const at = 200_001;
  fs.writeFileSync(spool.partPath(NODE, p.id), p.data.subarray(0, at));
  const offset = await partials.resumeOffset(NODE, p.id);
  t.is(offset, at);
  const r = partials.open(NODE, p.id, p.data.length, offset, { hash: true });
  feed(r, p.data, offset, 65_232);
  t.is(r.verdict(), 'unchecked', 'its beginning was not seen');
  const rest = await r.toNock();
  t.truthy(rest);
  t.true(rest!.prefixSize > 0);
  t.deepEqual(await partials.check(NODE, p.id, rest), { size: p.data.length });
  inRx(t, spool, p);
});

test('a corrupted .nock fails its check and stays; a bad in-stream checksum is never committed', async (t) => {
  const { spool, partials, rx } = await setup(t);
  const p = fakePacket(150_000);
  const bad = Buffer.from(p.data);
  bad[100_000] ^= 0xff;
  const r = partials.open(NODE, p.id, bad.length, 0, { hash: false });
  feed(r, bad, 0, 65_232);
  t.is(r.verdict(), 'unchecked', 'no hashing asked (-nock)');
  t.is(await r.toNock(), null);
  await t.throwsAsync(partials.check(NODE, p.id, null), { message: 'checksum mismatch' });
  t.true(fs.existsSync(path.join(rx, p.id + '.nock')));
  t.false(fs.existsSync(path.join(rx, p.id)));
  t.false(fs.existsSync(spool.hdrPath(NODE, 'rx', p.id)));

  const q = fakePacket(10_000);
  const damaged = Buffer.from(q.data);
  damaged[5000] ^= 1;
  const r2 = partials.open(NODE, q.id, damaged.length, 0, { hash: true });
  feed(r2, damaged, 0, 4096);
  t.is(r2.verdict(), 'bad');
  await t.throwsAsync(r2.commit());
  t.true(fs.existsSync(path.join(rx, q.id + '.part')), 'left in place');
  t.false(fs.existsSync(path.join(rx, q.id)));
});

test('with nohdr a committed packet gets no hdr/ file', async (t) => {
  const { spool, partials, rx } = await setup(t, { noHdr: true });
  const p = fakePacket(5000);
  const r = partials.open(NODE, p.id, p.data.length, 0, { hash: true });
  feed(r, p.data, 0, 1024);
  await r.commit();
  await r.writeHdr();
  t.true(fs.existsSync(path.join(rx, p.id)));
  t.false(fs.existsSync(spool.hdrPath(NODE, 'rx', p.id)));
});

test('nocks lists .nock files at least as urgent as asked; discard removes .part and .nock', async (t) => {
  const { spool, partials, rx } = await setup(t);
  const urgent = fakePacket(2000, 64);
  const lazy = fakePacket(2000, 200);
  fs.writeFileSync(spool.nockPath(NODE, urgent.id), urgent.data);
  fs.writeFileSync(spool.nockPath(NODE, lazy.id), lazy.data);
  fs.writeFileSync(path.join(rx, 'junk.nock'), 'x');
  t.deepEqual(await partials.nocks(NODE, 100), [urgent.id]);
  t.deepEqual((await partials.nocks(NODE, 255)).sort(), [urgent.id, lazy.id].sort());
  fs.writeFileSync(spool.partPath(NODE, urgent.id), urgent.data.subarray(0, 10));
  await partials.discard(NODE, urgent.id);
  t.false(fs.existsSync(spool.partPath(NODE, urgent.id)));
  t.false(fs.existsSync(spool.nockPath(NODE, urgent.id)));
  await t.notThrowsAsync(partials.discard(NODE, urgent.id), 'nothing left: fine');
  t.true(fs.existsSync(spool.nockPath(NODE, lazy.id)));
});

test('a tx/ packet is read chunk by chunk at any offset; a missing one throws on open', async (t) => {
  const { spool, partials } = await setup(t);
  const p = fakePacket(70_000);
  await spool.ensureQueue(NODE, 'tx');
  fs.writeFileSync(spool.packetPath(NODE, 'tx', p.id), p.data);
  const tx = partials.openTx(NODE, p.id);
  t.is(tx.size, p.data.length);
  const buf = new Uint8Array(100);
  t.is(tx.read(buf, 10, 90, 69_950), 50);
  t.deepEqual(Buffer.from(buf.subarray(10, 60)), p.data.subarray(69_950));
  t.is(tx.read(buf, 0, 10, p.data.length), 0);
  tx.close();
  t.throws(() => partials.openTx(NODE, fakePacket(1000).id), { code: 'ENOENT' });
});

test('a .part gets the configured umask, like every other spool file, whatever the process umask', async (t) => {
  const { spool, partials } = await setup(t, { umask: 0o027 });
  const p = fakePacket(3000);
  const before = process.umask(0);
  try {
    const r = partials.open(NODE, p.id, p.data.length, 0, { hash: true });
    r.write(0, p.data.subarray(0, 1000));
    r.close();
  } finally {
    process.umask(before);
  }
  t.is(fs.statSync(spool.partPath(NODE, p.id)).mode & 0o777, 0o640);
  fs.chmodSync(spool.partPath(NODE, p.id), 0o666);
  const resumed = partials.open(NODE, p.id, p.data.length, 1000, { hash: true });
  resumed.close();
  t.is(fs.statSync(spool.partPath(NODE, p.id)).mode & 0o777, 0o640, 'and keeps it when resumed');
});
