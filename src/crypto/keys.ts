/**
 * Node identity and the three keypairs every NNCP node holds:
 *
 * - exchange: X25519, the static key packets are encrypted to;
 * - signing:  Ed25519, packet headers are signed with it; the node id is
 *             BLAKE2b-256 of its public half;
 * - noise:    X25519, the static key of the online (Noise IK) protocol.
 *
 * NNCP stores an Ed25519 private key the way Go does: 64 bytes, the 32-byte
 * seed followed by the 32-byte public key (103 Base32 characters).
 *
 * Key generation uses @noble/curves; signing and agreement are in ecc.ts
 * (node:crypto, with noble as the oracle in tests).
 */
import { ed25519, x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { base32Encode } from '../codec/base32.js';
import { ed25519Public } from './ecc.js';
import type { SelfNode } from '../config/types.js';

export const KEY_SIZE = 32;
export const NODE_ID_SIZE = 32;
/** Go's ed25519.PrivateKey: seed ‖ public key. */
export const SIGN_PRV_SIZE = 64;
export const SIGNATURE_SIZE = 64;

function checkLen(what: string, b: Uint8Array, n: number): void {
  if (!(b instanceof Uint8Array)) throw new TypeError(`${what}: expected a Uint8Array`);
  if (b.length !== n) throw new RangeError(`${what}: expected ${n} bytes, got ${b.length}`);
}

/** BLAKE2b-256 of the Ed25519 public key: the node's 32-byte id. */
export function nodeIdFromSignPub(signPub: Uint8Array): Uint8Array {
  checkLen('signing public key', signPub, KEY_SIZE);
  return blake2b(signPub, { dkLen: NODE_ID_SIZE });
}

/** An area id is BLAKE2b-256 of the area's X25519 public key. */
export function areaIdFromPub(pub: Uint8Array): Uint8Array {
  checkLen('area public key', pub, KEY_SIZE);
  return blake2b(pub, { dkLen: NODE_ID_SIZE });
}

// The per-packet operations live in ecc.ts (node:crypto); these names are kept for key handling.
export { ed25519Sign, ed25519Verify, x25519 } from './ecc.js';
export { x25519Public as x25519Pub } from './ecc.js';

/** Public half of a 32-byte seed or a 64-byte Go-style private key (recomputed, not copied). */
export function ed25519PubFromPrv(signPrv: Uint8Array): Uint8Array {
  if (signPrv.length !== KEY_SIZE) checkLen('Ed25519 private key', signPrv, SIGN_PRV_SIZE);
  return ed25519Public(signPrv.subarray(0, KEY_SIZE));
}

function x25519Pair(): { prv: Uint8Array; pub: Uint8Array } {
  const { secretKey, publicKey } = nobleX25519.keygen();
  return { prv: secretKey, pub: publicKey };
}

/** Fresh keys for a new node, in the shape the configuration holds them. */
export function generateNodeKeys(): SelfNode {
  const exch = x25519Pair();
  const noise = x25519Pair();
  const sign = ed25519.keygen();
  const signPrv = new Uint8Array(SIGN_PRV_SIZE);
  signPrv.set(sign.secretKey, 0);
  signPrv.set(sign.publicKey, KEY_SIZE);
  const id = nodeIdFromSignPub(sign.publicKey);
  return {
    id,
    idB32: base32Encode(id),
    exchPub: exch.pub,
    exchPrv: exch.prv,
    signPub: sign.publicKey,
    signPrv,
    noisePub: noise.pub,
    noisePrv: noise.prv,
  };
}

export interface AreaKeys {
  id: Uint8Array;
  pub: Uint8Array;
  prv: Uint8Array;
}

/** A fresh X25519 keypair for a multicast area, and the id derived from it. */
export function generateAreaKeys(): AreaKeys {
  const { prv, pub } = x25519Pair();
  return { id: areaIdFromPub(pub), pub, prv };
}

/** An Ed25519 keypair for Yggdrasil: public 32 bytes, private 64 (seed ‖ public). */
export function generateYggdrasilKeys(): { pub: Uint8Array; prv: Uint8Array } {
  const { secretKey, publicKey } = ed25519.keygen();
  const prv = new Uint8Array(SIGN_PRV_SIZE);
  prv.set(secretKey, 0);
  prv.set(publicKey, KEY_SIZE);
  return { pub: publicKey, prv };
}
