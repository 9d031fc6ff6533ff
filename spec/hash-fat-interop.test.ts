/**
 * `pigeon hash -force-fat` against `nncp-hash -force-fat`: the reference's
 * MTHFat adds every leaf, then folds the tree level by level, and reads the
 * data in order whatever -seek says. Its -debug trace is printed in order
 * (unlike the streaming one, see hash-interop.test.ts), so it must match
 * line for line, as must the hash.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MTH, mthFatTrace, formatMthEvent, leafCollector, type MthEvent } from '../src/crypto/mth.js';
import { asText, requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const B = 128 * 1024;

test('-force-fat -debug prints exactly what nncp-hash -force-fat -debug prints, for any -seek, file or stdin', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const sizes = [0, B + 1, 3 * B - 5, 10 * B + 7];
  for (const size of sizes) await writeFile(path.join(dir, `f${size}`), randomBytes(size));
  const cases: string[][] = [];
  for (const size of sizes) {
    for (const seek of [0, B + 3, 20 * B]) cases.push(['-file', path.join(dir, `f${size}`), '-debug', '-force-fat', '-seek', String(seek)]);
  }
  await Promise.all(cases.map(async (args) => {
    const [want, got] = await Promise.all([runNncp('hash', args).then(asText), runPigeon(['hash', ...args]).then(asText)]);
    t.is(want.code, 0, want.stderr);
    t.is(got.code, 0, got.stderr);
    t.is(got.stdout, want.stdout, args.join(' '));
  }));
  const f = path.join(dir, `f${10 * B + 7}`);
  const [want, got] = await Promise.all([
    runNncp('hash', ['-debug', '-force-fat'], { stdinFile: f }).then(asText),
    runPigeon(['hash', '-debug', '-force-fat'], { stdinFile: f }).then(asText),
  ]);
  t.is(got.stdout, want.stdout, 'stdin');
  // An unpaired node is added to the next level as it is.
  t.regex(want.stdout, /\nAdd\t00[1-9]\t\d{6}\t[0-9a-f]{64}\n/);
});

test('mthFatTrace: same root as the streaming MTH, every leaf first, then level by level', (t) => {
  for (const leaves of [1, 2, 3, 5, 8, 11]) {
    const data = randomBytes(leaves * B - 1);
    const seq = leafCollector();
    const root = new MTH({ onEvent: seq.onEvent }).update(data).digest();
    const events: MthEvent[] = [];
    t.deepEqual(mthFatTrace(seq.leaves(), (e) => events.push(e)), root, `${leaves} leaves`);
    const n = Math.max(2, leaves);
    t.deepEqual(events.slice(0, n).map((e) => `${e.type} ${e.level} ${e.counter}`), Array.from({ length: n }, (_, i) => `Add 0 ${i}`));
    const levels = events.map((e) => e.level);
    t.deepEqual(levels, [...levels].sort((a, b) => a - b), 'levels only go up');
    t.regex(formatMthEvent(events[events.length - 1]), /^Fold\t\d{3}\t000000\t/);
  }
});
