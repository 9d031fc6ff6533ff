/**
 * `pigeon hash` against `nncp-hash` on the same files: -file, stdin (pipe and
 * redirected file), -seek at the interesting offsets (including past the end,
 * where the reference has quirks), -debug, -progress and usage errors.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { asText, requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const B = 128 * 1024;

async function files(dir: string): Promise<Array<{ name: string; size: number }>> {
  const sizes = [0, 1, B, 5 * B + 7, 3 * 1024 * 1024 + 1];
  for (const size of sizes) await writeFile(path.join(dir, `f${size}`), randomBytes(size));
  return sizes.map((size) => ({ name: path.join(dir, `f${size}`), size }));
}

test('-file and stdin (pipe and redirected file) print what nncp-hash prints', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  await Promise.all((await files(dir)).map(async ({ name, size }) => {
    const want = await runNncp('hash', ['-file', name]);
    t.is(want.code, 0, want.stderr);
    t.regex(want.stdout.toString(), /^[0-9a-f]{64}\n$/);
    const [got, piped, redirected, refStdin] = await Promise.all([
      runPigeon(['hash', '-file', name]),
      runPigeon(['hash'], { input: await readFile(name) }),
      runPigeon(['hash'], { stdinFile: name }).then(asText),
      runNncp('nncp-hash', [], { stdinFile: name }).then(asText),
    ]);
    t.is(got.code, 0, got.stderr);
    t.is(got.stdout.toString(), want.stdout.toString(), `-file, size ${size}`);
    t.is(got.stderr, '');
    t.is(piped.stdout.toString(), want.stdout.toString(), `stdin pipe, size ${size}`);
    t.is(redirected.stdout, want.stdout.toString(), `stdin file, size ${size}`);
    t.is(refStdin.stdout, want.stdout.toString(), `reference stdin, size ${size}`);
  }));
});

test('-seek at the start, mid-leaf, a leaf boundary, the end and past the end matches nncp-hash -seek', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const cases: Array<[number, number]> = [];
  for (const seek of [0, 1, B / 2 + 3, 2 * B, 5 * B + 6, 5 * B + 7, 7 * B]) cases.push([5 * B + 7, seek]);
  for (const seek of [B, 3 * B, 4 * B]) cases.push([3 * B, seek]); // exact leaves; past the end is a quirk
  for (const seek of [50, 5000]) cases.push([100, seek]);
  for (const size of new Set(cases.map(([size]) => size))) await writeFile(path.join(dir, `s${size}`), randomBytes(size));
  await Promise.all(cases.map(async ([size, seek]) => {
    const args = ['-file', path.join(dir, `s${size}`), '-seek', String(seek)];
    const [want, got] = await Promise.all([runNncp('hash', args), runPigeon(['hash', ...args])]);
    t.is(got.code, want.code, `size ${size} seek ${seek}: ${got.stderr}`);
    t.regex(want.stdout.toString(), /^[0-9a-f]{64}\n$/);
    t.is(got.stdout.toString(), want.stdout.toString(), `size ${size} seek ${seek}`);
  }));
});

/**
 * nncp-hash prints -debug events from another goroutine through pointers to
 * tree entries that the hasher may already have changed (relabelled or
 * folded again) by the time they are printed: the reference's own output
 * varies from run to run there. What does not vary: the key lines, the kind
 * of every step, each leaf's line ("Add 000 ...", printed from a copy) and
 * the result. Those must match exactly.
 */
function stable(out: string): string[] {
  return out.trimEnd().split('\n').map((line) => {
    const f = line.split('\t');
    return f.length === 4 && !(f[0] === 'Add' && f[1] === '000') ? f[0] : line;
  });
}

test('-debug prints the same keys, steps, leaf lines and result as nncp-hash -debug', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const f = path.join(dir, 'd');
  await writeFile(f, randomBytes(11 * B + 5));
  await Promise.all([0, B + 1, 4 * B].map(async (seek) => {
    const args = ['-file', f, '-debug', ...(seek ? ['-seek', String(seek)] : [])];
    const [want, got] = await Promise.all([runNncp('hash', args), runPigeon(['hash', ...args])]);
    t.is(got.code, 0, got.stderr);
    const w = want.stdout.toString();
    const g = got.stdout.toString();
    t.deepEqual(stable(g), stable(w), `seek ${seek}`);
    t.true(stable(w).filter((l) => l.startsWith('Add\t000\t')).length >= 11, 'every leaf line compared');
    t.deepEqual(g.split('\n').slice(0, 2), w.split('\n').slice(0, 2), 'key lines');
    t.true(g.split('\n').every((line) => /^(|[0-9a-f]{64}|(Leaf|Node) BLAKE3 key: [0-9a-f]{64}|(Add|Fold)\t\d{3}\t\d{6}\t[0-9a-f]{64})$/.test(line)));
  }));
});

test('-progress draws on stderr only, like nncp-hash', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const f = path.join(dir, 'p');
  await writeFile(f, randomBytes(3 * B + 1));
  const want = await runNncp('hash', ['-file', f, '-progress']);
  const got = await runPigeon(['hash', '-file', f, '-progress']);
  t.is(got.stdout.toString(), want.stdout.toString());
  t.regex(want.stderr, /\x1b\[1A\x1b\[2K\S+Z hash .*p 384 KiB\/384 KiB 100% \(/);
  t.regex(got.stderr, /\x1b\[1A\x1b\[2K\S+Z hash .*p 384 KiB\/384 KiB 100% \(/);
});

test('-seek without -file is refused with one line, as the reference refuses it', async (t) => {
  if (!requireNncp(t)) return;
  const want = await runNncp('hash', ['-seek', '5'], { input: 'abc' });
  const got = await runPigeon(['hash', '-seek', '5'], { input: 'abc' });
  t.not(want.code, 0);
  t.not(got.code, 0);
  t.is(got.stdout.toString(), '');
  t.regex(got.stderr, /^pigeon hash: -seek needs -file[^\n]*\n$/);
  const missing = await runPigeon(['hash', '-file', '/nonexistent/pigeon-hash-test']);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /^pigeon hash: [^\n]*\/nonexistent\/pigeon-hash-test[^\n]*ENOENT[^\n]*\n$/);
});
