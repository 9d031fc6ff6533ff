/**
 * A spool file that will be fsynced has its batches handed to the disk as
 * they are written (sync_file_range, SYNC_FILE_RANGE_WRITE, from the native
 * write job) and is fdatasynced in the background every 32 MiB, so the
 * final fsync finds little left to do; with NNCPNOSYNC neither happens. Seen from outside with strace: the
 * calls, their ranges, and that the file's bytes are the ones written.
 * strace is required on CI (.ci/run installs it); elsewhere the test skips
 * loudly without it.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeModule } from '../src/native.js';

const atomicJs = fileURLToPath(new URL('../src/spool/atomic.js', import.meta.url));
const haveStrace = spawnSync('strace', ['-V']).status === 0;

const MIB = 40;

/** Write MIB MiB through a TmpFile in 1 MiB chunks, seal and commit it; the sync calls strace saw. */
function traced(dir: string, env: NodeJS.ProcessEnv): { calls: string[]; file: Buffer } {
  const script = `
    import { TmpFile } from ${JSON.stringify(atomicJs)};
    const tmp = await TmpFile.create(${JSON.stringify(path.join(dir, 'tmp'))});
    for (let i = 0; i < ${MIB}; i++) await tmp.write(Buffer.alloc(1 << 20, i + 1));
    await tmp.commit(${JSON.stringify(path.join(dir, 'out'))});
  `;
  mkdirSync(dir, { recursive: true });
  const log = path.join(dir, 'strace.log');
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=sync_file_range,fdatasync,fsync', '-o', log, process.execPath, '--input-type=module', '-e', script], {
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  const calls = readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => /\b(sync_file_range|fdatasync|fsync)\(/.test(l))
    .map((l) => l.replace(/^\d+\s+/, ''));
  return { calls, file: readFileSync(path.join(dir, 'out')) };
}

test('a file that will be fsynced starts its writeback batch by batch; NNCPNOSYNC gives no such hint', (t) => {
  if (!nativeModule()) {
    t.log('!!! native addon not loaded: the writeback hint is the native write job\'s, nothing to see');
    if (process.env.CI) t.fail('native addon must be built on CI');
    else t.pass();
    return;
  }
  if (!haveStrace) {
    if (process.env.CI) t.fail('strace is missing on CI (.ci/run installs it)');
    else {
      t.log('!!! strace not installed: writeback test skipped');
      t.pass();
    }
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pigeon-wb-'));
  try {
    const env = { ...process.env };
    delete env.NNCPNOSYNC;
    const synced = traced(path.join(dir, 'a'), env);
    // Calls that overlap show as `call(args <unfinished ...>` and `<... call resumed>) = 0`: the first kind has the arguments.
    const started = synced.calls.filter((c) => !c.includes('resumed'));
    const fd = /\((\d+)/.exec(started[0] ?? '')?.[1];
    const ofFile = started.filter((c) => c.includes(`(${fd},`) || c.includes(`(${fd})`) || c.includes(`(${fd} `));
    t.false(synced.calls.some((c) => /= -1/.test(c)), synced.calls.join(' | '));
    // Every byte covered by the hint, in ranges of whole batches (two batches may be in flight at once: sorted).
    const ranges = ofFile
      .filter((c) => c.startsWith('sync_file_range('))
      .map((c) => {
        const m = /sync_file_range\(\d+, (\d+), (\d+), SYNC_FILE_RANGE_WRITE/.exec(c);
        t.truthy(m, c);
        return m ? [Number(m[1]), Number(m[2])] : [0, 0];
      })
      .sort((a, b) => a[0] - b[0]);
    t.true(ranges.length >= 2, `batches hinted: ${synced.calls.join(' | ')}`);
    let next = 0;
    for (const [off, len] of ranges) {
      t.is(off, next);
      next = off + len;
    }
    t.is(next, MIB << 20);
    // A background fdatasync once 32 MiB are in, then the file's fsync at the seal (the directory's comes after it).
    t.true(ofFile.some((c) => c.startsWith('fdatasync(')), `no background fdatasync: ${ofFile.join(' | ')}`);
    t.regex(ofFile.at(-1) ?? '', /^fsync\(/);
    t.is(synced.file.length, MIB << 20);
    for (let i = 0; i < MIB; i++) t.true(synced.file.subarray(i << 20, (i + 1) << 20).equals(Buffer.alloc(1 << 20, i + 1)));

    const nosync = traced(path.join(dir, 'b'), { ...env, NNCPNOSYNC: '1' });
    t.deepEqual(nosync.calls, []);
    t.true(nosync.file.equals(synced.file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
