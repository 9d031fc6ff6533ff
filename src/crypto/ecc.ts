/**
 * The elliptic-curve operations packets need, one call per packet: Ed25519
 * signatures over headers and X25519 agreement with an ephemeral key.
 * @noble/curves is fast enough for that and is the audited reference.
 */
import { ed25519, x25519 as X } from '@noble/curves/ed25519.js';
import { randomBytes } from 'node:crypto';
import { AuthError } from '../errors.js';

/** Sign with NNCP's 64-byte Ed25519 private key (seed ‖ public key) or a 32-byte seed. */
export function ed25519Sign(signPrv: Uint8Array, msg: Uint8Array): Uint8Array {
  return ed25519.sign(msg, signPrv.subarray(0, 32));
}

export function ed25519Verify(signPub: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  try {
    return ed25519.verify(sig, msg, signPub);
  } catch {
    return false;
  }
}

export function x25519Public(prv: Uint8Array): Uint8Array {
  return X.getPublicKey(prv);
}

export function x25519Keypair(prv?: Uint8Array): { prv: Uint8Array; pub: Uint8Array } {
  const p = prv ?? new Uint8Array(randomBytes(32));
  return { prv: p, pub: X.getPublicKey(p) };
}

/** Diffie-Hellman; a low-order peer key (all-zero result) is refused. */
export function x25519(prv: Uint8Array, pub: Uint8Array): Uint8Array {
  try {
    return X.getSharedSecret(prv, pub);
  } catch {
    throw new AuthError('X25519 agreement failed: the public key is of low order (a forged or broken key)');
  }
}
