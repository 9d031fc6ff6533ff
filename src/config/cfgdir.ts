/**
 * The nncp-cfgdir directory layout, both ways:
 *
 * - readConfigDir: directory → the same plain object an Hjson file parses
 *   to, for validate.ts to check;
 * - writeConfigDir: a parsed (and validated) configuration object → the
 *   directory (cfgdir -dump);
 * - renderConfigHjson: such an object → Hjson text as nncp-cfgdir -load
 *   prints it.
 *
 * Which keys are read and written, in which layout and order, comes from
 * the key tables in schema.ts alone: this module knows layouts, not keys.
 * Names starting with "." are skipped when reading; a value file holding a
 * NUL byte or invalid UTF-8 is refused, as in a configuration file.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import Hjson from 'hjson';
import { utf8Order } from '../codec/bytes.js';
import { ConfigError } from '../errors.js';
import { ensureDir, fsyncAll, writeAtomic } from '../spool/atomic.js';
import { describe, formatKeyPath, ioFault, isObject, type KeyPath, type Raw } from './checker.js';
import { textFault } from './parse.js';
import { TOP_KEYS, type Field, type Schema } from './schema.js';

/** Read the configuration directory `dir` (see schema.ts for its layout). */
export async function readConfigDir(dir: string): Promise<Raw> {
  return new DirReader(dir).object([], TOP_KEYS);
}

class DirReader {
  constructor(private readonly dir: string) {}

  private fail(path: KeyPath, msg: string): never {
    throw new ConfigError(`${this.dir}: ${formatKeyPath(path)}: ${msg}`);
  }

  private full(path: KeyPath): string {
    return posix.join(this.dir, ...path.map(String));
  }

  /** Every key of `schema` found under `path`; absent ones are left out. */
  async object(path: KeyPath, schema: Schema): Promise<Raw> {
    const o: Raw = {};
    for (const [k, field] of Object.entries(schema)) {
      const v = await this.field([...path, k], field);
      if (v !== undefined) o[k] = v;
    }
    return o;
  }

  private async field(path: KeyPath, field: Field): Promise<unknown> {
    switch (field) {
      case 'string': return this.text(path);
      case 'int': return this.int(path);
      case 'flag': return (await this.exists(path)) ? true : undefined;
      case 'lines': return this.lines(path);
      case 'lines[]': return (await this.lines(path)) ?? [];
      case 'strings': return this.named(path, false, (p) => this.text(p));
      case 'ints': return this.named(path, false, (p) => this.int(p));
      case 'commands': return this.named(path, false, (p) => this.lines(p));
    }
    if ('object' in field) {
      if (field.keepEmpty) return (await this.exists(path)) ? this.object(path, field.object) : undefined;
      const o = await this.object(path, field.object);
      return Object.keys(o).length ? o : undefined;
    }
    if ('each' in field) {
      const o = await this.named(path, field.dirsOnly, (p) => this.object(p, field.each));
      return o ?? (field.always ? {} : undefined);
    }
    const numbered = (await this.list(path, true)).filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b));
    if (numbered.length === 0) return undefined;
    const out: Raw[] = [];
    for (const n of numbered) out.push(await this.object([...path, n], field.list));
    return out;
  }

  /** One value per name in the directory at `path`; undefined when there are none. */
  private async named(path: KeyPath, dirsOnly: boolean, read: (p: KeyPath) => Promise<unknown>): Promise<Raw | undefined> {
    const names = await this.list(path, dirsOnly);
    if (names.length === 0) return undefined;
    const o: Raw = {};
    for (const n of names) o[n] = await read([...path, n]);
    return o;
  }

  private async text(path: KeyPath): Promise<string | undefined> {
    let data: Buffer;
    try {
      data = await readFile(this.full(path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return this.fail(path, `${this.full(path)}: ${ioFault(err)}`);
    }
    const fault = textFault(data);
    if (fault) this.fail(path, `${this.full(path)}: ${fault}: pigeon needs values in UTF-8`);
    const s = data.toString('utf8');
    return s.endsWith('\n') ? s.slice(0, -1) : s;
  }

  private async lines(path: KeyPath): Promise<string[] | undefined> {
    return (await this.text(path))?.split('\n');
  }

  private async int(path: KeyPath): Promise<number | undefined> {
    const s = await this.text(path);
    if (s === undefined) return undefined;
    if (!/^[+-]?\d+$/.test(s)) this.fail(path, `expected a whole number in ${this.full(path)}, got ${JSON.stringify(s)}`);
    return Number(s);
  }

  private async exists(path: KeyPath): Promise<boolean> {
    return stat(this.full(path)).then(() => true, () => false);
  }

  private async list(path: KeyPath, dirsOnly: boolean): Promise<string[]> {
    try {
      const ents = await readdir(this.full(path), { withFileTypes: true });
      return ents.filter((e) => !e.name.startsWith('.') && (!dirsOnly || e.isDirectory())).map((e) => e.name).sort(utf8Order);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      return this.fail(path, `${this.full(path)}: ${ioFault(err)}`);
    }
  }
}

/** What writeConfigDir did: files written (relative to the directory), and what the user should know. */
export interface DumpResult {
  written: string[];
  warnings: string[];
}

/**
 * Write the configuration object `raw` (validated: every value has its
 * key's shape) into the directory `dir` in nncp-cfgdir's layout. Keys
 * outside schema.ts are left out. Each file appears atomically (a temporary
 * ".pigeon-cfgdir-*" name, which readers skip, then a rename); files whose
 * name ends in "prv" (private keys) get mode 0600, others 0666 and
 * directories 0777, both filtered by the umask, as nncp-cfgdir makes them.
 * The files, then the directories, are fsynced together at the end.
 * Files already in `dir` that this dump did not write are kept, as
 * nncp-cfgdir keeps them, and named in a warning: they are still read as
 * configuration.
 */
export async function writeConfigDir(dir: string, raw: Raw): Promise<DumpResult> {
  const w = new DirWriter(dir);
  await ensureDir(dir).catch((err) => {
    throw new ConfigError(`${dir}: cannot create the directory: ${ioFault(err)}`, { cause: err });
  });
  await w.object([], TOP_KEYS, raw);
  const files = w.written.map((f) => posix.join(dir, f));
  await fsyncAll(files);
  const dirs = new Set<string>([dir]);
  for (const f of w.written) for (let d = posix.dirname(f); d !== '.'; d = posix.dirname(d)) dirs.add(posix.join(dir, d));
  await fsyncAll([...dirs]);
  const stale = await staleFiles(dir, new Set(w.written));
  if (stale.length) {
    const shown = stale.slice(0, 5).join(', ') + (stale.length > 5 ? `, and ${stale.length - 5} more` : '');
    w.warnings.push(`${dir}: ${stale.length} file(s) there were not written by this dump and are still read as configuration: ${shown}; remove them, or dump into an empty directory`);
  }
  return { written: w.written, warnings: w.warnings };
}

/** Mode of a written file: private keys (names ending in "prv") 0600; others the default, 0666 filtered by the umask. */
function fileMode(name: string): number | undefined {
  return name.endsWith('prv') ? 0o600 : undefined;
}

class DirWriter {
  readonly written: string[] = [];
  readonly warnings: string[] = [];
  constructor(private readonly dir: string) {}

  private fail(path: KeyPath, msg: string): never {
    throw new ConfigError(`${this.dir}: ${formatKeyPath(path)}: ${msg}`);
  }

  async object(path: KeyPath, schema: Schema, o: Raw): Promise<void> {
    for (const [k, field] of Object.entries(schema)) {
      if (o[k] !== undefined && o[k] !== null) await this.field([...path, k], field, o[k]);
    }
  }

  private async field(path: KeyPath, field: Field, v: unknown): Promise<void> {
    switch (field) {
      case 'string':
      case 'int':
        return this.file(path, `${this.scalar(path, v)}\n`);
      case 'flag':
        return v === true ? this.file(path, '') : undefined;
      case 'lines':
      case 'lines[]':
        return this.lines(path, v);
      case 'strings':
      case 'ints':
        return this.named(path, v, (p, x) => this.file(p, `${this.scalar(p, x)}\n`));
      case 'commands':
        return this.named(path, v, (p, x) => this.lines(p, x));
    }
    if ('object' in field) {
      if (!isObject(v)) this.fail(path, `expected an object, got ${describe(v)}`);
      if (field.keepEmpty) await this.mkdir(path);
      return this.object(path, field.object, v);
    }
    if ('each' in field) return this.named(path, v, (p, x) => (isObject(x) ? this.object(p, field.each, x) : this.fail(p, `expected an object, got ${describe(x)}`)));
    if (!Array.isArray(v)) this.fail(path, `expected a list, got ${describe(v)}`);
    for (const [i, x] of v.entries()) {
      const p = [...path, String(i)];
      if (!isObject(x)) this.fail(p, `expected an object, got ${describe(x)}`);
      await this.mkdir(p);
      await this.object(p, field.list, x);
    }
  }

  private scalar(path: KeyPath, v: unknown): string {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    return this.fail(path, `expected a single value, got ${describe(v)}`);
  }

  private async lines(path: KeyPath, v: unknown): Promise<void> {
    if (!Array.isArray(v)) this.fail(path, `expected a list, got ${describe(v)}`);
    if (v.length === 0) return;
    const items = v.map((x, i) => {
      const s = this.scalar([...path, i], x);
      if (s.includes('\n')) this.fail([...path, i], 'holds a newline, which a config directory cannot keep in a one-value-a-line file');
      return s;
    });
    await this.file(path, items.join('\n') + '\n');
  }

  /** One entry per key of the object `v`, each a file or directory named after it. */
  private async named(path: KeyPath, v: unknown, each: (p: KeyPath, x: unknown) => Promise<void>): Promise<void> {
    if (!isObject(v)) this.fail(path, `expected an object, got ${describe(v)}`);
    for (const name of Object.keys(v).sort(utf8Order)) {
      const p = [...path, name];
      if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
        this.fail(p, `${JSON.stringify(name)} cannot be a file name in a configuration directory; rename it in the configuration file`);
      }
      if (name.startsWith('.')) {
        this.warnings.push(`${formatKeyPath(p)}: written as ${this.full(p)}, but names starting with "." are skipped when a configuration directory is read (by pigeon and nncp-cfgdir alike): the key is lost there`);
      }
      await each(p, v[name]);
    }
  }

  private full(path: KeyPath): string {
    return posix.join(this.dir, ...path.map(String));
  }

  private async mkdir(path: KeyPath): Promise<void> {
    try {
      await ensureDir(this.full(path));
    } catch (err) {
      this.fail(path, `${this.full(path)}: cannot create the directory: ${ioFault(err)}`);
    }
  }

  private async file(path: KeyPath, text: string): Promise<void> {
    const full = this.full(path);
    const name = String(path[path.length - 1]);
    try {
      await writeAtomic(full, Buffer.from(text, 'utf8'), { tmpDir: posix.dirname(full), prefix: '.pigeon-cfgdir-', mode: fileMode(name), noSync: true });
    } catch (err) {
      this.fail(path, `${full}: cannot write it: ${ioFault(err)}`);
    }
    this.written.push(path.map(String).join('/'));
  }
}

/** Files under `dir` (relative paths, sorted) outside `keep`, skipping names starting with ".". */
async function staleFiles(dir: string, keep: Set<string>): Promise<string[]> {
  const out: string[] = [];
  async function visit(rel: string): Promise<void> {
    const ents = await readdir(posix.join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const e of ents.sort((a, b) => utf8Order(a.name, b.name))) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await visit(r);
      else if (!keep.has(r)) out.push(r);
    }
  }
  await visit('');
  return out;
}

/**
 * A configuration object (as readConfigDir returns it: keys in schema
 * order, names sorted) as Hjson text, the way nncp-cfgdir -load prints it:
 * braces on the key's line, strings quoted only where Hjson needs it, an
 * empty object opened and closed on two lines, a final newline.
 */
export function renderConfigHjson(raw: Raw): string {
  const text = Hjson.stringify(raw, { bracesSameLine: true, quotes: 'min', separator: false, emitRootBraces: true, space: 2 });
  return text.replace(/^( *)(.*)\{\}$/gm, (_m, indent: string, head: string) => `${indent}${head}{\n${indent}}`) + '\n';
}
