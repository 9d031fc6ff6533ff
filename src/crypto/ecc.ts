/**
 * The elliptic-curve operations packets need, one call per packet: Ed25519
 * signatures over headers and X25519 agreement with an ephemeral key.
 * node:crypto (OpenSSL) does them without the start-up cost of building
 * precomputed tables in JavaScript; @noble/curves is the oracle in tests.
 */
import { createPrivateKey, createPublicKey, diffieHellman, KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { AuthError } from '../errors.js';

// DER prefixes wrapping a raw 32-byte key (RFC 8410).
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

function der(prefix: Buffer, raw: Uint8Array): Buffer {
  if (raw.length !== 32) throw new RangeError(`expected a 32-byte key, got ${raw.length} bytes`);
  return Buffer.concat([prefix, raw]);
}
const edPrv = (seed: Uint8Array): KeyObject => createPrivateKey({ key: der(PKCS8_ED25519, seed), format: 'der', type: 'pkcs8' });
const edPub = (pub: Uint8Array): KeyObject => createPublicKey({ key: der(SPKI_ED25519, pub), format: 'der', type: 'spki' });
const xPrv = (prv: Uint8Array): KeyObject => createPrivateKey({ key: der(PKCS8_X25519, prv), format: 'der', type: 'pkcs8' });
const xPub = (pub: Uint8Array): KeyObject => createPublicKey({ key: der(SPKI_X25519, pub), format: 'der', type: 'spki' });

/** Last 32 bytes of a key object's DER export: the raw public key. */
function rawPublic(k: KeyObject): Uint8Array {
  const d = k.export({ format: 'der', type: 'spki' });
  return new Uint8Array(d.subarray(d.length - 32));
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

export function x25519Keypair(prv?: Uint8Array): { prv: Uint8Array; pub: Uint8Array } {
  const p = prv ?? new Uint8Array(randomBytes(32));
  return { prv: p, pub: x25519Public(p) };
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
