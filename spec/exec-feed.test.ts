/** A handle's stdin through the addon's pipe (the default when the addon is built; CI requires it). */
import test from 'ava';
import { closeSync, readFileSync } from 'node:fs';
import { nativeFallbackReason, nativeModule } from '../src/native.js';
import { feedCases } from './helpers/feed-cases.js';

test('the addon makes a blocking, close-on-exec pipe', (t) => {
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
    t.falsy(flags & 0o4000, 'not O_NONBLOCK');
  }
  closeSync(r);
  closeSync(w);
});

feedCases(test, 'addon pipe');
