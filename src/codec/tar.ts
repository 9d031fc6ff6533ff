/**
 * Tar headers, both ways, without I/O: the 512-byte header block as
 * `file` writes it for a directory (src/tx/tar.ts, PAX) and as `bundle`
 * writes and reads it (src/xfer/bundle.ts, USTAR with the name split into
 * prefix and name).
 *
 * Reading follows what the reference's tar reader (Go's archive/tar)
 * accepts, since bundles are read as the reference reads them: a block is a
 * header when its checksum (unsigned or signed sum) matches; its format is
 * guessed from the magic (USTAR/PAX, GNU, STAR, else V7); names joined from
 * the USTAR prefix; sizes in octal or GNU base-256; typeflag NUL read as a
 * regular file, or a directory when the name ends in "/"; PAX records and
 * GNU long names (typeflags x, L, K) override the fields of the header that
 * follows them.
 */

export const TAR_BLOCK = 512;
/** Longest name in the USTAR name field, and in its prefix field. */
export const USTAR_NAME = 100;
export const USTAR_PREFIX = 155;
/** Largest size or time an 11-digit octal field holds. */
export const OCTAL11_MAX = 0o77777777777;
/**
 * Largest PAX record block or GNU long name a reader takes (as Go's
 * archive/tar): more is refused as a damaged header, memory stays bounded.
 */
export const TAR_SPECIAL_MAX = 1 << 20;

const enc = new TextEncoder();

/** Padding after `n` bytes of entry data, up to the next block boundary. */
export function tarPad(n: number): number {
  return (TAR_BLOCK - (n % TAR_BLOCK)) % TAR_BLOCK;
}

function octal(field: Uint8Array, off: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  field.set(enc.encode(digits), off);
  field[off + width - 1] = 0;
}

export interface TarHeaderFields {
  /** Name field (up to 100 bytes; only ASCII is kept). */
  name: string;
  /** USTAR prefix field (up to 155 bytes): the full name is PREFIX/NAME. */
  prefix?: string;
  mode: number;
  size: number;
  mtime: number;
  /** Typeflag: '0' file, '5' directory, 'x' PAX records, ... */
  type: string;
}

/**
 * One USTAR header block (uid/gid 0, no user or group names), checksum
 * written as six octal digits, NUL, space. A size above OCTAL11_MAX is
 * written as 0 (the caller gives it in a PAX record).
 */
export function tarHeader(h: TarHeaderFields): Uint8Array {
  const b = new Uint8Array(TAR_BLOCK);
  // Only ASCII goes into the fixed fields; a PAX "path" record carries any other name.
  const ascii = (s: string, max: number) => enc.encode(s.replace(/[^\x00-\x7f]/g, '')).subarray(0, max);
  b.set(ascii(h.name, USTAR_NAME), 0);
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, 0); // uid
  octal(b, 116, 8, 0); // gid
  octal(b, 124, 12, h.size > OCTAL11_MAX ? 0 : h.size);
  octal(b, 136, 12, Math.min(Math.max(h.mtime, 0), OCTAL11_MAX));
  b[156] = h.type.charCodeAt(0);
  b.set(enc.encode('ustar\x0000'), 257);
  octal(b, 329, 8, 0); // devmajor
  octal(b, 337, 8, 0); // devminor
  if (h.prefix) b.set(ascii(h.prefix, USTAR_PREFIX), 345);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.set(enc.encode(sum.toString(8).padStart(6, '0')), 148);
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

// ------------------------------------------------------------------ reading

export type TarFormat = 'ustar' | 'gnu' | 'star' | 'v7';

/** A header block as read: its own fields, before PAX records or long names apply. */
export interface TarBlockHeader {
  format: TarFormat;
  /** The full name (USTAR prefix joined). */
  name: string;
  /** Typeflag as a one-character string; NUL already turned into '0' or '5'. */
  type: string;
  size: number;
}

export type TarBlock = { kind: 'zero' } | { kind: 'bad'; reason: string } | { kind: 'header'; header: TarBlockHeader };

const dec = new TextDecoder('utf-8', { fatal: false });

/** A NUL-terminated string field. */
function cstr(b: Uint8Array, off: number, len: number): string {
  const f = b.subarray(off, off + len);
  const nul = f.indexOf(0);
  return dec.decode(nul < 0 ? f : f.subarray(0, nul));
}

/** An octal field (spaces and NULs around it ignored; empty is 0), or null when malformed. */
function parseOctal(f: Uint8Array): number | null {
  let s = 0;
  let e = f.length;
  while (s < e && (f[s] === 0x20 || f[s] === 0)) s++;
  while (e > s && (f[e - 1] === 0x20 || f[e - 1] === 0)) e--;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = f[i] - 0x30;
    if (d < 0 || d > 7) return null;
    v = v * 8 + d;
  }
  return v;
}

/** A numeric field: octal, or GNU base-256 (high bit set); null when malformed or beyond 2^53. */
function parseNumeric(f: Uint8Array): number | null {
  if (f.length > 0 && (f[0] & 0x80) !== 0) {
    if ((f[0] & 0x40) !== 0) return null; // negative
    let v = f[0] & 0x3f;
    for (let i = 1; i < f.length; i++) {
      v = v * 256 + f[i];
      if (v > Number.MAX_SAFE_INTEGER) return null;
    }
    return v;
  }
  return parseOctal(f);
}

function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/** Judge one 512-byte block: the end-of-archive zero block, a header, or not a header (and why). */
export function parseTarBlock(b: Uint8Array): TarBlock {
  if (b.length !== TAR_BLOCK) return { kind: 'bad', reason: `a tar header is ${TAR_BLOCK} bytes, got ${b.length}` };
  if (isZero(b)) return { kind: 'zero' };
  const want = parseOctal(b.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < TAR_BLOCK; i++) {
    const x = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += x;
    signed += x > 127 ? x - 256 : x;
  }
  if (want === null || (want !== unsigned && want !== signed)) return { kind: 'bad', reason: 'invalid tar header (checksum)' };
  const raw = (off: number, len: number) => String.fromCharCode(...b.subarray(off, off + len));
  let format: TarFormat;
  if (raw(257, 6) === 'ustar\0' && raw(508, 4) === 'tar\0') format = 'star';
  else if (raw(257, 6) === 'ustar\0') format = 'ustar';
  else if (raw(257, 6) === 'ustar ' && raw(263, 2) === ' \0') format = 'gnu';
  else format = 'v7';
  const size = parseNumeric(b.subarray(124, 136));
  if (size === null) return { kind: 'bad', reason: 'invalid tar header (size)' };
  let name = cstr(b, 0, USTAR_NAME);
  if (format === 'ustar' || format === 'star') {
    const prefix = format === 'star' ? cstr(b, 345, 131) : cstr(b, 345, USTAR_PREFIX);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  let type = String.fromCharCode(b[156]);
  if (type === '\0') type = name.endsWith('/') ? '5' : '0';
  return { kind: 'header', header: { format, name, type, size } };
}

/**
 * PAX extended header records ("<len> key=value\n" each) as a map, or a
 * reason when malformed. Keys other than the caller's are kept too.
 */
export function parsePaxRecords(data: Uint8Array): Map<string, string> | string {
  const out = new Map<string, string>();
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) return 'invalid PAX record (no length)';
    const len = Number(dec.decode(data.subarray(off, sp)));
    if (!Number.isInteger(len) || len <= sp - off + 1 || off + len > data.length) return 'invalid PAX record (length)';
    const rec = data.subarray(sp + 1, off + len);
    if (rec[rec.length - 1] !== 0x0a) return 'invalid PAX record (no newline)';
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) return 'invalid PAX record (no key)';
    out.set(dec.decode(rec.subarray(0, eq)), dec.decode(rec.subarray(eq + 1, rec.length - 1)));
    off += len;
  }
  return out;
}
