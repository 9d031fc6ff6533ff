/**
 * The online bulk path without allocation per frame: Noise transport
 * messages sealed into and opened from buffers the caller owns
 * (CipherState.encryptInto / decryptInto, checked against encryptWithAd and
 * @noble/ciphers, on both engines), frames built in place, FrameReader's
 * reused assembly buffer (nextView), and a real socket carrying tens of MiB
 * through the transport's reused frame buffers while the receiver is slow,
 * byte for byte.
 */
import test, { type ExecutionContext } from 'ava';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { base32Encode } from '../src/codec/base32.js';
import type { Neighbour, SelfNode } from '../src/config/types.js';
import { x25519Keypair } from '../src/crypto/ecc.js';
import { AuthError } from '../src/errors.js';
import { encodeFrame, FRAME_HEAD_SIZE, frameInPlace, FrameReader, framedSize, SP_MAX_FRAME } from '../src/sp/frame.js';
import { spInitiate, spRespond } from '../src/sp/handshake.js';
import { CipherState, NOISE_MAX_MSG, TAGLEN } from '../src/sp/noise.js';
import { SP_MAX_PAYLOAD } from '../src/sp/packets.js';

const noiseNonce = (n: bigint): Uint8Array => {
  const b = Buffer.alloc(12);
  b.writeBigUInt64LE(n, 4);
  return b;
};

const SIZES = [0, 1, 15, 16, 17, 1000, 65280, NOISE_MAX_MSG - TAGLEN];

test('encryptInto/decryptInto: the bytes of encryptWithAd and of @noble, nonces in step, into buffers at any offset', (t) => {
  const key = new Uint8Array(randomBytes(32));
  const a = new CipherState(key);
  const b = new CipherState(key);
  const rx = new CipherState(key);
  const ad = new Uint8Array(0);
  const out = new Uint8Array(NOISE_MAX_MSG + 40);
  const plain = new Uint8Array(NOISE_MAX_MSG);
  for (const size of SIZES) {
    const pt = new Uint8Array(randomBytes(size));
    const n = a.n;
    const ref = b.encryptWithAd(ad, pt);
    const at = 7 + (size % 5); // not at the buffer's start
    const len = a.encryptInto(ad, pt, out.subarray(at));
    t.is(len, size + TAGLEN);
    const ct = out.subarray(at, at + len);
    t.deepEqual(Buffer.from(ct), Buffer.from(ref), `size ${size}`);
    t.deepEqual(Buffer.from(ct), Buffer.from(chacha20poly1305(key, noiseNonce(n)).encrypt(pt)), `noble, size ${size}`);
    t.is(a.n, n + 1n);
    const got = rx.decryptInto(ad, ct, plain.subarray(3));
    t.deepEqual(Buffer.from(got), Buffer.from(pt), `opened, size ${size}`);
    t.is(rx.n, n + 1n);
  }
});

test('decryptInto: a tampered or short message throws AuthError and keeps the nonce; a plaintext too big is refused', (t) => {
  const key = new Uint8Array(randomBytes(32));
  const tx = new CipherState(key);
  const rx = new CipherState(key);
  const ad = new Uint8Array(0);
  const ct = new Uint8Array(1000 + TAGLEN);
  tx.encryptInto(ad, new Uint8Array(1000).fill(7), ct);
  const out = new Uint8Array(NOISE_MAX_MSG);
  for (const i of [0, 500, 1000, 1015]) {
    const bad = Uint8Array.from(ct);
    bad[i] ^= 1;
    t.throws(() => rx.decryptInto(ad, bad, out), { instanceOf: AuthError });
    t.is(rx.n, 0n);
  }
  t.throws(() => rx.decryptInto(ad, ct.subarray(0, TAGLEN - 1), out), { instanceOf: AuthError });
  t.is(rx.n, 0n);
  t.deepEqual(Buffer.from(rx.decryptInto(ad, ct, out)), Buffer.alloc(1000, 7));
  t.throws(() => tx.encryptInto(ad, new Uint8Array(NOISE_MAX_MSG - TAGLEN + 1), new Uint8Array(NOISE_MAX_MSG + 1)), { instanceOf: RangeError });
  t.throws(() => tx.encryptInto(ad, new Uint8Array(100), new Uint8Array(100 + TAGLEN - 1)), { instanceOf: RangeError });
});

test('encryptInto/decryptInto on node:crypto (PIGEON_NATIVE=0): the same bytes as @noble', (t) => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const noise = path.join(here, '../src/sp/noise.js');
  const aeadJs = path.join(here, '../src/crypto/aead.js');
  const script = `
    const { CipherState } = await import(${JSON.stringify(noise)});
    const { aead } = await import(${JSON.stringify(aeadJs)});
    const key = new Uint8Array(32).map((_, i) => i + 1);
    const cs = new CipherState(key), rx = new CipherState(key);
    const outs = [];
    for (const size of ${JSON.stringify(SIZES)}) {
      const pt = new Uint8Array(size).map((_, i) => (i * 31 + size) & 255);
      const out = new Uint8Array(size + 16 + 3);
      const len = cs.encryptInto(new Uint8Array(0), pt, out.subarray(3));
      const back = rx.decryptInto(new Uint8Array(0), out.subarray(3, 3 + len), new Uint8Array(size + 1));
      if (Buffer.compare(back, pt) !== 0) throw new Error('round trip ' + size);
      outs.push(Buffer.from(out.subarray(3, 3 + len)).toString('hex'));
    }
    process.stdout.write(JSON.stringify({ engine: aead().engine, outs }));`;
  const res = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, PIGEON_NATIVE: '0' }, maxBuffer: 64 << 20 }).toString()) as { engine: string; outs: string[] };
  t.is(res.engine, 'node:crypto');
  const key = new Uint8Array(32).map((_, i) => i + 1);
  SIZES.forEach((size, n) => {
    const pt = new Uint8Array(size).map((_, i) => (i * 31 + size) & 255);
    t.is(res.outs[n], Buffer.from(chacha20poly1305(key, noiseNonce(BigInt(n))).encrypt(pt)).toString('hex'), `size ${size}`);
  });
});

test('frameInPlace: the bytes of encodeFrame for every padding, stale bytes in the buffer overwritten', (t) => {
  const buf = new Uint8Array(framedSize(NOISE_MAX_MSG)).fill(0xee);
  for (const len of [0, 1, 2, 3, 4, 5, 100, 65531, NOISE_MAX_MSG]) {
    const msg = new Uint8Array(randomBytes(len));
    buf.set(msg, FRAME_HEAD_SIZE);
    const frame = frameInPlace(buf, len);
    t.is(frame.length, framedSize(len));
    t.deepEqual(Buffer.from(frame), Buffer.from(encodeFrame(msg)), `length ${len}`);
    buf.fill(0xee);
  }
  t.throws(() => frameInPlace(new Uint8Array(20), 9), { instanceOf: RangeError });
});

async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield Uint8Array.from(data.subarray(i, i + size)); // fresh, as a socket's
}

test('FrameReader.nextView: the messages of next() whatever the chunking, frames spanning chunks assembled in one reused buffer', async (t) => {
  const msgs = [0, 1, 3, 5, 1000, 65000, NOISE_MAX_MSG, 7, 40000].map((n) => new Uint8Array(randomBytes(n)));
  const stream = Buffer.concat(msgs.map((m) => encodeFrame(m)));
  for (const size of [1, 5, 11, 12, 13, 4096, 65536, stream.length]) {
    const r = new FrameReader(chunked(stream, size), SP_MAX_FRAME);
    const buffers = new Set<ArrayBufferLike>();
    for (const m of msgs) {
      const got = await r.nextView();
      t.truthy(got);
      t.deepEqual(Buffer.from(got!), Buffer.from(m), `chunks of ${size}, message of ${m.length}`);
      if (got!.length > size) buffers.add(got!.buffer);
    }
    t.is(await r.nextView(), null);
    t.true(buffers.size <= 1, `chunks of ${size}: one assembly buffer`);
    t.is(r.bytesRead, stream.length);
  }
});

// ---------------------------------------------------------------- live

function memNode(name: string): { self: SelfNode; asNeighbour: Neighbour } {
  const noise = x25519Keypair();
  const id = new Uint8Array(randomBytes(32));
  const self = { id, idB32: base32Encode(id), exchPub: noise.pub, exchPrv: noise.prv, signPub: new Uint8Array(32), signPrv: new Uint8Array(64), noisePub: noise.pub, noisePrv: noise.prv } as SelfNode;
  const asNeighbour = { name, idB32: self.idB32, id, exchPub: noise.pub, signPub: self.signPub, noisePub: noise.pub, exec: new Map(), freq: {}, via: [], addrs: new Map(), rxRate: 0, txRate: 0, onlineDeadline: 10, maxOnlineTime: 0, calls: [], ack: {} } as Neighbour;
  return { self, asNeighbour };
}

async function loopback(t: ExecutionContext): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const srv = await accepted;
  server.close();
  for (const s of [client, srv]) t.teardown(() => void s.destroy());
  return [client, srv];
}

test('a socket carries 48 MiB each way through reused frame buffers, byte for byte, with a slow receiver on one side', async (t) => {
  const alice = memNode('alice');
  const bob = memNode('bob');
  const [cs, ss] = await loopback(t);
  const first = new Uint8Array(4);
  const [ta, tb] = await Promise.all([
    spInitiate({ readable: cs, writable: cs }, alice.self, bob.asNeighbour, first),
    spRespond({ readable: ss, writable: ss }, bob.self, () => alice.asNeighbour, () => first),
  ]);
  const FRAMES = 770; // ~48 MiB of full payloads
  const payloadOf = (seed: number, i: number): Uint8Array => {
    const p = new Uint8Array(i % 97 === 0 ? 4 + (i % 5000) : SP_MAX_PAYLOAD);
    new DataView(p.buffer).setUint32(0, seed * 1_000_000 + i);
    for (let k = 4; k < p.length; k += 4096) p[k] = (i * 7 + k) & 255;
    return p;
  };
  const send = async (tr: typeof ta, seed: number): Promise<string> => {
    const h = createHash('sha256');
    const buf = new Uint8Array(SP_MAX_PAYLOAD); // one buffer, rewritten: the transport must not keep it
    for (let i = 0; i < FRAMES; i++) {
      const p = payloadOf(seed, i);
      buf.set(p);
      h.update(p);
      await tr.send(buf.subarray(0, p.length));
    }
    return h.digest('hex');
  };
  const receive = async (tr: typeof ta, seed: number, slow: boolean): Promise<string> => {
    const h = createHash('sha256');
    for (let i = 0; i < FRAMES; i++) {
      const p = await tr.receive();
      if (p === null) throw new Error(`link closed after ${i} payloads`);
      if (new DataView(p.buffer, p.byteOffset).getUint32(0) !== seed * 1_000_000 + i) throw new Error(`payload ${i} out of order`);
      h.update(p);
      if (slow && i % 50 === 0) await new Promise((r) => setTimeout(r, 5)); // let the sender's queue fill up
    }
    return h.digest('hex');
  };
  const [sentA, sentB, gotB, gotA] = await Promise.all([send(ta, 1), send(tb, 2), receive(tb, 1, true), receive(ta, 2, false)]);
  t.is(gotB, sentA);
  t.is(gotA, sentB);
  t.true(ta.txBytes >= FRAMES * 1000 && tb.rxBytes === ta.txBytes, `${tb.rxBytes} received of ${ta.txBytes} sent`);
  ta.close();
  tb.close();
});
