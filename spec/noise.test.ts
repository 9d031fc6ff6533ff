/**
 * Noise_*_25519_ChaChaPoly_BLAKE2b: every cacophony vector of the suite
 * (handshake messages byte for byte, handshake hash, transport messages),
 * @noble as an independent oracle for the primitives and for an IK first
 * message, and the failure rules (bad tags, sizes, turns).
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake2b as nobleBlake2b } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { randomBytes } from 'node:crypto';
import { AuthError, PacketError } from '../src/errors.js';
import {
  blake2b,
  CipherState,
  HandshakeState,
  hkdf,
  hmacBlake2b,
  NOISE_MAX_MSG,
  PATTERN_NAMES,
  type KeyPair,
  type PatternName,
} from '../src/sp/noise.js';
import { x25519Public } from '../src/crypto/ecc.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_ephemeral: string;
  init_static?: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_ephemeral?: string;
  resp_static?: string;
  resp_remote_static?: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

/**
 * The vectors file: in the repository's test-fixtures when copied there,
 * else beside the checkout (../shared/vectors), as the issue places it.
 */
function vectorsPath(): string {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const name = 'noise-25519-chachapoly-blake2b.json';
  const candidates = [
    process.env.PIGEON_NOISE_VECTORS,
    path.join(root, 'test-fixtures', 'noise', name),
    path.join(root, '..', 'shared', 'vectors', name),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`Noise vectors not found; looked in: ${candidates.join(', ')}`);
  return found;
}

const vectors: Vector[] = JSON.parse(readFileSync(vectorsPath(), 'utf8')).vectors;

const pair = (prv?: string): KeyPair | undefined => (prv ? { prv: unhex(prv), pub: x25519Public(unhex(prv)) } : undefined);

test('the vectors file covers every pattern we implement, and nothing else', (t) => {
  const names = vectors.map((v) => v.protocol_name);
  t.is(names.length, 38);
  for (const p of PATTERN_NAMES) t.true(names.includes(`Noise_${p}_25519_ChaChaPoly_BLAKE2b`), p);
  t.is(new Set(names).size, PATTERN_NAMES.length);
});

for (const v of vectors) {
  test(`vector ${v.protocol_name}`, (t) => {
    const m = /^Noise_([A-Z0-9]+)_25519_ChaChaPoly_BLAKE2b$/.exec(v.protocol_name);
    t.truthy(m, 'suite');
    const pattern = m![1] as PatternName;
    const init = new HandshakeState({
      pattern,
      initiator: true,
      prologue: unhex(v.init_prologue),
      s: pair(v.init_static),
      e: pair(v.init_ephemeral),
      rs: v.init_remote_static ? unhex(v.init_remote_static) : undefined,
    });
    const resp = new HandshakeState({
      pattern,
      initiator: false,
      prologue: unhex(v.resp_prologue),
      s: pair(v.resp_static),
      e: pair(v.resp_ephemeral),
      rs: v.resp_remote_static ? unhex(v.resp_remote_static) : undefined,
    });
    const oneWay = pattern.length === 1;
    let i = 0;
    // Handshake messages alternate, starting with the initiator.
    for (; !init.isComplete(); i++) {
      const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
      const msg = v.messages[i];
      const ct = w.writeMessage(unhex(msg.payload));
      t.is(hex(ct), msg.ciphertext, `handshake message ${i}`);
      t.is(hex(r.readMessage(ct)), msg.payload, `handshake payload ${i}`);
    }
    t.true(resp.isComplete());
    t.is(hex(init.handshakeHash()), v.handshake_hash);
    t.is(hex(resp.handshakeHash()), v.handshake_hash);
    if (v.init_static) t.is(hex(resp.remoteStatic() ?? new Uint8Array()), hex(x25519Public(unhex(v.init_static))));
    if (v.resp_static) t.is(hex(init.remoteStatic() ?? new Uint8Array()), hex(x25519Public(unhex(v.resp_static))));
    const [i2r, r2i] = init.split();
    const [ri2r, rr2i] = resp.split();
    // Transport: one-way patterns only ever send initiator → responder;
    // interactive ones keep alternating where the handshake stopped.
    for (; i < v.messages.length; i++) {
      const msg = v.messages[i];
      const fromInit = oneWay || i % 2 === 0;
      const [enc, dec] = fromInit ? [i2r, ri2r] : [rr2i, r2i];
      const ct = enc.encryptWithAd(new Uint8Array(0), unhex(msg.payload));
      t.is(hex(ct), msg.ciphertext, `transport message ${i}`);
      t.is(hex(dec.decryptWithAd(new Uint8Array(0), ct)), msg.payload);
    }
    t.true(i >= v.messages.length && v.messages.length > 0);
  });
}

// ------------------------------------------------------------- noble oracle

function nobleNonce(n: bigint): Uint8Array {
  const nonce = new Uint8Array(12);
  new DataView(nonce.buffer).setBigUint64(4, n, true);
  return nonce;
}

test('BLAKE2b-512 and HMAC-BLAKE2b (128-byte block) equal noble', (t) => {
  for (const len of [0, 1, 63, 64, 127, 128, 129, 1000]) {
    const data = randomBytes(len);
    t.is(hex(blake2b(data)), hex(nobleBlake2b(data)));
    for (const keyLen of [0, 32, 64, 128, 129, 200]) {
      const key = randomBytes(keyLen);
      t.is(hex(hmacBlake2b(key, data)), hex(nobleHmac(nobleBlake2b, key, data)), `key ${keyLen} data ${len}`);
    }
  }
});

test('HKDF follows the Noise definition (computed with noble HMAC)', (t) => {
  const ck = randomBytes(64);
  const ikm = randomBytes(32);
  const temp = nobleHmac(nobleBlake2b, ck, ikm);
  const o1 = nobleHmac(nobleBlake2b, temp, Uint8Array.of(1));
  const o2 = nobleHmac(nobleBlake2b, temp, Uint8Array.of(...o1, 2));
  const o3 = nobleHmac(nobleBlake2b, temp, Uint8Array.of(...o2, 3));
  t.deepEqual(hkdf(ck, ikm, 3).map(hex), [o1, o2, o3].map(hex));
  t.deepEqual(hkdf(ck, ikm, 2).map(hex), [o1, o2].map(hex));
});

test('CipherState: ChaCha20-Poly1305 with the little-endian 64-bit nonce, across the 32-bit boundary (noble)', (t) => {
  const k = randomBytes(32);
  const ad = randomBytes(20);
  for (const n of [0n, 1n, 255n, 256n, 0xffffffffn, 0x100000000n, 0x0123456789abcdefn]) {
    const cs = new CipherState(k);
    cs.setNonce(n);
    const pt = randomBytes(100);
    const ct = cs.encryptWithAd(ad, pt);
    t.is(hex(ct), hex(chacha20poly1305(k, nobleNonce(n), ad).encrypt(pt)), `n=${n}`);
    t.is(cs.n, n + 1n);
  }
});

test('rekey() is ENCRYPT(k, 2^64-1, empty, zeros)[0:32] (noble)', (t) => {
  const k = randomBytes(32);
  const cs = new CipherState(k);
  cs.setNonce(7n);
  cs.rekey();
  const k2 = chacha20poly1305(k, nobleNonce(0xffffffffffffffffn), new Uint8Array(0)).encrypt(new Uint8Array(32)).subarray(0, 32);
  const pt = randomBytes(10);
  t.is(hex(cs.encryptWithAd(new Uint8Array(0), pt)), hex(chacha20poly1305(k2, nobleNonce(7n), new Uint8Array(0)).encrypt(pt)));
});

test('an IK first message with a full SP payload equals one built from noble primitives', (t) => {
  const iS = nobleX25519.keygen();
  const iE = nobleX25519.keygen();
  const rS = nobleX25519.keygen();
  const payload = randomBytes(65280);
  const hs = new HandshakeState({
    pattern: 'IK',
    initiator: true,
    s: { prv: iS.secretKey, pub: iS.publicKey },
    e: { prv: iE.secretKey, pub: iE.publicKey },
    rs: rS.publicKey,
  });
  const ours = hs.writeMessage(payload);

  // Noise rev 34 by hand, with noble only.
  const H = (...p: Uint8Array[]) => nobleBlake2b(Uint8Array.from(Buffer.concat(p)));
  const HK = (ck: Uint8Array, ikm: Uint8Array) => {
    const temp = nobleHmac(nobleBlake2b, ck, ikm);
    const o1 = nobleHmac(nobleBlake2b, temp, Uint8Array.of(1));
    return [o1, nobleHmac(nobleBlake2b, temp, Uint8Array.of(...o1, 2))];
  };
  let h = new Uint8Array(64);
  h.set(new TextEncoder().encode('Noise_IK_25519_ChaChaPoly_BLAKE2b'));
  let ck = h;
  h = H(h, new Uint8Array(0)); // empty prologue
  h = H(h, rS.publicKey); // <- s
  h = H(h, iE.publicKey); // e
  let k: Uint8Array;
  [ck, k] = HK(ck, nobleX25519.getSharedSecret(iE.secretKey, rS.publicKey)); // es
  const sCt = chacha20poly1305(k.subarray(0, 32), nobleNonce(0n), h).encrypt(iS.publicKey); // s
  h = H(h, sCt);
  [ck, k] = HK(ck, nobleX25519.getSharedSecret(iS.secretKey, rS.publicKey)); // ss
  const pCt = chacha20poly1305(k.subarray(0, 32), nobleNonce(0n), h).encrypt(payload);
  h = H(h, pCt);
  const want = Buffer.concat([iE.publicKey, sCt, pCt]);
  t.is(ours.length, 32 + 48 + 65280 + 16);
  t.is(hex(ours), hex(want));
  t.is(hex(hs.handshakeHash()), hex(h));

  // And our responder reads it and learns the initiator's key.
  const resp = new HandshakeState({ pattern: 'IK', initiator: false, s: { prv: rS.secretKey, pub: rS.publicKey } });
  t.is(hex(resp.readMessage(ours)), hex(payload));
  t.is(hex(resp.remoteStatic()!), hex(iS.publicKey));
});

// ------------------------------------------------------------------ faults

function keyPair(): KeyPair {
  const prv = new Uint8Array(randomBytes(32));
  return { prv, pub: x25519Public(prv) };
}

function ikPair() {
  const i = keyPair();
  const r = keyPair();
  return {
    i,
    r,
    init: new HandshakeState({ pattern: 'IK', initiator: true, s: i, rs: r.pub }),
    resp: new HandshakeState({ pattern: 'IK', initiator: false, s: r }),
  };
}

test('a tampered handshake message fails authentication and the state refuses further use', (t) => {
  const { init, resp } = ikPair();
  const msg = init.writeMessage(new TextEncoder().encode('hello'));
  const bad = Uint8Array.from(msg);
  bad[bad.length - 1] ^= 1;
  t.throws(() => resp.readMessage(bad), { instanceOf: AuthError });
  t.throws(() => resp.readMessage(msg), { message: /already failed/ });
});

test('a message for another responder key fails before the static key is learnt', (t) => {
  const { init } = ikPair();
  const stranger = new HandshakeState({ pattern: 'IK', initiator: false, s: keyPair() });
  t.throws(() => stranger.readMessage(init.writeMessage(new Uint8Array(0))), { instanceOf: AuthError });
  t.is(stranger.remoteStatic(), undefined);
});

test('short and oversize handshake messages are refused', (t) => {
  const { resp } = ikPair();
  t.throws(() => resp.readMessage(new Uint8Array(randomBytes(40))), { instanceOf: PacketError, message: /too short/ });
  const { resp: resp2 } = ikPair();
  t.throws(() => resp2.readMessage(new Uint8Array(NOISE_MAX_MSG + 1)), { instanceOf: PacketError, message: /exceeds/ });
  const { init } = ikPair();
  // 32 + 48 + 16 bytes of overhead: the largest payload is 65535 - 96.
  t.throws(() => init.writeMessage(new Uint8Array(NOISE_MAX_MSG - 95)), { instanceOf: RangeError });
  const { init: init2, resp: resp3 } = ikPair();
  t.is(resp3.readMessage(init2.writeMessage(new Uint8Array(NOISE_MAX_MSG - 96))).length, NOISE_MAX_MSG - 96);
});

test('turns are enforced and split() waits for completion', (t) => {
  const { init, resp } = ikPair();
  t.throws(() => resp.writeMessage(new Uint8Array(0)), { message: /out of turn/ });
  t.throws(() => init.split(), { message: /before the handshake is complete/ });
  resp.readMessage(init.writeMessage(new Uint8Array(0)));
  t.throws(() => init.writeMessage(new Uint8Array(0)), { message: /out of turn/ });
  init.readMessage(resp.writeMessage(new Uint8Array(0)));
  t.true(init.isComplete() && resp.isComplete());
  t.is(hex(init.handshakeHash()), hex(resp.handshakeHash()));
  const [a, b] = init.split();
  const [c, d] = resp.split();
  const m = randomBytes(33);
  t.is(hex(c.decryptWithAd(new Uint8Array(0), a.encryptWithAd(new Uint8Array(0), m))), hex(m));
  t.is(hex(b.decryptWithAd(new Uint8Array(0), d.encryptWithAd(new Uint8Array(0), m))), hex(m));
});

test('transport: a bad tag leaves the nonce alone, so the genuine message still decrypts; reordering fails', (t) => {
  const k = randomBytes(32);
  const tx = new CipherState(k);
  const rx = new CipherState(k);
  const empty = new Uint8Array(0);
  const m1 = tx.encryptWithAd(empty, Buffer.from('one'));
  const m2 = tx.encryptWithAd(empty, Buffer.from('two'));
  const bad = Uint8Array.from(m1);
  bad[0] ^= 0x80;
  t.throws(() => rx.decryptWithAd(empty, bad), { instanceOf: AuthError });
  t.is(rx.n, 0n);
  t.throws(() => rx.decryptWithAd(empty, m2), { instanceOf: AuthError });
  t.is(Buffer.from(rx.decryptWithAd(empty, m1)).toString(), 'one');
  t.is(Buffer.from(rx.decryptWithAd(empty, m2)).toString(), 'two');
  t.throws(() => rx.decryptWithAd(empty, new Uint8Array(5)), { instanceOf: AuthError });
  t.throws(() => tx.encryptWithAd(empty, new Uint8Array(NOISE_MAX_MSG - 15)), { instanceOf: RangeError });
});

test('the last nonce is never used: encryption stops at 2^64-1', (t) => {
  const cs = new CipherState(randomBytes(32));
  cs.setNonce(0xfffffffffffffffen);
  t.notThrows(() => cs.encryptWithAd(new Uint8Array(0), new Uint8Array(1)));
  t.throws(() => cs.encryptWithAd(new Uint8Array(0), new Uint8Array(1)), { message: /exhausted/ });
});

test('a low-order ephemeral key from the peer is refused', (t) => {
  const { resp } = ikPair();
  const { init } = ikPair();
  const msg = init.writeMessage(new Uint8Array(0));
  const forged = Uint8Array.from(msg);
  forged.set(new Uint8Array(32), 0); // the all-zero point
  t.throws(() => resp.readMessage(forged), { instanceOf: AuthError });
});
