/** Byte-array comparison: the one helper every module uses. */

/**
 * True when `a` and `b` hold the same bytes. The time taken depends only
 * on the lengths, not on where the first difference is, so it is safe for
 * keys and tags as well as for magic numbers.
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
