/**
 * A directory sent with `file` travels as a PAX tar archive made on the fly,
 * as the reference makes it (manual: nncp-file): directories first, then
 * regular files, each in name order, with names relative to the directory's
 * parent; only names and modification times are kept (uid/gid 0, mode 0777
 * for directories and 0666 for files); everything that is neither a
 * directory nor a regular file is skipped; every entry carries a PAX
 * "comment" record naming the program.
 *
 * The exact archive size is known before the first byte is produced, so the
 * packet's size can be checked against -maxsize and -chunked up front.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { OCTAL11_MAX, TAR_BLOCK, tarHeader as header, tarPad as padLen, USTAR_NAME } from '../codec/tar.js';
import { utf8Order } from '../codec/bytes.js';
import { PigeonError } from '../errors.js';

const READ_CHUNK = 1 << 20;

interface Entry {
  /** Archive name, e.g. "dir/sub/file". */
  name: string;
  /** Absolute path on disk. */
  abs: string;
  dir: boolean;
  size: number;
  mtimeNs: bigint;
}

export interface TarSource {
  /** Exact number of bytes `stream` yields. */
  size: number;
  stream: AsyncGenerator<Uint8Array>;
}

const enc = new TextEncoder();

/** Walk `root` without following symlinks: directories (root included) and regular files. */
async function walk(root: string, base: string): Promise<{ dirs: Entry[]; files: Entry[] }> {
  const dirs: Entry[] = [];
  const files: Entry[] = [];
  async function visit(abs: string, name: string): Promise<void> {
    const st = await fsp.lstat(abs, { bigint: true });
    if (st.isDirectory()) {
      dirs.push({ name, abs, dir: true, size: 0, mtimeNs: st.mtimeNs });
      const names = (await fsp.readdir(abs)).sort(utf8Order);
      for (const n of names) await visit(path.join(abs, n), `${name}/${n}`);
    } else if (st.isFile()) {
      files.push({ name, abs, dir: false, size: Number(st.size), mtimeNs: st.mtimeNs });
    }
  }
  const st = await fsp.stat(root, { bigint: true });
  dirs.push({ name: base, abs: root, dir: true, size: 0, mtimeNs: st.mtimeNs });
  const names = (await fsp.readdir(root)).sort(utf8Order);
  for (const n of names) await visit(path.join(root, n), `${base}/${n}`);
  return { dirs, files };
}

/** "seconds[.fraction]" with trailing zeros of the fraction dropped. */
function paxTime(ns: bigint): string {
  const secs = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  if (frac === 0n) return secs.toString();
  return `${secs}.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
}

/** One PAX record: "<len> key=value\n", where len counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return `${len}${body}`;
}

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

function paxRecords(e: Entry, comment: string): string {
  const rec: [string, string][] = [['comment', comment]];
  if (e.mtimeNs % 1_000_000_000n !== 0n || e.mtimeNs < 0n) rec.push(['mtime', paxTime(e.mtimeNs < 0n ? 0n : e.mtimeNs)]);
  if (Buffer.byteLength(e.name) > USTAR_NAME || !isAscii(e.name)) rec.push(['path', e.name]);
  if (e.size > OCTAL11_MAX) rec.push(['size', String(e.size)]);
  rec.sort((a, b) => utf8Order(a[0], b[0]));
  return rec.map(([k, v]) => paxRecord(k, v)).join('');
}

/** "dir/PaxHeaders.0/base", as the reference names extended headers. */
function paxHeaderName(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? `PaxHeaders.0/${name}` : `${name.slice(0, slash)}/PaxHeaders.0/${name.slice(slash + 1)}`;
}

function entryBlocks(e: Entry, comment: string): Uint8Array[] {
  const records = enc.encode(paxRecords(e, comment));
  const out = [header({ name: paxHeaderName(e.name), mode: 0, size: records.length, mtime: 0, type: 'x' })];
  const body = new Uint8Array(records.length + padLen(records.length));
  body.set(records);
  out.push(body);
  out.push(
    header({
      name: e.name,
      mode: e.dir ? 0o777 : 0o666,
      size: e.dir ? 0 : e.size,
      mtime: Number(e.mtimeNs / 1_000_000_000n),
      type: e.dir ? '5' : '0',
    }),
  );
  return out;
}

async function* fileContents(e: Entry): AsyncGenerator<Uint8Array> {
  const fh = await fsp.open(e.abs, 'r');
  try {
    let left = e.size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        throw new PigeonError('EIO', `${e.abs}: file shrank while being archived (${left} of ${e.size} bytes missing); send it again`);
      }
      left -= bytesRead;
      yield buf.subarray(0, bytesRead);
    }
    const { bytesRead } = await fh.read(Buffer.alloc(1), 0, 1, null);
    if (bytesRead !== 0) throw new PigeonError('EIO', `${e.abs}: file grew while being archived; send it again`);
  } finally {
    await fh.close();
  }
  const pad = padLen(e.size);
  if (pad > 0) yield new Uint8Array(pad);
}

/**
 * A PAX archive of directory `dir`, whose entries are named under
 * `basename(dir)`. The directory tree is listed now; file contents are read
 * while the stream is consumed.
 */
export async function dirTar(dir: string, comment: string): Promise<TarSource> {
  const root = path.resolve(dir);
  const base = path.basename(root) || 'root';
  const { dirs, files } = await walk(root, base);
  const entries = [...dirs, ...files];
  let size = 2 * TAR_BLOCK;
  for (const e of entries) {
    const rec = Buffer.byteLength(paxRecords(e, comment));
    size += TAR_BLOCK + rec + padLen(rec) + TAR_BLOCK + e.size + padLen(e.size);
  }
  async function* generate(): AsyncGenerator<Uint8Array> {
    for (const e of entries) {
      for (const b of entryBlocks(e, comment)) yield b;
      if (!e.dir) yield* fileContents(e);
    }
    yield new Uint8Array(2 * TAR_BLOCK);
  }
  return { size, stream: generate() };
}
