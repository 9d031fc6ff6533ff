/**
 * RFC 4648 Base32 (upper-case alphabet) without padding, as NNCP writes node
 * ids, packet ids and keys. Decoding accepts only canonical input: the
 * alphabet above, no padding, and zero trailing bits (unless asked to drop
 * non-zero trailing bits, as Go's decoder and so NNCP's configuration do).
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LOOKUP = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function base32Encode(data: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (let i = 0; i < data.length; i++) {
    value = (value << 8) | data[i];
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** Length of the unpadded Base32 text for `n` bytes. */
export function base32Len(n: number): number {
  return Math.ceil((n * 8) / 5);
}

/**
 * Decode; returns null when `text` is not canonical unpadded Base32. With
 * `ignoreTrailingBits`, non-zero unused bits of the last character are
 * dropped instead of refused.
 */
export function base32Decode(text: string, opts?: { ignoreTrailingBits?: boolean }): Uint8Array | null {
  const n = Math.floor((text.length * 5) / 8);
  if (base32Len(n) !== text.length) return null;
  const out = new Uint8Array(n);
  let bits = 0;
  let value = 0;
  let j = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? LOOKUP[c] : -1;
    if (v < 0) return null;
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out[j++] = (value >>> (bits - 8)) & 255;
      bits -= 8;
    }
    value &= (1 << bits) - 1;
  }
  if (value !== 0 && !opts?.ignoreTrailingBits) return null; // non-zero trailing bits: not what an encoder writes
  return out;
}
