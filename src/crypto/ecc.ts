/**
 * The elliptic-curve operations packets need, one call per packet: Ed25519
 * signatures over headers and X25519 agreement with an ephemeral key.
 * node:crypto (OpenSSL) does them without the start-up cost of building
 * precomputed tables in JavaScript; @noble/curves is the oracle in tests.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, KeyObject, sign, verify } from 'node:crypto';
import { AuthError } from '../errors.js';

// DER prefixes wrapping a raw 32-byte key (RFC 8410).
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

function der(prefix: Buffer, raw: Uint8Array): Buffer {
  if (raw.length !== 32) throw new RangeError(`expected a 32-byte key, got ${raw.length} bytes`);
  return Buffer.concat([prefix, raw]);
}

/**
 * Key objects of long-lived keys (our own private keys, neighbours' public
 * ones), built once per key: importing a private key from DER costs about
 * a millisecond in OpenSSL 3, more than the agreement it serves, and a toss
 * or xfer of many packets would pay it per packet. Keyed by the raw bytes;
 * bounded (cleared when full), so a stream of distinct keys cannot grow it.
 */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 256;

function cached(kind: string, raw: Uint8Array, make: () => KeyObject): KeyObject {
  const k = kind + Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
  let obj = keyCache.get(k);
  if (obj === undefined) {
    obj = make();
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
    keyCache.set(k, obj);
  }
  return obj;
}

/** A public key from its raw bytes through JWK: a third of the DER import's cost (no decoder lookup). */
function rawPub(crv: 'Ed25519' | 'X25519', pub: Uint8Array): KeyObject {
  if (pub.length !== 32) throw new RangeError(`expected a 32-byte key, got ${pub.length} bytes`);
  return createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('base64url') }, format: 'jwk' });
}

const edPrv = (seed: Uint8Array): KeyObject => cached('edprv:', seed, () => createPrivateKey({ key: der(PKCS8_ED25519, seed), format: 'der', type: 'pkcs8' }));
const edPub = (pub: Uint8Array): KeyObject => cached('edpub:', pub, () => rawPub('Ed25519', pub));
const xPrvDer = (prv: Uint8Array): KeyObject => createPrivateKey({ key: der(PKCS8_X25519, prv), format: 'der', type: 'pkcs8' });
/** Key objects of the ephemeral private keys x25519Keypair made, while their bytes live (kept out of the cache). */
const ephemeralPrv = new WeakMap<Uint8Array, KeyObject>();
const xPrv = (prv: Uint8Array): KeyObject => ephemeralPrv.get(prv) ?? cached('xprv:', prv, () => xPrvDer(prv));
/** Ephemeral keys (one per packet or session): not cached. */
const xPub = (pub: Uint8Array): KeyObject => rawPub('X25519', pub);

/*
 * Raw keys come out of key objects through DER, never JWK: Node 20 holds a
 * key's mutex while it builds the JWK object, and a garbage collection
 * then can run the destructor of the generateKeyPairSync job that made the
 * key, which takes the same mutex: the process hangs for good
 * (spec/perf-keys.test.ts reproduces it). A DER export copies the bytes out first.
 */

/** Last 32 bytes of a key object's DER export: the raw public key. */
export function rawPublic(k: KeyObject): Uint8Array {
  const d = k.export({ format: 'der', type: 'spki' });
  return new Uint8Array(d.subarray(d.length - 32));
}

/** Last 32 bytes of a private key object's PKCS#8 DER export: the raw private key (X25519, Ed25519 seed). */
function rawPrivate(k: KeyObject): Uint8Array {
  const d = k.export({ format: 'der', type: 'pkcs8' });
  const raw = Uint8Array.from(d.subarray(d.length - 32));
  d.fill(0);
  return raw;
}

/** Sign with NNCP's 64-byte Ed25519 private key (seed ‖ public key). */
export function ed25519Sign(signPrv: Uint8Array, msg: Uint8Array): Uint8Array {
  if (signPrv.length !== 64) throw new RangeError(`Ed25519 private key: expected 64 bytes, got ${signPrv.length}`);
  return new Uint8Array(sign(null, msg, edPrv(signPrv.subarray(0, 32))));
}

export function ed25519Verify(signPub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (signPub.length !== 32 || sig.length !== 64) return false;
  try {
    return verify(null, msg, edPub(signPub), sig);
  } catch {
    return false;
  }
}

/** Ed25519 public key of a 32-byte seed. */
export function ed25519Public(seed: Uint8Array): Uint8Array {
  return rawPublic(createPublicKey(edPrv(seed)));
}

export function x25519Public(prv: Uint8Array): Uint8Array {
  return rawPublic(createPublicKey(xPrv(prv)));
}

/**
 * A key pair for one packet: freshly generated, or from the given private
 * key (test vectors). Its key object goes with the returned bytes (a
 * WeakMap), so that x25519() with them imports nothing and the long-lived
 * key cache never holds an ephemeral key.
 */
export function x25519Keypair(prv?: Uint8Array): { prv: Uint8Array; pub: Uint8Array } {
  let key: KeyObject;
  let p: Uint8Array;
  if (prv) {
    p = prv;
    key = xPrvDer(p);
  } else {
    key = generateKeyPairSync('x25519').privateKey;
    p = rawPrivate(key);
  }
  ephemeralPrv.set(p, key);
  return { prv: p, pub: rawPublic(createPublicKey(key)) };
}

/** Diffie-Hellman; a low-order peer key (all-zero result) is refused. */
export function x25519(prv: Uint8Array, pub: Uint8Array): Uint8Array {
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: xPrv(prv), publicKey: xPub(pub) });
  } catch {
    throw new AuthError('X25519 agreement failed: the public key is invalid or of low order (a forged or broken key)');
  }
  if (shared.every((b) => b === 0)) throw new AuthError('X25519 agreement gave zero: the public key is of low order (a forged or broken key)');
  return new Uint8Array(shared);
}
