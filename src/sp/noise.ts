/**
 * The Noise Protocol Framework (revision 34) for one cipher suite:
 * Noise_*_25519_ChaChaPoly_BLAKE2b, the suite of NNCP's sync protocol.
 *
 * - DH: X25519 (node:crypto via crypto/ecc.ts; a low-order peer key that
 *   gives an all-zero secret is refused with an AuthError).
 * - Cipher: ChaCha20-Poly1305, 96-bit nonce = 4 zero bytes ‖ 64-bit
 *   little-endian counter, 16-byte tag.
 * - Hash: BLAKE2b-512 (HASHLEN 64, BLOCKLEN 128); HMAC and HKDF as the
 *   Noise spec defines them on top of it.
 *
 * Every handshake pattern of the spec's sections 7.4, 7.5 and 18 (the
 * one-way, fundamental and deferred patterns) is supported with tokens e, s,
 * ee, es, se, ss. PSK modifiers are not: NNCP does not use them and the
 * vectors we check against have none.
 *
 * Key material: a static key can be a StaticKey, whose private half lives
 * only in one node:crypto KeyObject made once (a daemon shares it among all
 * its handshakes); generated ephemeral keys are KeyObjects too and never
 * exist as bytes here. Temporary secrets (DH outputs, HKDF and HMAC
 * intermediates, superseded chaining keys) are zeroed as soon as they are
 * used, and split() zeroes the chaining key and the handshake's cipher key
 * and drops the ephemeral key: after it only the transport keys and the
 * (public) handshake hash remain.
 *
 * Messages are at most 65535 bytes, as the spec requires. There is no
 * automatic rekey (neither Noise nor NNCP's Noise library does one);
 * `rekey()` exists for completeness. A counter that reaches 2^64-1 stops
 * the CipherState instead of wrapping.
 */
import { createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chachaOpenInto, chachaOpenWithNonce, chachaSealInto, chachaSealWithNonce } from '../crypto/aead.js';
import { rawPublic, x25519 } from '../crypto/ecc.js';
import { AuthError, PacketError, PigeonError } from '../errors.js';

const SUITE = '25519_ChaChaPoly_BLAKE2b';
const DHLEN = 32;
const HASHLEN = 64;
export const TAGLEN = 16;
/** Largest Noise message (handshake or transport), in bytes. */
export const NOISE_MAX_MSG = 65535;
/** 2^64-1 is reserved (rekey uses it); encryption stops before it. */
const MAX_NONCE = 0xffffffffffffffffn;

export interface KeyPair {
  prv: Uint8Array;
  pub: Uint8Array;
}

// RFC 8410's PKCS#8 wrapping of a raw X25519 private key.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** A static X25519 key pair whose private half is held once, as a node:crypto KeyObject. */
export class StaticKey {
  /** The private key; its raw bytes are not kept here. */
  readonly key: KeyObject;
  readonly pub: Uint8Array;

  constructor(prv: Uint8Array, pub: Uint8Array) {
    checkKey('static private key', prv);
    checkKey('static public key', pub);
    // Built outside Buffer's shared pool and zeroed once OpenSSL has its copy.
    const der = Buffer.alloc(PKCS8_X25519_PREFIX.length + DHLEN);
    PKCS8_X25519_PREFIX.copy(der);
    der.set(prv, PKCS8_X25519_PREFIX.length);
    try {
      this.key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
    this.pub = Uint8Array.from(pub);
  }
}

/** Our key for DH: raw bytes (test vectors) or a KeyObject (StaticKey, generated ephemeral keys). */
type OwnKey = { prv: Uint8Array; pub: Uint8Array } | { key: KeyObject; pub: Uint8Array };

/** A fresh ephemeral key pair that exists only as a KeyObject. */
function ephemeralKey(): OwnKey {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { key: privateKey, pub: rawPublic(publicKey) }; // DER, not JWK: see ecc.ts
}

/** DH(ours, theirs); a low-order peer key (all-zero result) is refused. The result is the caller's to zero. */
function dhWith(ours: OwnKey, theirs: Uint8Array): Uint8Array {
  if ('prv' in ours) return x25519(ours.prv, theirs);
  let shared: Buffer;
  try {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(theirs).toString('base64url') }, format: 'jwk' });
    shared = diffieHellman({ privateKey: ours.key, publicKey });
  } catch {
    throw new AuthError('X25519 agreement failed: the public key is invalid or of low order (a forged or broken key)');
  }
  if (shared.every((b) => b === 0)) throw new AuthError('X25519 agreement gave zero: the public key is of low order (a forged or broken key)');
  return shared;
}

// ---------------------------------------------------------------- primitives

export function blake2b(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('blake2b512');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** HMAC (RFC 2104) with BLAKE2b-512; OpenSSL uses BLAKE2b's 128-byte block. */
export function hmacBlake2b(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('blake2b512', key);
  for (const p of parts) h.update(p);
  const d = h.digest();
  const out = new Uint8Array(d);
  d.fill(0);
  return out;
}

/** Noise's HKDF: two or three HASHLEN-byte outputs from a chaining key and input key material. */
export function hkdf(chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  const temp = hmacBlake2b(chainingKey, ikm);
  const out1 = hmacBlake2b(temp, Uint8Array.of(1));
  const out2 = hmacBlake2b(temp, out1, Uint8Array.of(2));
  const out = outputs === 2 ? [out1, out2] : [out1, out2, hmacBlake2b(temp, out2, Uint8Array.of(3))];
  temp.fill(0);
  return out;
}

function nonceBytes(n: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(n, 4);
  return nonce;
}

/** ENCRYPT(k, n, ad, plaintext): ciphertext ‖ 16-byte tag. */
function chachaSeal(k: Uint8Array, n: bigint, ad: Uint8Array, pt: Uint8Array): Uint8Array {
  return chachaSealWithNonce(k, nonceBytes(n), ad, pt);
}

/** DECRYPT(k, n, ad, ciphertext); null when the tag does not verify. */
function chachaOpen(k: Uint8Array, n: bigint, ad: Uint8Array, ct: Uint8Array): Uint8Array | null {
  return chachaOpenWithNonce(k, nonceBytes(n), ad, ct);
}

// -------------------------------------------------------------- CipherState

export class CipherState {
  private k: Uint8Array | null = null;
  /** The next nonce. */
  n = 0n;
  /** 4 zero bytes ‖ the nonce, little-endian (encryptInto, decryptInto). */
  private readonly nonceBuf = Buffer.alloc(12);

  constructor(k?: Uint8Array) {
    if (k) this.initializeKey(k);
  }

  initializeKey(k: Uint8Array | null): void {
    if (k !== null && k.length !== 32) throw new RangeError(`CipherState: key must be 32 bytes, got ${k.length}`);
    this.k?.fill(0);
    this.k = k === null ? null : Uint8Array.from(k);
    this.n = 0n;
  }

  hasKey(): boolean {
    return this.k !== null;
  }

  setNonce(n: bigint): void {
    this.n = n;
  }

  encryptWithAd(ad: Uint8Array, pt: Uint8Array): Uint8Array {
    if (this.k === null) return pt;
    if (pt.length > NOISE_MAX_MSG - TAGLEN) {
      throw new RangeError(`Noise: a plaintext of ${pt.length} bytes does not fit a ${NOISE_MAX_MSG}-byte message`);
    }
    if (this.n >= MAX_NONCE) throw new PigeonError('EIO', 'Noise: the nonce space of this session is exhausted; reconnect');
    const ct = chachaSeal(this.k, this.n, ad, pt);
    this.n++;
    return ct;
  }

  /**
   * encryptWithAd into `out` (at least pt.length + TAGLEN bytes, not
   * overlapping `pt`) instead of a new buffer; returns the bytes written.
   * Same bytes and nonce use as encryptWithAd (a key is required).
   */
  encryptInto(ad: Uint8Array, pt: Uint8Array, out: Uint8Array): number {
    if (this.k === null) throw new Error('CipherState: encryptInto without a key');
    if (pt.length > NOISE_MAX_MSG - TAGLEN) {
      throw new RangeError(`Noise: a plaintext of ${pt.length} bytes does not fit a ${NOISE_MAX_MSG}-byte message`);
    }
    if (this.n >= MAX_NONCE) throw new PigeonError('EIO', 'Noise: the nonce space of this session is exhausted; reconnect');
    chachaSealInto(this.k, this.nonce(), ad, pt, out);
    this.n++;
    return pt.length + TAGLEN;
  }

  /**
   * decryptWithAd into `out` (at least ct.length - TAGLEN bytes, not
   * overlapping `ct`): the plaintext, a view of `out`. Throws AuthError on a
   * bad tag (the nonce then stays where it was; `out` may hold garbage).
   */
  decryptInto(ad: Uint8Array, ct: Uint8Array, out: Uint8Array): Uint8Array {
    if (this.k === null) throw new Error('CipherState: decryptInto without a key');
    if (ct.length > NOISE_MAX_MSG) throw new PacketError(`Noise: a message of ${ct.length} bytes exceeds the limit of ${NOISE_MAX_MSG}`);
    if (ct.length < TAGLEN) throw new AuthError(`Noise: a message of ${ct.length} bytes is shorter than its tag`);
    if (this.n >= MAX_NONCE) throw new PigeonError('EIO', 'Noise: the nonce space of this session is exhausted; reconnect');
    if (!chachaOpenInto(this.k, this.nonce(), ad, ct, out)) {
      throw new AuthError('Noise: message failed authentication (tampered, truncated, out of order or made with another key)');
    }
    this.n++;
    return out.subarray(0, ct.length - TAGLEN);
  }

  /** The current nonce, in one buffer reused per CipherState. */
  private nonce(): Uint8Array {
    this.nonceBuf.writeBigUInt64LE(this.n, 4);
    return this.nonceBuf;
  }

  /** Throws AuthError on a bad tag; the nonce then stays where it was. */
  decryptWithAd(ad: Uint8Array, ct: Uint8Array): Uint8Array {
    if (this.k === null) return ct;
    if (ct.length > NOISE_MAX_MSG) throw new PacketError(`Noise: a message of ${ct.length} bytes exceeds the limit of ${NOISE_MAX_MSG}`);
    if (this.n >= MAX_NONCE) throw new PigeonError('EIO', 'Noise: the nonce space of this session is exhausted; reconnect');
    const pt = chachaOpen(this.k, this.n, ad, ct);
    if (pt === null) throw new AuthError('Noise: message failed authentication (tampered, truncated, out of order or made with another key)');
    this.n++;
    return pt;
  }

  /** REKEY: k = first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zero bytes). */
  rekey(): void {
    if (this.k === null) return;
    const sealed = chachaSeal(this.k, MAX_NONCE, new Uint8Array(0), new Uint8Array(32));
    this.k.fill(0);
    this.k = sealed.slice(0, 32);
    sealed.fill(0);
  }
}

// ----------------------------------------------------------- SymmetricState

class SymmetricState {
  readonly cs = new CipherState();
  ck: Uint8Array;
  h: Uint8Array;

  constructor(protocolName: string) {
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= HASHLEN) {
      this.h = new Uint8Array(HASHLEN);
      this.h.set(name);
    } else {
      this.h = blake2b(name);
    }
    this.ck = Uint8Array.from(this.h);
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf(this.ck, ikm, 2);
    this.ck.fill(0);
    this.ck = ck;
    this.cs.initializeKey(tempK.subarray(0, 32));
    tempK.fill(0);
  }

  mixHash(data: Uint8Array): void {
    this.h = blake2b(this.h, data);
  }

  encryptAndHash(pt: Uint8Array): Uint8Array {
    const ct = this.cs.encryptWithAd(this.h, pt);
    this.mixHash(ct);
    return ct;
  }

  decryptAndHash(ct: Uint8Array): Uint8Array {
    const pt = this.cs.decryptWithAd(this.h, ct);
    this.mixHash(ct);
    return pt;
  }

  /** The transport keys; the chaining key and the handshake's cipher key are zeroed (the hash stays). */
  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.ck, new Uint8Array(0), 2);
    const pair: [CipherState, CipherState] = [new CipherState(k1.subarray(0, 32)), new CipherState(k2.subarray(0, 32))];
    k1.fill(0);
    k2.fill(0);
    this.ck.fill(0);
    this.cs.initializeKey(null);
    return pair;
  }
}

// ----------------------------------------------------------------- patterns

type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

interface Pattern {
  /** Pre-messages: what the initiator's and the responder's peers know beforehand. */
  pre: [string, string];
  /** Messages, alternating initiator → responder, responder → initiator, … */
  msgs: string[];
}

/** Noise rev 34, sections 7.4 (one-way), 7.5 (fundamental), 18 (deferred). */
const PATTERNS = {
  N: { pre: ['', 's'], msgs: ['e es'] },
  K: { pre: ['s', 's'], msgs: ['e es ss'] },
  X: { pre: ['', 's'], msgs: ['e es s ss'] },
  NN: { pre: ['', ''], msgs: ['e', 'e ee'] },
  NK: { pre: ['', 's'], msgs: ['e es', 'e ee'] },
  NX: { pre: ['', ''], msgs: ['e', 'e ee s es'] },
  KN: { pre: ['s', ''], msgs: ['e', 'e ee se'] },
  KK: { pre: ['s', 's'], msgs: ['e es ss', 'e ee se'] },
  KX: { pre: ['s', ''], msgs: ['e', 'e ee se s es'] },
  XN: { pre: ['', ''], msgs: ['e', 'e ee', 's se'] },
  XK: { pre: ['', 's'], msgs: ['e es', 'e ee', 's se'] },
  XX: { pre: ['', ''], msgs: ['e', 'e ee s es', 's se'] },
  IN: { pre: ['', ''], msgs: ['e s', 'e ee se'] },
  IK: { pre: ['', 's'], msgs: ['e es s ss', 'e ee se'] },
  IX: { pre: ['', ''], msgs: ['e s', 'e ee se s es'] },
  NK1: { pre: ['', 's'], msgs: ['e', 'e ee es'] },
  NX1: { pre: ['', ''], msgs: ['e', 'e ee s', 'es'] },
  X1N: { pre: ['', ''], msgs: ['e', 'e ee', 's', 'se'] },
  X1K: { pre: ['', 's'], msgs: ['e es', 'e ee', 's', 'se'] },
  XK1: { pre: ['', 's'], msgs: ['e', 'e ee es', 's se'] },
  X1K1: { pre: ['', 's'], msgs: ['e', 'e ee es', 's', 'se'] },
  X1X: { pre: ['', ''], msgs: ['e', 'e ee s es', 's', 'se'] },
  XX1: { pre: ['', ''], msgs: ['e', 'e ee s', 'es s se'] },
  X1X1: { pre: ['', ''], msgs: ['e', 'e ee s', 'es s', 'se'] },
  K1N: { pre: ['s', ''], msgs: ['e', 'e ee', 'se'] },
  K1K: { pre: ['s', 's'], msgs: ['e es', 'e ee', 'se'] },
  KK1: { pre: ['s', 's'], msgs: ['e', 'e ee se es'] },
  K1K1: { pre: ['s', 's'], msgs: ['e', 'e ee es', 'se'] },
  K1X: { pre: ['s', ''], msgs: ['e', 'e ee s es', 'se'] },
  KX1: { pre: ['s', ''], msgs: ['e', 'e ee se s', 'es'] },
  K1X1: { pre: ['s', ''], msgs: ['e', 'e ee s', 'se es'] },
  I1N: { pre: ['', ''], msgs: ['e s', 'e ee', 'se'] },
  I1K: { pre: ['', 's'], msgs: ['e es s', 'e ee', 'se'] },
  IK1: { pre: ['', 's'], msgs: ['e s', 'e ee se es'] },
  I1K1: { pre: ['', 's'], msgs: ['e s', 'e ee es', 'se'] },
  I1X: { pre: ['', ''], msgs: ['e s', 'e ee s es', 'se'] },
  IX1: { pre: ['', ''], msgs: ['e s', 'e ee se s', 'es'] },
  I1X1: { pre: ['', ''], msgs: ['e s', 'e ee s', 'se es'] },
} satisfies Record<string, Pattern>;

export type PatternName = keyof typeof PATTERNS;
export const PATTERN_NAMES = Object.keys(PATTERNS) as PatternName[];

function tokens(s: string): Token[] {
  return s === '' ? [] : (s.split(' ') as Token[]);
}

function protocolName(pattern: PatternName): string {
  return `Noise_${pattern}_${SUITE}`;
}

// ----------------------------------------------------------- HandshakeState

export interface HandshakeOptions {
  pattern: PatternName;
  initiator: boolean;
  prologue?: Uint8Array;
  /** Our static key pair (a StaticKey: shared, never copied). */
  s?: KeyPair | StaticKey;
  /** Our ephemeral key pair: for test vectors only; otherwise generated. */
  e?: KeyPair;
  /** The peer's static public key, when the pattern has it as a pre-message. */
  rs?: Uint8Array;
  /** The peer's ephemeral public key (no supported pattern pre-shares it). */
  re?: Uint8Array;
}

function checkKey(what: string, key: Uint8Array | undefined): void {
  if (key !== undefined && key.length !== DHLEN) throw new RangeError(`Noise: ${what} must be ${DHLEN} bytes, got ${key.length}`);
}

export class HandshakeState {
  readonly pattern: PatternName;
  readonly initiator: boolean;
  private readonly ss: SymmetricState;
  private readonly msgs: Token[][];
  private s?: OwnKey;
  private e?: OwnKey;
  private presetE?: KeyPair;
  private splitDone = false;
  private rs?: Uint8Array;
  private re?: Uint8Array;
  private idx = 0;
  private failed: Error | null = null;

  constructor(opts: HandshakeOptions) {
    const p: Pattern | undefined = (PATTERNS as Record<string, Pattern>)[opts.pattern];
    if (!p) throw new RangeError(`Noise: unknown handshake pattern ${opts.pattern}`);
    this.pattern = opts.pattern;
    this.initiator = opts.initiator;
    this.msgs = p.msgs.map(tokens);
    if (opts.s && !(opts.s instanceof StaticKey)) checkKey('static private key', opts.s.prv);
    checkKey('static public key', opts.s?.pub);
    checkKey('ephemeral private key', opts.e?.prv);
    checkKey('ephemeral public key', opts.e?.pub);
    checkKey('remote static key', opts.rs);
    checkKey('remote ephemeral key', opts.re);
    this.s = opts.s;
    this.presetE = opts.e;
    this.rs = opts.rs;
    this.re = opts.re;

    // Which keys does this pattern need from us?
    const mine = (i: number) => (i % 2 === 0) === this.initiator;
    const [myPre, theirPre] = this.initiator ? p.pre : [p.pre[1], p.pre[0]];
    const sendsS = myPre.includes('s') || this.msgs.some((m, i) => mine(i) && m.includes('s'));
    if (sendsS && !this.s) throw new RangeError(`Noise ${opts.pattern}: our static key pair is required`);
    if (theirPre.includes('s') && !this.rs) throw new RangeError(`Noise ${opts.pattern}: the peer's static public key is required`);
    if (!theirPre.includes('s') && this.rs) throw new RangeError(`Noise ${opts.pattern}: the peer's static key is learnt during the handshake, not given`);

    this.ss = new SymmetricState(protocolName(opts.pattern));
    this.ss.mixHash(opts.prologue ?? new Uint8Array(0));
    const [initPre, respPre] = p.pre;
    if (initPre.includes('s')) this.ss.mixHash(this.initiator ? this.s!.pub : this.rs!);
    if (respPre.includes('s')) this.ss.mixHash(this.initiator ? this.rs! : this.s!.pub);
  }

  isComplete(): boolean {
    return this.idx >= this.msgs.length;
  }

  /** Is the next handshake message ours to write? */
  isMyTurn(): boolean {
    return !this.isComplete() && (this.idx % 2 === 0) === this.initiator;
  }

  handshakeHash(): Uint8Array {
    return Uint8Array.from(this.ss.h);
  }

  remoteStatic(): Uint8Array | undefined {
    return this.rs && Uint8Array.from(this.rs);
  }

  /**
   * [initiator → responder, responder → initiator], once the handshake is
   * complete. Once only: the chaining key is zeroed and the ephemeral key
   * dropped (the handshake hash and the remote static key stay readable).
   */
  split(): [CipherState, CipherState] {
    this.usable();
    if (!this.isComplete()) throw new Error('Noise: split() before the handshake is complete');
    if (this.splitDone) throw new Error('Noise: split() twice: the handshake keys are gone');
    this.splitDone = true;
    this.e = undefined;
    this.presetE = undefined;
    return this.ss.split();
  }

  writeMessage(payload: Uint8Array): Uint8Array {
    this.usable();
    if (!this.isMyTurn()) throw new Error(`Noise ${this.pattern}: writeMessage() out of turn`);
    try {
      const parts: Uint8Array[] = [];
      for (const t of this.msgs[this.idx]) {
        if (t === 'e') {
          this.e = this.presetE ?? ephemeralKey();
          this.presetE = undefined;
          parts.push(this.e.pub);
          this.ss.mixHash(this.e.pub);
        } else if (t === 's') {
          parts.push(this.ss.encryptAndHash(this.s!.pub));
        } else {
          this.dh(t);
        }
      }
      parts.push(this.ss.encryptAndHash(payload));
      const len = parts.reduce((a, b) => a + b.length, 0);
      if (len > NOISE_MAX_MSG) throw new RangeError(`Noise: a handshake message of ${len} bytes exceeds the limit of ${NOISE_MAX_MSG}`);
      const out = new Uint8Array(len);
      let off = 0;
      for (const part of parts) {
        out.set(part, off);
        off += part.length;
      }
      this.idx++;
      return out;
    } catch (err) {
      this.failed = err as Error;
      throw err;
    }
  }

  readMessage(msg: Uint8Array): Uint8Array {
    this.usable();
    if (this.isComplete() || this.isMyTurn()) throw new Error(`Noise ${this.pattern}: readMessage() out of turn`);
    try {
      if (msg.length > NOISE_MAX_MSG) throw new PacketError(`Noise: a handshake message of ${msg.length} bytes exceeds the limit of ${NOISE_MAX_MSG}`);
      let off = 0;
      const take = (n: number, what: string): Uint8Array => {
        if (msg.length - off < n) throw new PacketError(`Noise: handshake message too short for its ${what} (${msg.length} bytes)`);
        const v = msg.subarray(off, off + n);
        off += n;
        return v;
      };
      for (const t of this.msgs[this.idx]) {
        if (t === 'e') {
          this.re = Uint8Array.from(take(DHLEN, 'ephemeral key'));
          this.ss.mixHash(this.re);
        } else if (t === 's') {
          if (this.rs) throw new PacketError('Noise: the peer sent a static key it already had to be known');
          const ct = take(this.ss.cs.hasKey() ? DHLEN + TAGLEN : DHLEN, 'static key');
          this.rs = Uint8Array.from(this.ss.decryptAndHash(ct));
        } else {
          this.dh(t);
        }
      }
      const payload = this.ss.decryptAndHash(msg.subarray(off));
      this.idx++;
      return Uint8Array.from(payload);
    } catch (err) {
      this.failed = err as Error;
      throw err;
    }
  }

  private dh(t: Exclude<Token, 'e' | 's'>): void {
    const need = <T>(v: T | undefined, what: string): T => {
      if (v === undefined) throw new Error(`Noise ${this.pattern}: ${what} missing for token ${t}`);
      return v;
    };
    let prv: OwnKey;
    let pub: Uint8Array;
    // es = DH(initiator's e, responder's s); se = DH(initiator's s, responder's e).
    const ours = (k: 'e' | 's') => need(k === 'e' ? this.e : this.s, `our ${k}`);
    const theirs = (k: 'e' | 's') => need(k === 'e' ? this.re : this.rs, `their ${k}`);
    if (t === 'ee') [prv, pub] = [ours('e'), theirs('e')];
    else if (t === 'ss') [prv, pub] = [ours('s'), theirs('s')];
    else if (t === 'es') [prv, pub] = this.initiator ? [ours('e'), theirs('s')] : [ours('s'), theirs('e')];
    else [prv, pub] = this.initiator ? [ours('s'), theirs('e')] : [ours('e'), theirs('s')];
    const shared = dhWith(prv, pub);
    try {
      this.ss.mixKey(shared);
    } finally {
      shared.fill(0);
    }
  }

  private usable(): void {
    if (this.failed) throw new Error(`Noise: this handshake already failed (${this.failed.message}); start a new one`);
  }
}
