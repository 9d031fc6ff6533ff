/** Byte arrays: comparison and concatenation, the one helper of each that every module uses; and byte order of strings. */

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

/** The parts one after another in a new array; `total` is their length when the caller already knows it. */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  let len = total ?? 0;
  if (total === undefined) for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Sort order of strings by their UTF-8 bytes (Go's string order, and so the reference's map order). */
export function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
