/** Niceness parsing and formatting, with the reference's edge behaviour (nice.go). */
import test from 'ava';
import { formatNice, parseNice, tryParseNice } from '../src/nice.js';

test('formatNice follows the reference bands, including its gaps', (t) => {
  const want: Record<number, string> = {
    1: '1', 2: 'F-30', 31: 'F-1', 32: 'F', 33: 'F+1', 64: 'F+32', 65: '65', 66: 'P-30', 96: 'P', 128: 'P+32',
    129: '129', 130: 'N-30', 160: 'N', 192: 'N+32', 193: '193', 194: 'B-30', 224: 'B', 254: 'B+30', 255: 'MAX', 0: '0',
  };
  for (const [n, s] of Object.entries(want)) t.is(formatNice(Number(n)), s, n);
});

test('every formatted niceness parses back to itself', (t) => {
  for (let n = 1; n <= 255; n++) t.is(tryParseNice(formatNice(n)), n, formatNice(n));
});

test('parseNice errors name the flag and the value', (t) => {
  t.is(parseNice('bulk+3'), 227);
  t.throws(() => parseNice('B+40', '-replynice'), { message: /^-replynice "B\+40": not a niceness/ });
  t.throws(() => parseNice('0'), { message: /-nice "0"/ });
});
