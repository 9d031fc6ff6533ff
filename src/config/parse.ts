/**
 * Parsing: configuration bytes (Hjson) → a plain object, or a one-line
 * ConfigError naming the file and, where Hjson says, the line. Nothing here
 * knows what the keys mean; validate.ts does.
 */
import Hjson from 'hjson';
import { ConfigError } from '../errors.js';
import { describe, isObject, type Raw } from './checker.js';

/** Parse Hjson bytes into a plain object, or throw a one-line ConfigError. */
export function parseConfigBytes(data: Uint8Array, file: string): Raw {
  if (data.length >= 5 && Buffer.from(data.subarray(0, 5)).toString('latin1') === 'NNCPB') {
    throw new ConfigError(`${file}: is encrypted with nncp-cfgenc, which pigeon does not read; decrypt it with nncp-cfgenc -d`);
  }
  const text = Buffer.from(data).toString('utf8');
  let raw: unknown;
  try {
    raw = Hjson.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const m = /^([\s\S]*?)\s+at line (\d+),(\d+)\s*>>>/.exec(msg);
    const what = (m ? m[1] : msg).replace(/\s+/g, ' ').trim();
    const where = m ? `line ${m[2]}, column ${m[3]}: ` : '';
    throw new ConfigError(`${file}: ${where}Hjson syntax error: ${what}`);
  }
  if (raw === null || raw === undefined || (typeof raw === 'string' && raw.trim() === '')) return {};
  if (!isObject(raw)) throw new ConfigError(`${file}: expected an object of settings at the top level, got ${describe(raw)}`);
  return raw;
}
