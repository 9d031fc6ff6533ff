/**
 * Parsing: configuration bytes (Hjson) → a plain object, or a one-line
 * ConfigError naming the file and, where it can, the line. Nothing here
 * knows what the keys mean; validate.ts does.
 *
 * Before Hjson sees the text, the bytes are checked as NNCP would have them
 * checked, and where NNCP's behaviour cannot be followed safely we refuse
 * and say where:
 * - a NUL byte is refused wherever it is (NNCP's Hjson reads it as the end
 *   of the input, a syntax error unless it is the last thing in the file);
 * - invalid UTF-8 is accepted in comments, as NNCP accepts it, and refused
 *   in keys and values, where NNCP would keep raw bytes that a JavaScript
 *   string cannot carry (a path would silently name another file);
 * - nesting deeper than MAX_DEPTH is refused before Hjson's recursive
 *   parser could run out of stack.
 */
import { isUtf8 } from 'node:buffer';
import Hjson from 'hjson';
import { ConfigError } from '../errors.js';
import { describe, formatKeyPath, isObject, type KeyPath, type Raw } from './checker.js';

/** Deepest nesting of [ and { accepted; a real configuration needs 5. */
const MAX_DEPTH = 64;

/** Parse Hjson bytes into a plain object, or throw a one-line ConfigError. */
export function parseConfigBytes(data: Uint8Array, file: string): Raw {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length >= 5 && buf.toString('latin1', 0, 5) === 'NNCPB') {
    throw new ConfigError(`${file}: is an eblob (nncp-cfgenc): load it with loadConfig, which asks for the passphrase, or decrypt it with pigeon cfgenc -d`);
  }
  const nul = buf.indexOf(0);
  if (nul >= 0) {
    throw new ConfigError(`${file}: ${position(buf, nul)}: NUL byte (byte offset ${nul}): a configuration is text, and NNCP reads NUL as the end of the file`);
  }
  const deep = tooDeep(buf);
  if (deep >= 0) throw new ConfigError(`${file}: ${position(buf, deep)}: nested more than ${MAX_DEPTH} levels deep ([ and { inside each other)`);
  const { text, runs } = decodeMarked(buf);
  if (runs.length && !canLocate(buf, runs)) throw invalidUtf8(file, buf, runs[0]);

  let raw: unknown;
  try {
    raw = Hjson.parse(text);
  } catch (err) {
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new ConfigError(`${file}: nested too deeply to read ([ and { inside each other)`);
    }
    const msg = err instanceof Error ? err.message : String(err);
    const m = /^([\s\S]*?)\s+at line (\d+),(\d+)\s*>>>/.exec(msg);
    const what = (m ? m[1] : msg).replace(/\s+/g, ' ').trim();
    const where = m ? `line ${m[2]}, column ${m[3]}: ` : '';
    throw new ConfigError(`${file}: ${where}Hjson syntax error: ${what}`);
  }
  if (raw === null || raw === undefined || (typeof raw === 'string' && raw.trim() === '')) return {};
  if (!isObject(raw)) throw new ConfigError(`${file}: expected an object of settings at the top level, got ${describe(raw)}`);
  if (runs.length) {
    const hit = firstMark(raw);
    if (hit) throw invalidUtf8(file, buf, runs[hit.run], hit.path);
  }
  return raw;
}

/** `line L, column C` of byte offset `off` (columns count characters, from 1). */
function position(buf: Buffer, off: number): string {
  const lineStart = off > 0 ? buf.lastIndexOf(0x0a, off - 1) + 1 : 0;
  let line = 1;
  for (let i = 0; i < lineStart; i++) if (buf[i] === 0x0a) line++;
  const column = [...buf.toString('utf8', lineStart, off)].length + 1;
  return `line ${line}, column ${column}`;
}

function invalidUtf8(file: string, buf: Buffer, off: number, path?: KeyPath): ConfigError {
  const where = `${position(buf, off)} (byte offset ${off})`;
  const key = path ? `${formatKeyPath(path.map((p) => (typeof p === 'string' ? p.replace(MARKS, '\ufffd') : p)))}: ` : '';
  return new ConfigError(`${file}: ${key}invalid UTF-8 at ${where}: pigeon needs keys and values in UTF-8`);
}

// ------------------------------------------------------------------ nesting

/**
 * Byte offset of the [ or { that goes deeper than MAX_DEPTH, or -1. Quoted
 * strings and comments are skipped; brackets inside quoteless strings count,
 * which only matters past MAX_DEPTH (Hjson.parse's stack-overflow catch
 * remains behind this).
 */
function tooDeep(buf: Buffer): number {
  let depth = 0;
  let boundary = true; // a token may start here: a quote opens a string, # or // a comment
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b === 0x7b || b === 0x5b) { // { [
      if (++depth > MAX_DEPTH) return i;
      boundary = true;
    } else if (b === 0x7d || b === 0x5d) { // } ]
      if (depth > 0) depth--;
      boundary = true;
    } else if (b === 0x2c || b === 0x3a || b === 0x0a) { // , : newline
      boundary = true;
    } else if (b === 0x20 || b === 0x09 || b === 0x0d) {
      // whitespace keeps the boundary as it was
    } else if (boundary && (b === 0x22 || b === 0x27)) { // " '
      i = b === 0x27 && buf[i + 1] === 0x27 && buf[i + 2] === 0x27 ? endOf(buf, i + 3, "'''") : quoteEnd(buf, i);
      boundary = false;
    } else if (boundary && (b === 0x23 || (b === 0x2f && buf[i + 1] === 0x2f))) { // # //
      i = endOf(buf, i, '\n') - 1;
    } else if (boundary && b === 0x2f && buf[i + 1] === 0x2a) { // /*
      i = endOf(buf, i + 2, '*/');
    } else {
      boundary = false;
    }
  }
  return -1;
}

/** Index of the last byte of the first `close` at or after `from` (or the end). */
function endOf(buf: Buffer, from: number, close: string): number {
  const j = buf.indexOf(close, from, 'latin1');
  return j < 0 ? buf.length : j + close.length - 1;
}

/** Index of the quote closing the one-line string opened at `open` (backslash escapes honoured), or of the line's end. */
function quoteEnd(buf: Buffer, open: number): number {
  for (let i = open + 1; i < buf.length; i++) {
    if (buf[i] === 0x5c) i++;
    else if (buf[i] === 0x0a) return i - 1; // unterminated: let the newline count
    else if (buf[i] === buf[open]) return i;
  }
  return buf.length;
}

// ------------------------------------------------------------------ UTF-8

/** Invalid runs are marked in the text by U+F0000 + run number (supplementary private use). */
const MARK = 0xf0000;
const MAX_RUNS = 0xfffe;
const MARKS = /[\u{F0000}-\u{FFFFD}]/gu;

/** The text with each run of invalid bytes replaced by its mark, and the runs' byte offsets. */
function decodeMarked(buf: Buffer): { text: string; runs: number[] } {
  if (isUtf8(buf)) return { text: buf.toString('utf8'), runs: [] };
  const parts: string[] = [];
  const runs: number[] = [];
  let start = 0;
  let i = 0;
  while (i < buf.length) {
    const n = sequenceLength(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    parts.push(buf.toString('utf8', start, i), String.fromCodePoint(MARK + Math.min(runs.length, MAX_RUNS - 1)));
    runs.push(i);
    while (i < buf.length && sequenceLength(buf, i) === 0) i++;
    start = i;
  }
  parts.push(buf.toString('utf8', start));
  return { text: parts.join(''), runs };
}

/** Marks name their runs unless there are too many, or the text itself holds such characters. */
function canLocate(buf: Buffer, runs: number[]): boolean {
  return runs.length < MAX_RUNS && !new RegExp(MARKS.source, 'u').test(buf.toString('utf8'));
}

/** What makes `buf` unfit as one value of a config directory (NUL, invalid UTF-8), or undefined. */
export function textFault(buf: Buffer): string | undefined {
  const nul = buf.indexOf(0);
  if (nul >= 0) return `NUL byte at byte offset ${nul}`;
  if (isUtf8(buf)) return undefined;
  let i = 0;
  while (sequenceLength(buf, i) > 0) i += sequenceLength(buf, i);
  return `invalid UTF-8 at byte offset ${i}`;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0. */
function sequenceLength(buf: Buffer, i: number): number {
  const b = buf[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < buf.length && buf[i + k] >= lo && buf[i + k] <= hi;
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  if (b >= 0xe0 && b <= 0xef) return cont(1, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf) && cont(2) ? 3 : 0;
  if (b >= 0xf0 && b <= 0xf4) return cont(1, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** The earliest marked run in a key or string value, and where it is. */
function firstMark(root: Raw): { run: number; path: KeyPath } | undefined {
  let best: { run: number; path: KeyPath } | undefined;
  const note = (s: string, path: KeyPath) => {
    for (const m of s.matchAll(MARKS)) {
      const run = m[0].codePointAt(0)! - MARK;
      if (!best || run < best.run) best = { run, path };
    }
  };
  const stack: [unknown, KeyPath][] = [[root, []]];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') note(v, path);
    else if (Array.isArray(v)) v.forEach((x, i) => stack.push([x, [...path, i]]));
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        note(k, [...path, k]);
        stack.push([x, [...path, k]]);
      }
    }
  }
  return best;
}
