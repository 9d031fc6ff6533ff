/**
 * Writing configuration files without a text editor or a Node snippet:
 * `pigeon cfgnew -o FILE` (a new file, mode 0600: it holds private keys)
 * and `pigeon cfgneigh` (a neighbour added from its `cfgmin` output, in
 * place, comments and layout kept). The text is edited, not re-serialized:
 * the new entry goes just before the closing brace of the top-level `neigh`
 * object, found by a scanner that knows Hjson's strings and comments. The
 * result must load before it replaces the file, atomically.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ConfigError, errorLine } from '../errors.js';
import { TmpFile } from '../spool/atomic.js';
import { isObject, type Raw } from './checker.js';
import { parseConfigText } from './load.js';
import { parseConfigBytes } from './parse.js';

/** Write `text` to `file` atomically with `mode`; `replace` false refuses an existing file. */
export async function writeConfigFile(file: string, text: string, opts: { mode: number; replace: boolean }): Promise<void> {
  if (!opts.replace) {
    const exists = await fsp.lstat(file).then(
      () => true,
      () => false,
    );
    if (exists) throw new ConfigError(`${file} already exists: not overwriting it (remove it, or name another file with -o)`);
  }
  const tmp = await TmpFile.create(path.dirname(path.resolve(file)), { mode: opts.mode, prefix: '.pigeon-cfg' });
  try {
    await tmp.write(Buffer.from(text, 'utf8'));
    await tmp.commit(file);
  } catch (err) {
    await tmp.abort();
    throw err;
  }
}

/** The text of a new configuration with its spool and log keys set to `spool` and `log` (absolute). */
export function withSpoolAndLog(text: string, spool?: string, log?: string): string {
  let out = text;
  if (spool !== undefined) out = out.replace(/^(\s*spool:\s*).*$/m, (_m, k: string) => k + path.resolve(spool));
  if (log !== undefined) out = out.replace(/^(\s*log:\s*).*$/m, (_m, k: string) => k + path.resolve(log));
  return out;
}

/** The public keys of the node whose `cfgmin` output (or full configuration) `text` is. */
export function peerKeys(text: string, what: string): { id: string; exchpub: string; signpub: string; noisepub?: string } {
  const raw = parseConfigBytes(Buffer.from(text, 'utf8'), what);
  const neigh = isObject(raw.neigh) ? raw.neigh : {};
  const src: Raw | undefined = isObject(neigh.self) ? neigh.self : isObject(raw.self) ? raw.self : undefined;
  if (!src) throw new ConfigError(`${what}: no neigh.self (nor self) entry: give the other node's pigeon cfgmin (or nncp-cfgmin) output`);
  const str = (k: string): string | undefined => (typeof src[k] === 'string' ? (src[k] as string) : undefined);
  const id = str('id');
  const exchpub = str('exchpub');
  const signpub = str('signpub');
  if (!id || !exchpub || !signpub) throw new ConfigError(`${what}: its self entry lacks id, exchpub or signpub: give the other node's cfgmin output`);
  const noisepub = str('noisepub');
  return { id, exchpub, signpub, ...(noisepub ? { noisepub } : {}) };
}

/** Index just past the string, comment or quoteless value starting at `i`, or -1 when `text[i]` starts none. */
function skipToken(text: string, i: number, afterColon: boolean): number {
  const c = text[i];
  if (c === '#' || (c === '/' && text[i + 1] === '/')) {
    const nl = text.indexOf('\n', i);
    return nl < 0 ? text.length : nl;
  }
  if (c === '/' && text[i + 1] === '*') {
    const end = text.indexOf('*/', i + 2);
    return end < 0 ? text.length : end + 2;
  }
  if (text.startsWith("'''", i)) {
    const end = text.indexOf("'''", i + 3);
    return end < 0 ? text.length : end + 3;
  }
  if (c === '"' || c === "'") {
    let j = i + 1;
    while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
    return j + 1;
  }
  if (afterColon && !/[\s{}[\],:]/.test(c)) {
    // A JSON literal ends at , } ] or the line's end; a quoteless Hjson string runs to the line's end.
    const lit = /^(-?\d[\d.eE+-]*|true|false|null)(?=\s*[,}\]\n]|\s*$)/.exec(text.slice(i, i + 64));
    if (lit) return i + lit[0].length;
    const nl = text.indexOf('\n', i);
    return nl < 0 ? text.length : nl;
  }
  return -1;
}

/** Offset of the closing brace of the top-level `neigh` object in Hjson `text`, or -1. */
function neighEnd(text: string): number {
  // Hjson allows the root object without braces: then neigh's own braces are the first level.
  const first = text.replace(/^(\s|#[^\n]*|\/\/[^\n]*|\/\*[\s\S]*?\*\/)*/, '')[0];
  const level = first === '{' ? 2 : 1;
  let depth = 0;
  let afterColon = false;
  let neighDepth = -1;
  let lastKey = '';
  for (let i = 0; i < text.length; ) {
    const c = text[i];
    const skipped = skipToken(text, i, afterColon);
    if (skipped >= 0) {
      const tok = text.slice(i, skipped);
      if (!afterColon && !tok.startsWith('#') && !tok.startsWith('/')) lastKey = tok.replace(/^["']|["']$/g, '');
      afterColon = false;
      i = skipped;
      continue;
    }
    if (c === ':') afterColon = true;
    else if (c === '{' || c === '[') {
      depth++;
      if (c === '{' && depth === level && lastKey === 'neigh' && neighDepth < 0) neighDepth = depth;
      afterColon = false;
    } else if (c === '}' || c === ']') {
      if (depth === neighDepth && c === '}') return i;
      depth--;
      afterColon = false;
    } else if (c === ',' || c === '\n') afterColon = c === '\n' ? afterColon : false;
    else if (!/\s/.test(c)) {
      // A bare key: letters up to the colon.
      const m = /^[^\s:{}[\],]+/.exec(text.slice(i));
      lastKey = m ? m[0] : c;
      i += m ? m[0].length : 1;
      continue;
    }
    i++;
  }
  return -1;
}

export interface AddNeighbourOptions {
  /** The name the neighbour gets in neigh. */
  name: string;
  /** Its cfgmin output. */
  peerText: string;
  /** Where peerText came from, for messages. */
  peerWhat: string;
  /** neigh.NAME.incoming: where its files land (absolute). */
  incoming?: string;
}

/** `text` (the configuration in `file`) with neigh.NAME added; refused if NAME or the node exists, or the result would not load. */
export function addNeighbourText(text: string, file: string, o: AddNeighbourOptions): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(o.name) || o.name === 'self') throw new ConfigError(`-name ${JSON.stringify(o.name)}: use letters, digits, ".", "_" or "-" (and not "self")`);
  const before = parseConfigText(text, file, { env: {} });
  const keys = peerKeys(o.peerText, o.peerWhat);
  if (before.byName.has(o.name)) throw new ConfigError(`${file}: neigh.${o.name} already exists: remove it first, or pick another -name`);
  const known = before.neighbours.get(keys.id);
  if (known) throw new ConfigError(`${file}: that node (${keys.id}) is already neigh.${known.name}`);
  const end = neighEnd(text);
  if (end < 0) throw new ConfigError(`${file}: no top-level neigh: { ... } object to add to`);
  const lineStart = text.lastIndexOf('\n', end - 1) + 1;
  const closingIndent = /^\s*/.exec(text.slice(lineStart, end))![0];
  const onOwnLine = text.slice(lineStart, end).trim() === '';
  const ind = closingIndent + '  ';
  const entry = [
    `${ind}# added by pigeon cfgneigh from ${o.peerWhat}`,
    `${ind}${o.name}: {`,
    ...Object.entries(keys).map(([k, v]) => `${ind}  ${k}: ${v}`),
    ...(o.incoming ? [`${ind}  incoming: ${JSON.stringify(path.resolve(o.incoming))}`] : []),
    `${ind}}`,
  ].join('\n');
  const out = onOwnLine ? `${text.slice(0, lineStart)}${entry}\n${text.slice(lineStart)}` : `${text.slice(0, end)}\n${entry}\n${closingIndent}${text.slice(end)}`;
  try {
    const after = parseConfigText(out, file, { env: {} });
    if (!after.byName.has(o.name)) throw new Error(`neigh.${o.name} did not land in neigh`);
  } catch (err) {
    throw new ConfigError(`${file}: could not add neigh.${o.name} to its text (${errorLine(err)}): add it by hand`);
  }
  return out;
}

/** Add a neighbour to the configuration file `file` in place (its mode kept). */
export async function addNeighbour(file: string, o: AddNeighbourOptions): Promise<void> {
  let text: string;
  let mode: number;
  try {
    text = await fsp.readFile(file, 'utf8');
    mode = (await fsp.stat(file)).mode & 0o7777;
  } catch (err) {
    throw new ConfigError(`${file}: ${errorLine(err)}`);
  }
  await writeConfigFile(file, addNeighbourText(text, file, o), { mode, replace: true });
}
