/**
 * How configuration faults are found and worded: the Checker that reads
 * typed values out of a parsed object and throws a one-line ConfigError
 * (`FILE: key.path: what is wrong`) or records a warning, and the small
 * describers those messages share (key paths, values, I/O faults).
 */
import { posix } from 'node:path';
import { base32Decode, base32Len } from '../codec/base32.js';
import { ConfigError, errorLine } from '../errors.js';
import { nearest } from '../format.js';
import type { Schema } from './schema.js';

export type Raw = Record<string, unknown>;
export type KeyPath = readonly (string | number)[];

export function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as a message names it: `the string "x"`, `a list`, … */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string': return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
    case 'number': return `the number ${v}`;
    case 'boolean': return String(v);
    case 'object': return 'an object';
    default: return typeof v;
  }
}

/** `neigh.bob.calls[0].cron`; names that are not plain words are quoted. */
export function formatKeyPath(path: KeyPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += (out ? '.' : '') + (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p));
  }
  return out;
}

/** Why a configuration file or directory entry could not be read. */
export function ioFault(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT': return 'no such file';
    case 'ENOTDIR': return 'a component of the path is not a directory';
    case 'EACCES': case 'EPERM': return 'cannot read it: permission denied';
    case 'EISDIR': return 'is a directory';
    default: return `cannot read it: ${errorLine(err)}`;
  }
}

/** Go's path.Clean for the paths NNCP cleans (spool, log, incoming, freq.path). */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Reads typed values out of one parsed configuration, failing or warning in its file's name. */
export class Checker {
  readonly warnings: string[] = [];
  constructor(readonly file: string) {}

  fail(path: KeyPath, msg: string): never {
    throw new ConfigError(path.length ? `${this.file}: ${formatKeyPath(path)}: ${msg}` : `${this.file}: ${msg}`);
  }

  warn(path: KeyPath, msg: string): void {
    this.warnings.push(`${this.file}: ${formatKeyPath(path)}: ${msg}`);
  }

  /** Warn about keys outside `known` (NNCP ignores them silently). */
  keys(o: Raw, path: KeyPath, known: Schema): void {
    for (const k of Object.keys(o)) {
      if (Object.hasOwn(known, k)) continue;
      const near = nearest(k, Object.keys(known));
      this.warn([...path, k], `unknown key, ignored${near ? ` (did you mean ${near}?)` : ''}`);
    }
  }

  obj(v: unknown, path: KeyPath): Raw {
    if (!isObject(v)) this.fail(path, `expected an object ({ … }), got ${describe(v)}`);
    return v;
  }

  optObj(o: Raw, k: string, path: KeyPath): Raw | undefined {
    const v = o[k];
    return v === undefined || v === null ? undefined : this.obj(v, [...path, k]);
  }

  str(o: Raw, k: string, path: KeyPath): string {
    const v = o[k];
    if (v === undefined || v === null) this.fail([...path, k], 'missing');
    if (typeof v !== 'string') this.fail([...path, k], `expected a string, got ${describe(v)}`);
    return v;
  }

  optStr(o: Raw, k: string, path: KeyPath): string | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail([...path, k], `expected a string, got ${describe(v)}`);
    return v;
  }

  bool(o: Raw, k: string, path: KeyPath): boolean {
    const v = o[k];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail([...path, k], `expected true or false, got ${describe(v)}`);
    return v;
  }

  /** Whole number of at least `min`; `what` explains the range in the message. */
  optInt(o: Raw, k: string, path: KeyPath, min: number, what: string): number | undefined {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail([...path, k], `expected a whole number, got ${describe(v)}`);
    if (v < min) this.fail([...path, k], `${v} is out of range: ${what}`);
    return v;
  }

  strList(v: unknown, path: KeyPath): string[] {
    if (!Array.isArray(v)) this.fail(path, `expected a list of strings ([ … ]), got ${describe(v)}`);
    v.forEach((s, i) => {
      if (typeof s !== 'string') this.fail([...path, i], `expected a string, got ${describe(s)}`);
    });
    return v as string[];
  }

  strMap(v: unknown, path: KeyPath): Map<string, string> {
    const o = this.obj(v, path);
    const out = new Map<string, string>();
    for (const [k, s] of Object.entries(o)) {
      if (typeof s !== 'string') this.fail([...path, k], `expected a string, got ${describe(s)}`);
      out.set(k, s);
    }
    return out;
  }

  /** A Base32 key of exactly `n` bytes. */
  key(o: Raw, k: string, path: KeyPath, n: number): Uint8Array {
    return this.decodeKey(this.str(o, k, path), [...path, k], n);
  }

  /**
   * Non-zero trailing bits (unused low bits of the last character) are
   * accepted with a warning, as NNCP (Go's decoder) drops them silently.
   */
  decodeKey(s: string, path: KeyPath, n: number): Uint8Array {
    const want = base32Len(n);
    if (s.length !== want) this.fail(path, `expected ${want} Base32 characters, got ${s.length}`);
    const bad = [...s].findIndex((c) => !/[A-Z2-7]/.test(c));
    if (bad >= 0) this.fail(path, `expected ${want} Base32 characters (A-Z, 2-7), found ${JSON.stringify(s[bad])} at position ${bad + 1}`);
    const b = base32Decode(s);
    if (b !== null) return b;
    this.warn(path, 'has non-canonical trailing bits (the unused low bits of its last Base32 character are not zero); accepted, as NNCP accepts it');
    return base32Decode(s, { ignoreTrailingBits: true })!;
  }

  absPath(o: Raw, k: string, path: KeyPath): string | undefined {
    const s = this.optStr(o, k, path);
    if (s === undefined) return undefined;
    const clean = cleanPath(s);
    if (!clean.startsWith('/')) this.fail([...path, k], `must be an absolute path, got ${JSON.stringify(s)}`);
    return clean;
  }

  exec(v: unknown, path: KeyPath): Map<string, string[]> {
    const o = this.obj(v, path);
    const out = new Map<string, string[]>();
    for (const [handle, argv] of Object.entries(o)) {
      const p = [...path, handle];
      if (!Array.isArray(argv)) this.fail(p, `expected a command as a list of strings, like ["/usr/sbin/sendmail", "-t"], got ${describe(argv)}`);
      const list = this.strList(argv, p);
      if (list.length === 0 || list[0] === '') this.fail(p, 'empty command: give the program and its arguments, like ["/usr/sbin/sendmail", "-t"]');
      out.set(handle, list);
    }
    return out;
  }
}
