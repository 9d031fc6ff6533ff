/**
 * The per-packet fast paths of issue 11 against their oracles: key objects
 * cached per key (crypto/ecc.ts) still give @noble/curves' answers, on the
 * second use of a key as on the first, for many keys (the cache is bounded
 * and cleared), and never confuse two keys; ephemeral keys from
 * x25519Keypair agree with noble; a forged signature or a low-order key is
 * still refused with a cached key in place.
 */
import test from 'ava';
import { ed25519 as nobleEd, x25519 as nobleX } from '@noble/curves/ed25519.js';
import { randomBytes } from 'node:crypto';
import { ed25519Public, ed25519Sign, ed25519Verify, x25519, x25519Keypair, x25519Public } from '../src/crypto/ecc.js';
import { AuthError } from '../src/errors.js';
import { run } from './helpers/util.js';

const rnd = (n: number) => new Uint8Array(randomBytes(n));

function signKey(): { prv: Uint8Array; pub: Uint8Array } {
  const seed = rnd(32);
  const pub = nobleEd.getPublicKey(seed);
  const prv = new Uint8Array(64);
  prv.set(seed);
  prv.set(pub, 32);
  return { prv, pub };
}

test('cached key objects: signing, verifying and agreement equal noble on first and repeated use, over more keys than the cache holds', (t) => {
  const self = { exch: rnd(32), sign: signKey() };
  const selfExchPub = nobleX.getPublicKey(self.exch);
  for (let i = 0; i < 150; i++) {
    const peerSign = signKey();
    const peerExch = rnd(32);
    const peerExchPub = nobleX.getPublicKey(peerExch);
    for (let round = 0; round < 2; round++) {
      const msg = rnd(40);
      const sig = ed25519Sign(self.sign.prv, msg);
      t.deepEqual(sig, nobleEd.sign(msg, self.sign.prv.subarray(0, 32)));
      t.true(ed25519Verify(self.sign.pub, msg, sig));
      const peerSig = nobleEd.sign(msg, peerSign.prv.subarray(0, 32));
      t.true(ed25519Verify(peerSign.pub, msg, peerSig));
      // A cached key of another node never verifies this one's signature.
      t.false(ed25519Verify(self.sign.pub, msg, peerSig));
      const bad = Uint8Array.from(peerSig);
      bad[5] ^= 1;
      t.false(ed25519Verify(peerSign.pub, msg, bad));
      t.deepEqual(x25519(self.exch, peerExchPub), nobleX.getSharedSecret(self.exch, peerExchPub));
      t.deepEqual(x25519(peerExch, selfExchPub), nobleX.getSharedSecret(peerExch, selfExchPub));
    }
    if (i % 50 === 0) {
      t.deepEqual(x25519Public(self.exch), selfExchPub);
      t.deepEqual(ed25519Public(self.sign.prv.subarray(0, 32)), self.sign.pub);
    }
  }
});

test('ephemeral key pairs: generated or given, their public half and agreement equal noble; distinct each time', (t) => {
  const peer = rnd(32);
  const peerPub = nobleX.getPublicKey(peer);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const eph = x25519Keypair();
    t.is(eph.prv.length, 32);
    t.deepEqual(eph.pub, nobleX.getPublicKey(eph.prv));
    t.deepEqual(x25519(eph.prv, peerPub), nobleX.getSharedSecret(eph.prv, peerPub));
    t.deepEqual(x25519(peer, eph.pub), nobleX.getSharedSecret(peer, eph.pub));
    seen.add(Buffer.from(eph.prv).toString('hex'));
  }
  t.is(seen.size, 50);
  const given = rnd(32);
  const pair = x25519Keypair(given);
  t.deepEqual(pair.prv, given);
  t.deepEqual(pair.pub, nobleX.getPublicKey(given));
  t.deepEqual(x25519(pair.prv, peerPub), nobleX.getSharedSecret(given, peerPub));
});

test('a low-order public key is refused even with our private key cached', (t) => {
  const self = rnd(32);
  const ok = nobleX.getPublicKey(rnd(32));
  t.deepEqual(x25519(self, ok), nobleX.getSharedSecret(self, ok)); // cached now
  t.throws(() => x25519(self, new Uint8Array(32)), { instanceOf: AuthError });
  const one = new Uint8Array(32);
  one[0] = 1;
  t.throws(() => x25519(self, one), { instanceOf: AuthError });
});

test('x25519Keypair never hangs when a collection lands inside it (Node 20 deadlocks in a JWK export of a generated key)', async (t) => {
  // A small young generation and a varying amount of garbage between key
  // pairs move the collections around until one falls inside the export.
  // Exporting the private key as JWK hung this loop within a few thousand
  // key pairs (main thread waiting on the key's mutex forever).
  const ecc = new URL('../src/crypto/ecc.js', import.meta.url).href;
  const script = `const { x25519Keypair } = await import(${JSON.stringify(ecc)}); let sink; for (let i = 0; i < 10000; i++) { for (let j = 0; j < (i * 7) % 97; j++) sink = [j]; x25519Keypair(); } process.stdout.write(String(sink.length));`;
  const r = await run(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', script], { timeout: 30_000 });
  t.is(r.code, 0, `the key pair loop did not finish: ${r.stderr}`);
  t.is(r.stdout.toString(), '1');
});
