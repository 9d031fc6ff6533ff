/**
 * Magic numbers: 8 bytes, "NNCP" + a letter for the format + a 3-byte version.
 * Older versions are recognised so that errors can say "too old".
 */
import { bytesEqual } from '../codec/bytes.js';

export interface Magic {
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Non-null for versions we recognise but no longer speak. */
  readonly tooOld: string | null;
}

function magic(letter: string, version: number, name: string, tooOld: string | null = null): Magic {
  const b = new Uint8Array(8);
  b.set(new TextEncoder().encode('NNCP' + letter));
  b[5] = (version >> 16) & 255;
  b[6] = (version >> 8) & 255;
  b[7] = version & 255;
  return { name, bytes: b, tooOld };
}

export const MAGIC_PLAIN = magic('P', 3, 'plain packet v3');
export const MAGIC_ENC = magic('E', 6, 'encrypted packet v6');
export const MAGIC_SP = magic('S', 1, 'sync protocol v1');
export const MAGIC_CHUNKED_META = magic('M', 2, 'chunked .meta v2');
export const MAGIC_EBLOB = magic('B', 3, 'EBlob v3');

/** Formats of earlier NNCP releases; "till" is the last release that wrote them. */
export const OLD_MAGICS: Magic[] = [
  magic('B', 1, 'EBlob v1', '1.0'),
  magic('B', 2, 'EBlob v2', '3.4'),
  magic('E', 1, 'encrypted packet v1', '0.12'),
  magic('E', 2, 'encrypted packet v2', '1.0'),
  magic('E', 3, 'encrypted packet v3', '3.4'),
  magic('E', 4, 'encrypted packet v4', '6.6.0'),
  magic('E', 5, 'encrypted packet v5', '7.7.0'),
  magic('M', 1, 'chunked .meta v1', '6.6.0'),
  magic('P', 1, 'plain packet v1', '2.0'),
  magic('P', 2, 'plain packet v2', '4.1'),
];

/** Describe an 8-byte magic we do not speak, for an error message. */
export function describeForeignMagic(m: Uint8Array): string {
  for (const old of OLD_MAGICS) if (bytesEqual(old.bytes, m)) return `${old.name} is an old format (written by NNCP up to ${old.tooOld}) and is not supported`;
  return 'unknown magic number';
}

const EBLOB_FAMILY = [MAGIC_EBLOB, ...OLD_MAGICS.filter((m) => m.name.startsWith('EBlob'))];

/**
 * Whether `data` starts with an eblob magic (any version), as the reference
 * checks a configuration. Here, not in config/eblob.ts, so that loading a
 * plain configuration does not load the balloon hashing code.
 */
export function looksLikeEblob(data: Uint8Array): boolean {
  return data.length >= 8 && EBLOB_FAMILY.some((m) => bytesEqual(m.bytes, data.subarray(0, 8)));
}
