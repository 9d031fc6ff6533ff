/**
 * docs/api.md's example, extracted and run as a user would run it, with
 * `pigeon-nncp` resolving to this package (a node_modules link, as an
 * install makes it): it must queue, carry and toss the file, and print the
 * statuses. Also: loadConfig(path) reads that path, not $NNCPCFG.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, makeContext } from '../src/index.js';
import { runApiExample } from './helpers/apidoc.js';
import { tmpNodes } from './helpers/nncp.js';

const repo = process.cwd();

test('docs/api.md example runs: queues, carries, tosses, reads status', async (t) => {
  const { r, nodes } = await runApiExample(t, repo);
  const out = r.stdout.toString('utf8');
  t.is(r.code, 0, r.stderr + out);
  t.regex(out, new RegExp(`^alice is ${nodes.alice.idB32} and knows .*bob`, 'm'));
  t.regex(out, /^alice -> bob: 1 packet\(s\), \d+ bytes queued$/m);
  t.regex(out, /^alice copied 1 packet\(s\) to /m);
  t.regex(out, /^bob took 1 packet\(s\) from /m);
  t.regex(out, /^bob tossed 1 packet\(s\), ok: true$/m);
  t.regex(out, /^bob's rx queue from alice: 0 packet\(s\)$/m);
  t.is(fs.readFileSync(path.join(nodes.bob.incoming, 'note.txt'), 'utf8'), 'hello from the library\n');
});

test('loadConfig(path) and makeContext(path) read that path, whatever $NNCPCFG says', async (t) => {
  const { a } = await tmpNodes(t, ['a', 'b'], { generator: 'pigeon' });
  const saved = process.env.NNCPCFG;
  process.env.NNCPCFG = '/nonexistent/on/purpose.hjson';
  try {
    t.is((await loadConfig(a.cfgPath)).self!.idB32, a.idB32);
    t.is((await makeContext(a.cfgPath)).cfg.spool, a.spool);
    // the options form keeps the commands' rule: $NNCPCFG wins
    await t.throwsAsync(loadConfig({ cfg: a.cfgPath }), { message: /nonexistent/ });
    await t.throwsAsync(loadConfig(''), { message: /loadConfig\(""\)/ });
  } finally {
    if (saved === undefined) delete process.env.NNCPCFG;
    else process.env.NNCPCFG = saved;
  }
});
