/**
 * Node identity and key helpers: published vectors (RFC 8032, RFC 7748,
 * BLAKE2b-256 as Python's hashlib computes it), node:crypto (OpenSSL) as an
 * independent implementation, and keys printed by the reference nncp-cfgnew.
 */
import test from 'ava';
import crypto from 'node:crypto';
import Hjson from 'hjson';
import { base32Decode, base32Encode } from '../src/codec/base32.js';
import {
  areaIdFromPub,
  ed25519PubFromPrv,
  ed25519Sign,
  ed25519Verify,
  generateAreaKeys,
  generateNodeKeys,
  generateYggdrasilKeys,
  nodeIdFromSignPub,
  x25519,
  x25519Pub,
} from '../src/crypto/keys.js';
import { requireNncp, runNncp } from './helpers/util.js';
import { blake2b256 } from '../src/crypto/blake2b256.js';
import { blake2b as nobleBlake2b } from '@noble/hashes/blake2.js';

const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const b32 = (s: string) => {
  const b = base32Decode(s);
  if (!b) throw new Error(`not Base32: ${s}`);
  return b;
};

function nodeEdPrivate(seed: Uint8Array, pub: Uint8Array) {
  return crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64u(seed), x: b64u(pub) }, format: 'jwk' });
}
function nodeEdPublic(pub: Uint8Array) {
  return crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(pub) }, format: 'jwk' });
}
function nodeX25519(prv: Uint8Array, pub: Uint8Array) {
  const privateKey = crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(prv), x: b64u(x25519Pub(prv)) }, format: 'jwk' });
  const publicKey = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(pub) }, format: 'jwk' });
  return new Uint8Array(crypto.diffieHellman({ privateKey, publicKey }));
}

test('BLAKE2b-256 (blake2b256.ts) equals @noble/hashes at every length across the block boundaries', (t) => {
  // Empty, one byte, 32 (ids), around one, two and three 128-byte blocks.
  const lengths = [0, 1, 31, 32, 33, 64, 127, 128, 129, 200, 255, 256, 257, 383, 384, 385, 1000];
  for (const n of lengths) {
    const msg = new Uint8Array(crypto.randomBytes(n));
    t.is(toHex(blake2b256(msg)), toHex(nobleBlake2b(msg, { dkLen: 32 })), `length ${n}`);
  }
  // hashlib: hashlib.blake2b(b'', digest_size=32)
  t.is(toHex(blake2b256(new Uint8Array(0))), '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8');
});

test('BLAKE2b-256 node id: hashlib vectors', (t) => {
  // python3 -c "import hashlib; print(hashlib.blake2b(bytes(range(32)), digest_size=32).hexdigest())"
  t.is(toHex(nodeIdFromSignPub(Uint8Array.from({ length: 32 }, (_, i) => i))), 'cb2f5160fc1f7e05a55ef49d340b48da2e5a78099d53393351cd579dd42503d6');
  t.throws(() => nodeIdFromSignPub(new Uint8Array(31)), { instanceOf: RangeError });
});

test('Ed25519: RFC 8032 test 1, Go-style 64-byte private key', (t) => {
  const seed = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
  const pub = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const sig = hex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
  const prv64 = new Uint8Array([...seed, ...pub]);
  t.deepEqual(ed25519PubFromPrv(prv64), pub);
  t.deepEqual(ed25519PubFromPrv(seed), pub);
  t.deepEqual(ed25519Sign(prv64, new Uint8Array(0)), sig);
  t.true(ed25519Verify(pub, new Uint8Array(0), sig));
  t.false(ed25519Verify(pub, new Uint8Array([0]), sig));
  const bad = sig.slice();
  bad[10] ^= 1;
  t.false(ed25519Verify(pub, new Uint8Array(0), bad));
  t.false(ed25519Verify(pub, new Uint8Array(0), sig.subarray(0, 63)));
  t.throws(() => ed25519Sign(seed, new Uint8Array(0)), { instanceOf: RangeError });
});

test('X25519: RFC 7748 section 6.1', (t) => {
  const alicePrv = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const alicePub = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  const bobPrv = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const bobPub = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  t.deepEqual(x25519Pub(alicePrv), alicePub);
  t.deepEqual(x25519Pub(bobPrv), bobPub);
  t.is(toHex(x25519(alicePrv, bobPub)), shared);
  t.is(toHex(x25519(bobPrv, alicePub)), shared);
  // A low-order point gives an all-zero secret: refused.
  t.throws(() => x25519(alicePrv, new Uint8Array(32)));
});

test('generated node keys: layout, id, and agreement with node:crypto', (t) => {
  const k = generateNodeKeys();
  t.is(k.signPrv.length, 64);
  t.deepEqual(k.signPrv.subarray(32), k.signPub);
  t.deepEqual(k.id, nodeIdFromSignPub(k.signPub));
  t.is(k.idB32, base32Encode(k.id));
  t.is(base32Encode(k.signPrv).length, 103);
  t.deepEqual(x25519Pub(k.exchPrv), k.exchPub);
  t.deepEqual(x25519Pub(k.noisePrv), k.noisePub);
  t.notDeepEqual(k.exchPrv, k.noisePrv);

  // Signatures: ours verify in OpenSSL, OpenSSL's verify here, and are identical (Ed25519 is deterministic).
  const msg = crypto.randomBytes(200);
  const ours = ed25519Sign(k.signPrv, msg);
  const theirs = new Uint8Array(crypto.sign(null, msg, nodeEdPrivate(k.signPrv.subarray(0, 32), k.signPub)));
  t.deepEqual(ours, theirs);
  t.true(crypto.verify(null, msg, nodeEdPublic(k.signPub), ours));
  t.true(ed25519Verify(k.signPub, msg, theirs));

  // Key agreement with another fresh node, both ways, against OpenSSL.
  const other = generateNodeKeys();
  const s = x25519(k.exchPrv, other.exchPub);
  t.deepEqual(s, x25519(other.exchPrv, k.exchPub));
  t.deepEqual(s, nodeX25519(k.exchPrv, other.exchPub));
});

test('generated area and Yggdrasil keys', (t) => {
  const a = generateAreaKeys();
  t.deepEqual(x25519Pub(a.prv), a.pub);
  t.deepEqual(a.id, areaIdFromPub(a.pub));
  const y = generateYggdrasilKeys();
  t.is(y.prv.length, 64);
  t.deepEqual(y.prv.subarray(32), y.pub);
  t.deepEqual(ed25519PubFromPrv(y.prv), y.pub);
});

test('keys printed by nncp-cfgnew: id, key halves, signatures', async (t) => {
  if (!requireNncp(t)) return;
  for (const args of [[], ['-nocomments']]) {
    const res = await runNncp('nncp-cfgnew', args);
    t.is(res.code, 0, res.stderr);
    const self = Hjson.parse(res.stdout.toString('utf8')).self as Record<string, string>;
    t.is(self.signprv.length, 103);
    const signPub = b32(self.signpub);
    const signPrv = b32(self.signprv);
    t.is(base32Encode(nodeIdFromSignPub(signPub)), self.id);
    t.deepEqual(signPrv.subarray(32), signPub);
    t.deepEqual(ed25519PubFromPrv(signPrv), signPub);
    t.deepEqual(x25519Pub(b32(self.exchprv)), b32(self.exchpub));
    t.deepEqual(x25519Pub(b32(self.noiseprv)), b32(self.noisepub));
    const msg = new TextEncoder().encode('signed with a key nncp-cfgnew made');
    t.true(crypto.verify(null, msg, nodeEdPublic(signPub), ed25519Sign(signPrv, msg)));
  }
});

test('area keys printed by nncp-cfgnew -area: id is BLAKE2b-256 of pub', async (t) => {
  if (!requireNncp(t)) return;
  const res = await runNncp('nncp-cfgnew', ['-area', 'echo', '-nocomments']);
  t.is(res.code, 0, res.stderr);
  const area = (Hjson.parse(res.stdout.toString('utf8')) as { areas: Record<string, Record<string, string>> }).areas.echo;
  t.is(base32Encode(areaIdFromPub(b32(area.pub))), area.id);
  t.deepEqual(x25519Pub(b32(area.prv)), b32(area.pub));
});

test('Yggdrasil keys printed by nncp-cfgnew -yggdrasil: 64-byte private key', async (t) => {
  if (!requireNncp(t)) return;
  const res = await runNncp('nncp-cfgnew', ['-yggdrasil']);
  t.is(res.code, 0, res.stderr);
  const m = /^Public: ([0-9a-f]{64})\nPrivate: ([0-9a-f]{128})\n$/.exec(res.stdout.toString('utf8'));
  t.truthy(m, res.stdout.toString('utf8'));
  const pub = hex(m![1]);
  const prv = hex(m![2]);
  t.deepEqual(prv.subarray(32), pub);
  t.deepEqual(ed25519PubFromPrv(prv), pub);
});

test('node:crypto signing and agreement equal @noble/curves on random keys', async (t) => {
  const { ed25519: nobleEd, x25519: nobleX } = await import('@noble/curves/ed25519.js');
  for (let i = 0; i < 20; i++) {
    const a = generateNodeKeys();
    const b = generateNodeKeys();
    const msg = crypto.randomBytes(i * 13);
    const sig = ed25519Sign(a.signPrv, msg);
    t.deepEqual(sig, nobleEd.sign(msg, a.signPrv.subarray(0, 32)));
    t.true(nobleEd.verify(sig, msg, a.signPub));
    t.true(ed25519Verify(a.signPub, msg, sig));
    t.deepEqual(x25519(a.exchPrv, b.exchPub), nobleX.getSharedSecret(a.exchPrv, b.exchPub));
    t.deepEqual(x25519Pub(a.noisePrv), nobleX.getPublicKey(a.noisePrv));
  }
});
