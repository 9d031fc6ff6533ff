/** A handle's stdin through the addon's pipe (the default when the addon is built; CI requires it). */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { closeSync, readFileSync } from 'node:fs';
import { nativeFallbackReason, nativeModule } from '../src/native.js';
import { feedCases } from './helpers/feed-cases.js';

test('the addon makes a close-on-exec pipe of 1 MiB', (t) => {
  const m = nativeModule();
  if (m === null) {
    if (process.env.CI) t.fail(`the addon is required on CI: ${nativeFallbackReason()}`);
    else {
      process.stderr.write(`exec-feed.test: SKIPPED: no addon (${nativeFallbackReason()})\n`);
      t.pass();
    }
    return;
  }
  const fds = m.pipe(1 << 20);
  t.true(Array.isArray(fds));
  const [r, w] = fds as [number, number];
  for (const [fd, mode] of [[r, 0], [w, 1]]) {
    const flags = parseInt(/flags:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
    t.is(flags & 3, mode);
    t.truthy(flags & 0o2000000, 'O_CLOEXEC');
  }
  // Its size, as a child that gets the write end as its stdin sees it (F_GETPIPE_SZ is 1032).
  const py = spawnSync('python3', ['-c', 'import fcntl; print(fcntl.fcntl(0, 1032))'], { stdio: [w, 'pipe', 'pipe'], encoding: 'utf8' });
  if (py.error || py.status !== 0) t.log(`python3 did not run (${py.error?.message ?? py.stderr.trim()}): the pipe size not checked`);
  else t.is(py.stdout.trim(), String(1 << 20));
  closeSync(r);
  closeSync(w);
});

feedCases(test, 'addon pipe');
