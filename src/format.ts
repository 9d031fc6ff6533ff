/**
 * How Pigeon shows things to people, as the reference does: shortened ids
 * and sizes, shared by commands, log messages and progress bars; and text
 * from elsewhere made safe to print on a terminal (printable).
 */

/** A packet or node id (52 Base32 characters) shortened to `first16..last16`; shorter names as they are. */
export function shortId(id: string): string {
  return id.length >= 52 ? `${id.slice(0, 16)}..${id.slice(-16)}` : id;
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Go's "%.Nf" for a non-negative value: exact halves round to even, as strconv does. */
function goFixed(v: number, digits: number): string {
  const scaled = v * 10 ** digits;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5 && Number.isInteger(floor)) {
    const n = floor % 2 === 0 ? floor : floor + 1;
    return (n / 10 ** digits).toFixed(digits);
  }
  return v.toFixed(digits);
}

/** Size as the reference prints it (go-humanize IBytes): "282 B", "5.1 KiB", "13 MiB". */
export function iBytes(size: number | bigint): string {
  const s = Number(size);
  if (s < 10) return `${s} B`;
  const e = Math.floor(Math.log(s) / Math.log(1024));
  const val = Math.floor((s / 1024 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? goFixed(val, 1) : goFixed(val, 0)} ${IEC[e]}`;
}

/**
 * What a terminal would act on rather than show: C0 controls, DEL, C1
 * controls, the Unicode line and paragraph separators, the bidirectional
 * controls (which reorder what follows them on screen), and lone UTF-16
 * surrogates (what is left of invalid text). Matched on code units: a
 * surrogate is lone when no partner stands beside it.
 */
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const UNPRINTABLE_BUT_NEWLINE = new RegExp(UNPRINTABLE.source.replace('\\x00-\\x1f', '\\x00-\\x09\\x0b-\\x1f'), 'g');
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeUnit(c: string): string {
  const short = SHORT[c];
  if (short !== undefined) return short;
  const u = c.charCodeAt(0);
  return u < 0x80 ? `\\x${u.toString(16).padStart(2, '0')}` : `\\u${u.toString(16).padStart(4, '0')}`;
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The UTF-8 sequence starting at `bytes[i]` decoded, or null when it is not one. */
function utf8At(bytes: Uint8Array, i: number): string | null {
  const lead = bytes[i];
  const len = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;
  if (len === 0 || i + len > bytes.length) return null;
  try {
    return fatalUtf8.decode(bytes.subarray(i, i + len)); // refuses overlong forms, surrogates, > U+10FFFF
  } catch {
    return null;
  }
}

/** Bytes as UTF-8 text where they are valid; each byte that is not part of a valid sequence as "\xHH". */
function visibleUtf8(bytes: Uint8Array): string {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    // fall through: decode piece by piece
  }
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    if (bytes[i] < 0x80) {
      out += String.fromCharCode(bytes[i++]);
      continue;
    }
    const seq = utf8At(bytes, i);
    if (seq === null) {
      out += `\\x${bytes[i++].toString(16)}`;
    } else {
      out += seq;
      i += Buffer.byteLength(seq);
    }
  }
  return out;
}

/**
 * Text from elsewhere (a name, an argument or a message a remote node
 * chose) made safe to print on a terminal as part of one line: every
 * character a terminal would act on is written as an escape, "\n", "\r",
 * "\t" or "\xHH" below U+0080, "\uHHHH" above (so a file named
 * "a\nFAKE LINE\x1b[2J" cannot start a line or clear the screen), and bytes
 * that are not valid UTF-8 as "\xHH" (always 80 or above: no clash).
 * Printable text, backslashes included, is returned as it is, and a string
 * with nothing to escape is the same string. With `keepNewlines`, "\n"
 * stays (a multi-line record whose lines are otherwise made safe).
 */
export function printable(s: string | Uint8Array, opts: { keepNewlines?: boolean } = {}): string {
  const text = typeof s === 'string' ? s : visibleUtf8(s);
  const re = opts.keepNewlines ? UNPRINTABLE_BUT_NEWLINE : UNPRINTABLE;
  re.lastIndex = 0;
  if (!re.test(text)) return text;
  return text.replace(re, escapeUnit);
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate a mistyped `word` most likely meant, for "did you mean"
 * hints: the closest by edit distance (at most a third of the word's length,
 * at least 1), else the only candidate the word begins; undefined when none
 * is close.
 */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(w.length / 3)) + 1;
  const prefixed: string[] = [];
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
    if (w.length >= 2 && c.toLowerCase().startsWith(w)) prefixed.push(c);
  }
  return best ?? (prefixed.length === 1 ? prefixed[0] : undefined);
}
