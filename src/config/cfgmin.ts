/**
 * `cfgmin`: the configuration stripped to spool, log and the neighbours'
 * public keys, for machines that only need to know who is who (nncp-xfer
 * style). Printed byte for byte as `nncp-cfgmin` prints it: Hjson with
 * braces on their own lines, neighbours sorted by name (byte order), a
 * `self: null` line, and no final newline.
 */
import Hjson, { type SerializeOptions } from 'hjson';
import { base32Encode } from '../codec/base32.js';
import { utf8Order } from '../codec/bytes.js';
import type { Config } from './types.js';

const STYLE: SerializeOptions = { bracesSameLine: false, quotes: 'min', separator: false, emitRootBraces: true, space: 2 };

/** The lines between the root braces of `obj` rendered as Hjson, indented `extra` more spaces. */
function innerLines(obj: Record<string, unknown>, extra: string): string[] {
  const lines = Hjson.stringify(obj, STYLE).split('\n');
  return lines.slice(1, -1).map((l) => (l === '' ? l : extra + l));
}

export function renderMinConfig(cfg: Config): string {
  const out = ['{', ...innerLines({ spool: cfg.spool, log: cfg.log }, ''), '  self: null', '  neigh:', '  {'];
  const names = [...cfg.byName.keys()].sort(utf8Order);
  for (const name of names) {
    const n = cfg.byName.get(name)!;
    const keys: Record<string, string> = {
      id: n.idB32,
      exchpub: base32Encode(n.exchPub),
      signpub: base32Encode(n.signPub),
    };
    if (n.noisePub) keys.noisepub = base32Encode(n.noisePub);
    out.push(...innerLines({ [name]: keys }, '  '));
  }
  out.push('  }', '}');
  return out.join('\n');
}
