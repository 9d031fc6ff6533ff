/**
 * The sync protocol's envelope (frames) and packets: byte layouts as the
 * manual's Sync page gives them (type numbers as the reference's sp.go
 * defines them), HALT padding, payload grouping, and the decoder's refusals.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { PacketError } from '../src/errors.js';
import { encodeFrame, FrameReader, SP_MAX_FRAME } from '../src/sp/frame.js';
import {
  decodeSpPackets,
  encodeSpPackets,
  groupPayloads,
  padWithHalts,
  SP_FILE_OVERHEAD,
  SP_MAX_FILE_CHUNK,
  SP_MAX_PAYLOAD,
  type SpPacket,
} from '../src/sp/packets.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Chunks of `size` bytes (the last shorter), as a stream would deliver them. */
async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size);
}

async function readAll(r: FrameReader): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let f = await r.next(); f !== null; f = await r.next()) out.push(Uint8Array.from(f));
  return out;
}

// ------------------------------------------------------------------ frames

test('a frame is magic NNCPS 0 0 1, a big-endian length, the message and zero padding to 4', (t) => {
  const f = encodeFrame(Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd, 0xee));
  t.is(hex(f), '4e4e435053000001' + '00000005' + 'aabbccddee' + '000000');
  t.is(hex(encodeFrame(new Uint8Array(0))), '4e4e435053000001' + '00000000');
  t.is(encodeFrame(new Uint8Array(65376)).length, 12 + 65376);
});

test('FrameReader: frames of every padding, whatever the chunking, then null at a clean end', async (t) => {
  const msgs = [0, 1, 2, 3, 4, 5, 65535, 1000].map((n) => new Uint8Array(randomBytes(n)));
  const stream = Buffer.concat(msgs.map(encodeFrame));
  for (const size of [1, 3, 7, 12, 13, 4096, stream.length]) {
    const got = await readAll(new FrameReader(chunked(stream, size), SP_MAX_FRAME));
    t.deepEqual(got.map(hex), msgs.map(hex), `chunks of ${size}`);
  }
  const r = new FrameReader(Readable.from([stream]), SP_MAX_FRAME);
  t.is((await readAll(r)).length, msgs.length);
  t.is(r.bytesRead, stream.length);
  t.is(await r.next(), null);
});

test('FrameReader: a wrong magic is refused, naming the peer (and an old format)', async (t) => {
  const good = encodeFrame(new Uint8Array(8));
  const garbage = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n\r\n'), good]);
  await t.throwsAsync(new FrameReader(chunked(garbage, 5), SP_MAX_FRAME, 'peer 127.0.0.1:1234').next(), {
    instanceOf: PacketError,
    message: /^peer 127\.0\.0\.1:1234: not an NNCP sync protocol frame \(unknown magic number: 474554202f204854\)/,
  });
  const older = Uint8Array.from(good);
  older.set(Buffer.from('NNCPE\x00\x00\x05', 'latin1'), 0);
  await t.throwsAsync(new FrameReader(chunked(older, 64), SP_MAX_FRAME).next(), { instanceOf: PacketError, message: /encrypted packet v5 is an old format/ });
});

test('FrameReader: an oversize length is refused from the header, without waiting for the body', async (t) => {
  const head = encodeFrame(new Uint8Array(0));
  new DataView(head.buffer).setUint32(8, SP_MAX_FRAME + 1);
  let pulled = 0;
  async function* src() {
    pulled++;
    yield head;
    pulled++;
    await new Promise(() => {}); // a peer that never sends the body
  }
  await t.throwsAsync(new FrameReader(src(), SP_MAX_FRAME, 'node bob').next(), {
    instanceOf: PacketError,
    message: 'node bob: sync protocol frame of 65536 bytes exceeds the limit of 65535 bytes; dropping the connection',
  });
  t.is(pulled, 1);
  // The limit is the caller's: a larger one lets the frame through.
  const big = encodeFrame(new Uint8Array(70000));
  t.is((await new FrameReader(chunked(big, 1000), 1 << 17).next())!.length, 70000);
});

test('FrameReader: a stream ending inside a frame is a truncation, not a clean end', async (t) => {
  const f = encodeFrame(new Uint8Array(randomBytes(100)));
  for (const cut of [1, 7, 8, 11, 12, 50, f.length - 1]) {
    await t.throwsAsync(new FrameReader(chunked(f.subarray(0, cut), 4), SP_MAX_FRAME, 'peer').next(), {
      instanceOf: PacketError,
      message: /^peer: the connection ended inside a sync protocol frame/,
    }, `cut at ${cut}`);
  }
  // Padding is part of the frame: a missing pad byte is truncation too.
  const odd = encodeFrame(new Uint8Array(5));
  await t.throwsAsync(new FrameReader(chunked(odd.subarray(0, odd.length - 1), 64), SP_MAX_FRAME).next(), { instanceOf: PacketError });
});

// ----------------------------------------------------------------- packets

const H = (b: number) => new Uint8Array(32).fill(b);

test('packet layouts: type numbers INFO 0 … PING 5 and XDR bodies', (t) => {
  const cases: [SpPacket, string][] = [
    [{ t: 'info', nice: 96, size: 0x0102030405n, hash: H(0x11) }, '00000000' + '00000060' + '0000000102030405' + '11'.repeat(32)],
    [{ t: 'freq', hash: H(0x22), offset: 65232 }, '00000001' + '22'.repeat(32) + '000000000000fed0'],
    [{ t: 'file', hash: H(0x33), offset: 7n, payload: Uint8Array.of(1, 2, 3, 4, 5, 6) }, '00000002' + '33'.repeat(32) + '0000000000000007' + '00000006' + '010203040506' + '0000'],
    [{ t: 'file', hash: H(0x33), offset: 9, payload: new Uint8Array(0) }, '00000002' + '33'.repeat(32) + '0000000000000009' + '00000000'],
    [{ t: 'done', hash: H(0x44) }, '00000003' + '44'.repeat(32)],
    [{ t: 'halt' }, '00000004'],
    [{ t: 'ping' }, '00000005'],
  ];
  for (const [p, want] of cases) {
    t.is(hex(encodeSpPackets([p])), want, p.t);
    const [back] = decodeSpPackets(encodeSpPackets([p]));
    t.is(back.t, p.t);
  }
  t.is(hex(encodeSpPackets(cases.map((c) => c[0]))), cases.map((c) => c[1]).join(''));
});

test('decoding a concatenation gives every packet back with its fields', (t) => {
  const chunk = new Uint8Array(randomBytes(SP_MAX_FILE_CHUNK - 200));
  const pkts: SpPacket[] = [
    { t: 'info', nice: 255, size: 0xffffffffffffffffn, hash: H(1) },
    { t: 'freq', hash: H(2), offset: 123456789012n },
    { t: 'done', hash: H(3) },
    { t: 'file', hash: H(4), offset: 5n, payload: chunk },
    { t: 'ping' },
    { t: 'halt' },
  ];
  const payload = encodeSpPackets(pkts);
  t.true(payload.length <= SP_MAX_PAYLOAD);
  const got = decodeSpPackets(payload);
  t.is(got.length, pkts.length);
  const [info, freq, done, file, ping, halt] = got;
  t.like(info, { t: 'info', nice: 255, size: 0xffffffffffffffffn });
  t.is(hex((info as { hash: Uint8Array }).hash), hex(H(1)));
  t.like(freq, { t: 'freq', offset: 123456789012n });
  t.is(hex((done as { hash: Uint8Array }).hash), hex(H(3)));
  t.like(file, { t: 'file', offset: 5n });
  t.is(hex((file as { payload: Uint8Array }).payload), hex(chunk));
  t.deepEqual([ping, halt], [{ t: 'ping' }, { t: 'halt' }]);
  t.deepEqual(decodeSpPackets(new Uint8Array(0)), []);
});

test('a full FILE packet is exactly one maximal payload', (t) => {
  t.is(SP_MAX_FILE_CHUNK, 65280 - 48);
  t.is(SP_FILE_OVERHEAD, 48);
  const p = encodeSpPackets([{ t: 'file', hash: H(9), offset: 0, payload: new Uint8Array(SP_MAX_FILE_CHUNK) }]);
  t.is(p.length, SP_MAX_PAYLOAD);
});

test('decoder refusals: unknown type, truncation, trailing bytes, niceness out of range', (t) => {
  const unknown = Uint8Array.of(0, 0, 0, 4, 0, 0, 0, 6);
  t.throws(() => decodeSpPackets(unknown, 'payload from bob'), { instanceOf: PacketError, message: 'payload from bob: unknown packet type 6 at offset 4' });
  const info = encodeSpPackets([{ t: 'info', nice: 1, size: 1, hash: H(1) }]);
  t.throws(() => decodeSpPackets(info.subarray(0, 47)), { instanceOf: PacketError, message: /INFO packet at offset 0 is truncated \(needs 48 bytes, 47 left\)/ });
  const file = encodeSpPackets([{ t: 'halt' }, { t: 'file', hash: H(1), offset: 0, payload: new Uint8Array(10) }]);
  t.throws(() => decodeSpPackets(file.subarray(0, file.length - 1)), { instanceOf: PacketError, message: /FILE packet at offset 4 is truncated/ });
  const huge = Uint8Array.from(file);
  new DataView(huge.buffer).setUint32(4 + 44, 0xffffffff);
  t.throws(() => decodeSpPackets(huge), { instanceOf: PacketError, message: /FILE packet at offset 4 is truncated/ });
  const trailing = Uint8Array.of(0, 0, 0, 4, 0, 0);
  t.throws(() => decodeSpPackets(trailing), { instanceOf: PacketError, message: /2 trailing bytes at offset 4 are not a packet/ });
  const nice = Uint8Array.from(info);
  new DataView(nice.buffer).setUint32(4, 256);
  t.throws(() => decodeSpPackets(nice), { instanceOf: PacketError, message: /niceness 256/ });
});

test('encoder refusals: wrong hash size, niceness and sizes out of range', (t) => {
  t.throws(() => encodeSpPackets([{ t: 'done', hash: new Uint8Array(31) }]), { instanceOf: RangeError });
  t.throws(() => encodeSpPackets([{ t: 'info', nice: 256, size: 0, hash: H(0) }]), { instanceOf: RangeError });
  t.throws(() => encodeSpPackets([{ t: 'freq', hash: H(0), offset: -1 }]), { instanceOf: RangeError });
  t.throws(() => encodeSpPackets([{ t: 'info', nice: 1, size: 1n << 64n, hash: H(0) }]), { instanceOf: RangeError });
});

test('padWithHalts fills to exactly 65280 bytes with HALT packets', (t) => {
  const empty = padWithHalts(new Uint8Array(0));
  t.is(empty.length, SP_MAX_PAYLOAD);
  t.is(hex(empty.subarray(0, 8)), '0000000400000004');
  const pkts = decodeSpPackets(empty);
  t.is(pkts.length, SP_MAX_PAYLOAD / 4);
  t.true(pkts.every((p) => p.t === 'halt'));

  const infos = encodeSpPackets([1, 2, 3].map((n) => ({ t: 'info' as const, nice: n, size: n, hash: H(n) })));
  const padded = padWithHalts(infos);
  t.is(padded.length, SP_MAX_PAYLOAD);
  t.is(hex(padded.subarray(0, infos.length)), hex(infos));
  const back = decodeSpPackets(padded);
  t.deepEqual(back.slice(0, 3).map((p) => p.t), ['info', 'info', 'info']);
  t.is(back.length, 3 + (SP_MAX_PAYLOAD - 3 * 48) / 4);
  t.is(hex(padWithHalts(padded)), hex(padded));
  t.throws(() => padWithHalts(new Uint8Array(SP_MAX_PAYLOAD + 4)), { instanceOf: RangeError });
});

test('groupPayloads keeps order, never splits a packet and never exceeds 65280 bytes', (t) => {
  // 1400 INFOs: 1360 fit the first payload (1360 * 48 = 65280), 40 the second.
  const infos = Array.from({ length: 1400 }, (_, i) => encodeSpPackets([{ t: 'info', nice: 1, size: i, hash: H(i % 256) }]));
  const groups = groupPayloads(infos);
  t.deepEqual(groups.map((g) => g.length), [1360 * 48, 40 * 48]);
  const sizes = groups.flatMap((g) => decodeSpPackets(g)).map((p) => Number((p as { size: bigint }).size));
  t.deepEqual(sizes, infos.map((_, i) => i));
  t.deepEqual(groupPayloads([]), []);
  const mixed = groupPayloads([
    encodeSpPackets([{ t: 'file', hash: H(1), offset: 0, payload: new Uint8Array(SP_MAX_FILE_CHUNK) }]),
    encodeSpPackets([{ t: 'done', hash: H(2) }]),
  ]);
  t.deepEqual(mixed.map((g) => g.length), [SP_MAX_PAYLOAD, 36]);
});
