/**
 * The nncp-cfgdir directory layout → the same plain object an Hjson file
 * parses to, for validate.ts to check. Which keys are read, and in which
 * layout, comes from the key tables in schema.ts alone: this module knows
 * layouts, not keys. Names starting with "." are skipped; a value file
 * holding a NUL byte or invalid UTF-8 is refused, as in a configuration file.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import { ConfigError } from '../errors.js';
import { formatKeyPath, ioFault, type KeyPath, type Raw } from './checker.js';
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
      return ents.filter((e) => !e.name.startsWith('.') && (!dirsOnly || e.isDirectory())).map((e) => e.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      return this.fail(path, `${this.full(path)}: ${ioFault(err)}`);
    }
  }
}
