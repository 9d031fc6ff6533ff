/**
 * EBlob: NNCP's passphrase-encrypted container for a configuration file
 * (nncp-cfgenc), and opening one wherever a configuration is read.
 *
 * Format (XDR): MAGIC "NNCPB\0\0\x03" ‖ S ‖ T ‖ P (uint32 each) ‖ SALT (32
 * bytes) ‖ BLOB (variable-length opaque). The key is Balloon-BLAKE2b-256 of
 * the passphrase with SALT, S blocks of space, T rounds, P jobs
 * (crypto/balloon.ts); BLOB is ChaCha20-Poly1305 under that key with an
 * all-zero nonce, the additional data being the eblob itself with an empty
 * BLOB. Bytes after the BLOB are ignored, as the reference ignores them.
 *
 * Every fault is one ConfigError line naming the file.
 */
import { randomBytes } from 'node:crypto';
import { chachaOpenWithNonce, chachaSealWithNonce } from '../crypto/aead.js';
import { BLOCK_SIZE, costFault, type BalloonCost } from '../crypto/balloon.js';
import { balloonHParallel } from '../crypto/balloon-parallel.js';
import { XdrReader, XdrWriter } from '../codec/xdr.js';
import { ConfigError, PigeonError } from '../errors.js';
import { bytesEqual } from '../codec/bytes.js';
import { describeForeignMagic, looksLikeEblob, MAGIC_EBLOB } from '../packet/magic.js';
import { TerminalPassphrase, type AskPassphrase } from './passphrase.js';

export const SALT_SIZE = 32;
const NONCE = new Uint8Array(12);
const MAGIC_SIZE = 8;
/** Magic, S, T, P, salt and the blob's length. */
const HEADER_SIZE = MAGIC_SIZE + 12 + SALT_SIZE + 4;

/** NNCP's defaults: 1 MiB of space (32768 blocks), 16 rounds, 2 jobs. */
export const DEFAULT_COST: Readonly<BalloonCost> = { s: (1 << 20) / BLOCK_SIZE, t: 16, p: 2 };

export interface Eblob extends BalloonCost {
  salt: Uint8Array;
  /** Ciphertext ‖ tag. */
  blob: Uint8Array;
}

export { looksLikeEblob };

/** The eblob with an empty blob: the AEAD's additional data. */
function header(e: BalloonCost & { salt: Uint8Array }): Uint8Array {
  return new XdrWriter().fixed(MAGIC_EBLOB.bytes).u32(e.s).u32(e.t).u32(e.p).fixed(e.salt, SALT_SIZE).opaque(new Uint8Array(0)).bytes();
}

/** Parse an eblob's fields; `file` names it in errors. */
export function parseEblob(data: Uint8Array, file: string): Eblob {
  const magic = data.subarray(0, MAGIC_SIZE);
  if (data.length < MAGIC_SIZE || !bytesEqual(magic, MAGIC_EBLOB.bytes)) {
    const what = looksLikeEblob(data) ? describeForeignMagic(magic) : 'not an eblob (no NNCPB magic; nncp-cfgenc makes one)';
    throw new ConfigError(`${file}: ${what}`);
  }
  if (data.length < HEADER_SIZE) throw new ConfigError(`${file}: truncated eblob: ${data.length} bytes, less than its ${HEADER_SIZE}-byte header`);
  const r = new XdrReader(data, MAGIC_SIZE, 'eblob');
  const s = r.u32(), t = r.u32(), p = r.u32();
  const salt = r.fixed(SALT_SIZE);
  const blobLen = new DataView(data.buffer, data.byteOffset + r.offset, 4).getUint32(0);
  const need = HEADER_SIZE + blobLen + ((4 - (blobLen % 4)) % 4);
  if (data.length < need) throw new ConfigError(`${file}: truncated eblob: ${data.length} bytes where its header says ${need}`);
  return { s, t, p, salt, blob: r.opaque() };
}

/** Encrypt `plain` under `passphrase` (a fresh random salt unless given). */
export async function sealEblob(plain: Uint8Array, passphrase: Uint8Array, cost: BalloonCost = DEFAULT_COST, salt: Uint8Array = randomBytes(SALT_SIZE)): Promise<Uint8Array> {
  const fault = costFault(cost);
  if (fault) throw new PigeonError('EUSAGE', fault);
  if (salt.length !== SALT_SIZE) throw new RangeError(`eblob salt: expected ${SALT_SIZE} bytes, got ${salt.length}`);
  const e = { s: cost.s, t: cost.t, p: cost.p, salt };
  const key = await balloonHParallel(passphrase, salt, cost);
  try {
    const blob = chachaSealWithNonce(key, NONCE, header(e), plain);
    return new XdrWriter().fixed(MAGIC_EBLOB.bytes).u32(e.s).u32(e.t).u32(e.p).fixed(salt, SALT_SIZE).opaque(blob).bytes();
  } finally {
    key.fill(0);
  }
}

/** Decrypt an eblob; a wrong passphrase or a tampered file is a ConfigError naming `file`. */
export async function openEblob(data: Uint8Array, passphrase: Uint8Array, file: string): Promise<Uint8Array> {
  const e = parseEblob(data, file);
  const fault = costFault(e);
  if (fault) throw new ConfigError(`${file}: unusable eblob: ${fault}`);
  const key = await balloonHParallel(passphrase, e.salt, e);
  try {
    const plain = chachaOpenWithNonce(key, NONCE, header(e), e.blob);
    if (!plain) throw new ConfigError(`${file}: wrong passphrase, or the eblob is damaged (authentication failed)`);
    return plain;
  } finally {
    key.fill(0);
  }
}

/** What `nncp-cfgenc -dump` prints, line for line. */
export function describeEblob(e: Eblob): string {
  return [
    'Strengthening function: Balloon with BLAKE2b-256',
    `Memory space cost: ${e.s * BLOCK_SIZE} bytes`,
    `Number of rounds: ${e.t}`,
    `Number of parallel jobs: ${e.p}`,
    `Blob size: ${e.blob.length}`,
    '',
  ].join('\n');
}

/** Ask once on the terminal (the prompt the reference shows when it reads a configuration). */
export const askOnTerminal: AskPassphrase = async (prompt) => {
  const tty = new TerminalPassphrase();
  try {
    return await tty.ask(prompt);
  } finally {
    tty.close();
  }
};

/**
 * The hook where configuration bytes are read: an eblob is decrypted with a
 * passphrase asked for (on the terminal by default); anything else is
 * returned as it is.
 */
export async function openConfigBytes(data: Uint8Array, file: string, ask: AskPassphrase = askOnTerminal): Promise<Uint8Array> {
  if (!looksLikeEblob(data)) return data;
  parseEblob(data, file); // refuse old or truncated eblobs before asking
  let passphrase: Uint8Array;
  try {
    passphrase = await ask('Passphrase:');
  } catch (err) {
    if (err instanceof PigeonError) throw new PigeonError('ECONFIG', `${file}: is an eblob; ${err.message}`, { cause: err, exitCode: err.exitCode });
    throw err;
  }
  try {
    return await openEblob(data, passphrase, file);
  } finally {
    passphrase.fill(0);
  }
}
