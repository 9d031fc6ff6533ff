/**
 * bin/pigeon.cjs, the `pigeon` executable: read by /bin/sh first, then by
 * Node. The shell hands NODE_EXTRA_CA_CERTS to Node under another name, so
 * that Node 20 does not build its whole certificate store at start-up for a
 * program that makes no TLS connection, and the launcher's JavaScript half
 * puts it back before Pigeon runs, for the programs Pigeon starts.
 *
 * A certificate file that does not exist shows whether Node read it: Node
 * warns about it on stderr as it starts.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, tmpDir } from './helpers/util.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/pigeon.cjs');
const CERTS_WARNING = /extra certs/i;

test('node reads NODE_EXTRA_CA_CERTS at start-up, the pigeon executable does not', async (t) => {
  const dir = await tmpDir(t);
  const env = { NODE_EXTRA_CA_CERTS: path.join(dir, 'missing.pem') };
  const node = await run(process.execPath, ['-e', '0'], { env });
  t.regex(node.stderr, CERTS_WARNING, 'the control: plain node reads the file and warns that it is missing');
  const v = await run(BIN, ['-version'], { env });
  t.is(v.code, 0, v.stderr);
  t.regex(v.stdout.toString(), /^pigeon \d/);
  t.notRegex(v.stderr, CERTS_WARNING);
  t.is(v.stderr, '');
});

test('the programs pigeon starts get NODE_EXTRA_CA_CERTS as it was set, and not the name it travelled under', async (t) => {
  const dir = await tmpDir(t);
  const q = path.join(dir, 'q');
  const out = path.join(dir, 'env');
  const pigeon = (args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}) => run(BIN, ['fspl', ...args], opts);
  t.is((await pigeon(['queue-init', '-q', q])).code, 0);
  const job = await pigeon(['prepare', '-s', path.join(dir, 'seq'), '-i', '-'], { input: 'payload' });
  t.is(job.code, 0, job.stderr);
  t.is((await pigeon(['queue-write', '-q', q], { input: job.stdout })).code, 0);
  const certs = path.join(dir, 'missing one.pem');
  const script = `{ echo "set:\${NODE_EXTRA_CA_CERTS-unset}"; echo "moved:\${PIGEON_NODE_EXTRA_CA_CERTS-unset}"; } > '${out}'`;
  const p = await pigeon(['queue-process', '-q', q, '/bin/sh', '--', '-c', script], { env: { NODE_EXTRA_CA_CERTS: certs } });
  t.is(p.code, 0, p.stderr);
  t.notRegex(p.stderr, CERTS_WARNING);
  t.is(fs.readFileSync(out, 'utf8'), `set:${certs}\nmoved:unset\n`);

  // Unset stays unset (an undefined value leaves it out of the child's environment); set to nothing stays set to nothing.
  for (const [value, want] of [
    [undefined, 'set:unset\n'],
    ['', 'set:\n'],
  ] as const) {
    const again = await pigeon(['prepare', '-s', path.join(dir, 'seq'), '-i', '-'], { input: 'again' });
    t.is((await pigeon(['queue-write', '-q', q], { input: again.stdout })).code, 0);
    const r = await pigeon(['queue-process', '-q', q, '/bin/sh', '--', '-c', script], { env: { NODE_EXTRA_CA_CERTS: value } });
    t.is(r.code, 0, r.stderr);
    t.is(fs.readFileSync(out, 'utf8'), `${want}moved:unset\n`);
  }
});
