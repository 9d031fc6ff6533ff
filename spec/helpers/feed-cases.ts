/**
 * The cases of a handle's stdin (runHandle in src/toss/exec.ts), run by
 * exec-feed.test (the addon's blocking pipe, written on the thread pool)
 * and exec-feed-fallback.test (PIGEON_NATIVE=0: Node's own pipe).
 */
import type { TestFn } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runHandle } from '../../src/toss/exec.js';
import { tmpDir } from './util.js';

const MiB = 1 << 20;

/** `data` in pieces of `piece` bytes, counting what was pulled; throws `fail` once `failAt` bytes are out. */
function source(data: Buffer, piece: number, pulled: { n: number }, failAt = Infinity): AsyncIterable<Uint8Array> {
  return (async function* () {
    for (let o = 0; o < data.length; o += piece) {
      if (o >= failAt) throw new Error('corrupt block');
      const c = data.subarray(o, o + piece);
      pulled.n += c.length;
      yield c;
    }
  })();
}

export function feedCases(test: TestFn, label: string): void {
  test(`${label}: the handle reads every byte, in pieces larger and smaller than the pipe, and sees the end of its input`, async (t) => {
    for (const [size, piece] of [
      [5 * MiB + 3, 3 * MiB],
      [5 * MiB + 3, 100_000],
      [0, 1],
    ]) {
      const data = randomBytes(size);
      const pulled = { n: 0 };
      // sha256sum ends only at the end of its input, so it also shows the write end was not inherited.
      const r = await runHandle(['sh', '-c', 'sha256sum'], { PATH: process.env.PATH }, source(data, piece, pulled));
      t.is(r.error, undefined, `${size} in ${piece}: ${String(r.error)}`);
      t.is(r.output.toString().split(' ')[0], createHash('sha256').update(data).digest('hex'), `${size} in ${piece}`);
      t.is(pulled.n, size);
    }
  });

  test(`${label}: a handle that reads slowly still gets every byte, in order`, async (t) => {
    const data = randomBytes(6 * MiB + 5);
    const pulled = { n: 0 };
    // The pipe fills while the handle sleeps: the rest of each piece waits for room.
    const r = await runHandle(['sh', '-c', 'sleep 0.3; sha256sum'], { PATH: process.env.PATH }, source(data, 3 * MiB, pulled));
    t.is(r.error, undefined, String(r.error));
    t.is(r.output.toString().split(' ')[0], createHash('sha256').update(data).digest('hex'));
  });

  test(`${label}: handles that never read hold no thread-pool thread; stopping the toss ends them`, async (t) => {
    // More such handles than libuv's thread pool has threads (4): were each write waiting on a
    // thread, the file read below could not run until they were stopped.
    const stop = new AbortController();
    const runs = Array.from({ length: 6 }, () => runHandle(['sleep', '30'], { PATH: process.env.PATH }, source(randomBytes(4 * MiB), MiB, { n: 0 }), stop.signal));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const { readFile } = await import('node:fs/promises');
    await readFile(new URL(import.meta.url));
    const took = Date.now() - t0;
    stop.abort();
    const results = await Promise.all(runs);
    t.true(took < 2000, `a file read took ${took} ms while the handles sat`);
    for (const r of results) t.true(r.killed);
  });

  test(`${label}: a handle that stops reading succeeds once the whole input was read`, async (t) => {
    const data = randomBytes(4 * MiB);
    const pulled = { n: 0 };
    const r = await runHandle(['head', '-c', '10'], { PATH: process.env.PATH }, source(data, 256 * 1024, pulled));
    t.is(r.error, undefined);
    t.true(r.output.equals(data.subarray(0, 10)));
    t.is(pulled.n, data.length, 'the rest was still read (to be verified)');
  });

  test(`${label}: an input that fails kills the handle before it sees an end of input`, async (t) => {
    const dir = await tmpDir(t);
    const out = path.join(dir, 'out');
    const data = randomBytes(3 * MiB);
    const pulled = { n: 0 };
    // Had the handle seen an end of input, it would write "end" after the bytes.
    const r = await runHandle(['sh', '-c', `cat > ${out}; echo end >> ${out}`], { PATH: process.env.PATH }, source(data, 512 * 1024, pulled, 2 * MiB));
    t.true(r.killed);
    t.regex(String(r.error), /corrupt block/);
    const got = existsSync(out) ? readFileSync(out) : Buffer.alloc(0);
    t.false(got.toString('latin1').endsWith('end\n'), 'no end of input reached the handle');
    t.true(got.length <= 2 * MiB && data.subarray(0, got.length).equals(got));
  });

  test(`${label}: a handle that cannot be started is reported, and the input still read`, async (t) => {
    const pulled = { n: 0 };
    const data = randomBytes(MiB);
    const r = await runHandle([path.join(await tmpDir(t), 'missing')], { PATH: process.env.PATH }, source(data, 100_000, pulled));
    t.is(r.spawnCode, 'ENOENT');
    t.regex(String(r.error), /fork\/exec .*missing: no such file or directory/);
    t.is(pulled.n, data.length);
  });
}
