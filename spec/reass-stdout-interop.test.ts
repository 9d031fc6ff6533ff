/**
 * `pigeon reass -stdout` against `nncp-reass -stdout`: one FILE.nncp.meta
 * goes to stdout (chunks removed after); with -all or -node the reference
 * ignores -stdout and reassembles every file in place, and so does pigeon
 * (saying so on stderr).
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { asText, requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const FILES: Record<string, number> = { one: 3000, two: 2500, three: 1500 };

/** Two copies of a receiver whose incoming holds three chunked files (1 KiB chunks) from two senders, and the originals. */
async function setup(t: ExecutionContext): Promise<{ dir: string; n: TestNode; p: TestNode; data: Record<string, Buffer> }> {
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, ['alice', 'carol', 'bobn', 'bobp']);
  const data: Record<string, Buffer> = {};
  for (const [name, size] of Object.entries(FILES)) {
    data[name] = randomBytes(size);
    fs.writeFileSync(path.join(dir, name), data[name]);
    const from = name === 'three' ? nodes.carol : nodes.alice;
    for (const to of ['bobn', 'bobp']) {
      const r = await runNncp('nncp-file', ['-quiet', '-cfg', from.cfgPath, '-chunked', '1', path.join(dir, name), `${to}:${name}`]);
      t.is(r.code, 0, r.stderr);
    }
  }
  for (const to of [nodes.bobn, nodes.bobp]) {
    const xfer = path.join(dir, `xfer-${to.name}`);
    fs.mkdirSync(xfer);
    for (const from of [nodes.alice, nodes.carol]) t.is((await runNncp('nncp-xfer', ['-quiet', '-cfg', from.cfgPath, '-node', to.name, '-mkdir', xfer])).code, 0);
    t.is((await runNncp('nncp-xfer', ['-quiet', '-cfg', to.cfgPath, '-rx', xfer])).code, 0);
    t.is((await runNncp('nncp-toss', ['-quiet', '-cfg', to.cfgPath])).code, 0);
    t.true(fs.existsSync(path.join(to.incoming, 'two.nncp.meta')));
  }
  return { dir, n: nodes.bobn, p: nodes.bobp, data };
}

const listing = (n: TestNode): string[] => fs.readdirSync(n.incoming).sort();

test('-stdout -all and -stdout -node: nothing on stdout, every file reassembled in place, as nncp-reass does', async (t) => {
  if (!requireNncp(t)) return;
  const { n, p, data } = await setup(t);
  const want = asText(await runNncp('nncp-reass', ['-quiet', '-cfg', n.cfgPath, '-stdout', '-all']));
  const got = asText(await runPigeon(['reass', '-quiet', '-cfg', p.cfgPath, '-stdout', '-all']));
  t.is(got.code, want.code);
  t.is(want.stdout, '');
  t.is(got.stdout, '');
  t.regex(got.stderr, /^pigeon reass: warning: -stdout is for one FILE\.nncp\.meta; with -all the files are reassembled beside their chunks/);
  t.deepEqual(listing(p), listing(n));
  t.deepEqual(listing(p), ['one', 'three', 'two']);
  for (const name of Object.keys(FILES)) t.deepEqual(fs.readFileSync(path.join(p.incoming, name)), data[name]);
});

test('-stdout -node NODE reassembles that node\'s incoming in place too', async (t) => {
  if (!requireNncp(t)) return;
  const { n, p } = await setup(t);
  const want = asText(await runNncp('nncp-reass', ['-quiet', '-cfg', n.cfgPath, '-stdout', '-node', 'alice']));
  const got = asText(await runPigeon(['reass', '-quiet', '-cfg', p.cfgPath, '-stdout', '-node', 'alice']));
  t.is(got.code, want.code);
  t.is(got.stdout, want.stdout);
  t.regex(got.stderr, /with -node the files are reassembled/);
  t.deepEqual(listing(p), listing(n));
});

test('-stdout FILE.nncp.meta writes that file to stdout and removes its chunks, as nncp-reass does', async (t) => {
  if (!requireNncp(t)) return;
  const { n, p, data } = await setup(t);
  const want = await runNncp('nncp-reass', ['-quiet', '-cfg', n.cfgPath, '-stdout', path.join(n.incoming, 'two.nncp.meta')]);
  const got = await runPigeon(['reass', '-quiet', '-cfg', p.cfgPath, '-stdout', path.join(p.incoming, 'two.nncp.meta')]);
  t.is(want.code, 0);
  t.is(got.code, 0, got.stderr.toString());
  t.deepEqual(want.stdout, data.two);
  t.deepEqual(got.stdout, data.two);
  t.deepEqual(listing(p), listing(n));
  t.false(listing(p).some((f) => f.startsWith('two')));
});
