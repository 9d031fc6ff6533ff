/**
 * Niceness levels (manual: Niceness): 1..255, written as a number or as an
 * alias FLASH/F, PRIORITY/P, NORMAL/N, BULK/B, MAX with an optional ±delta.
 */
import { PigeonError } from './errors.js';

const NICE_FLASH = 32;
export const NICE_PRIORITY = 96;
export const NICE_NORMAL = 160;
export const NICE_BULK = 224;
const NICE_MAX = 255;

export const DEFAULT_NICE_EXEC = NICE_PRIORITY;
export const DEFAULT_NICE_FREQ = NICE_NORMAL;
export const DEFAULT_NICE_FILE = NICE_BULK;

const ALIASES: Record<string, number> = {
  flash: NICE_FLASH,
  f: NICE_FLASH,
  priority: NICE_PRIORITY,
  p: NICE_PRIORITY,
  normal: NICE_NORMAL,
  n: NICE_NORMAL,
  bulk: NICE_BULK,
  b: NICE_BULK,
  max: NICE_MAX,
};

/** A niceness as NNCP parses it (integer, alias, alias±delta, case-insensitive), or null. */
export function tryParseNice(text: string): number | null {
  const s = text.trim().toLowerCase();
  if (/^[+-]?\d+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 255 ? n : null;
  }
  if (s in ALIASES) return ALIASES[s];
  const m = /^([a-z]+)([-+])(\d+)$/.exec(s);
  if (!m || !(m[1] in ALIASES)) return null;
  const base = ALIASES[m[1]];
  const delta = Number(m[3]);
  if (m[2] === '-') return delta > 31 ? null : base - delta;
  if (delta > 32 || (base === NICE_BULK && delta > 31) || base + delta > 255) return null;
  return base + delta;
}

/** Parse a niceness flag; `flag` names the option in the error message. */
export function parseNice(text: string, flag = '-nice'): number {
  const n = tryParseNice(text);
  if (n === null) {
    throw new PigeonError('EUSAGE', `${flag} ${JSON.stringify(text)}: not a niceness; use 1..255 or F, P, N, B, MAX with an optional delta such as B+5`);
  }
  return n;
}

/** Format as the reference prints niceness (e.g. "B", "P+3", "MAX", "1"). */
export function formatNice(nice: number): string {
  if (nice === 255) return 'MAX';
  const bands: [string, number, number][] = [
    ['F', NICE_FLASH, 32],
    ['P', NICE_PRIORITY, 32],
    ['N', NICE_NORMAL, 32],
    ['B', NICE_BULK, 30],
  ];
  for (const [letter, base, up] of bands) {
    if (nice > base - 31 && nice < base) return `${letter}-${base - nice}`;
    if (nice === base) return letter;
    if (nice > base && nice <= base + up) return `${letter}+${nice - base}`;
  }
  return String(nice);
}
