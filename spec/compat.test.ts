/**
 * compat/: nncp-<cmd> shims that run `pigeon <cmd>`, so that a script
 * written for NNCP ("$NNCPPATH/nncp-file …") runs unchanged with
 * NNCPPATH pointing there. File descriptors (fd 4 of nncp-ack) pass through.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeNodes } from './helpers/nncp.js';
import { bash, haveNncp, nncpDir, packetIds, PIGEON_JS, runPigeon, tmpDir } from './helpers/util.js';

const ROOT = path.resolve(path.dirname(PIGEON_JS), '../..');
const COMPAT = path.join(ROOT, 'compat');
const DIST_CMD = path.dirname(PIGEON_JS);

const COMMANDS = [
  'file', 'exec', 'freq', 'trns', 'ack', 'reass', 'toss', 'xfer', 'rm', 'stat', 'check', 'log', 'pkt', 'hash',
  'cfgnew', 'cfgmin', 'call', 'daemon', 'caller', 'cronexpr', 'bundle',
];

test('there is an executable nncp-<cmd> shim for every command; each runs pigeon <cmd> or says in one line that pigeon lacks it', async (t) => {
  const results = await Promise.all(COMMANDS.map((c) => bash(`"${COMPAT}/nncp-${c}" -h`)));
  for (const [i, c] of COMMANDS.entries()) {
    const shim = path.join(COMPAT, `nncp-${c}`);
    t.true((fs.statSync(shim).mode & 0o111) !== 0, `${shim} is executable`);
    const r = results[i];
    if (fs.existsSync(path.join(DIST_CMD, `${c}.js`))) {
      t.is(r.code, 0, `nncp-${c} -h: ${r.stderr}`);
      t.regex(r.stdout + r.stderr, new RegExp(`pigeon ${c}\\b`), `nncp-${c} -h shows pigeon ${c}'s help`);
    } else {
      t.is(r.code, 1);
      t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      t.regex(r.stderr, new RegExp(`^nncp-${c}: pigeon has no '${c}' command`));
    }
  }
});

test('a shim for a command pigeon does not have fails with one clear line', async (t) => {
  const dir = await tmpDir(t);
  fs.mkdirSync(path.join(dir, 'compat'));
  fs.symlinkSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'));
  fs.copyFileSync(path.join(COMPAT, 'nncp-file'), path.join(dir, 'compat', 'nncp-frobnicate'));
  fs.chmodSync(path.join(dir, 'compat', 'nncp-frobnicate'), 0o755);
  const r = await bash(`"${dir}/compat/nncp-frobnicate" -cfg x`);
  t.is(r.code, 1);
  t.regex(r.stderr, /^nncp-frobnicate: pigeon has no 'frobnicate' command \(.*\)\n$/);
  // A symlink to a shim (e.g. from a bin directory) still finds pigeon.
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(path.join(COMPAT, 'nncp-hash'), path.join(bin, 'nncp-hash'));
  fs.writeFileSync(path.join(dir, 'f'), 'hash me');
  const h = await bash(`"${bin}/nncp-hash" -file "${dir}/f"`);
  t.is(h.code, 0, h.stderr);
  const p = await runPigeon(['hash', '-file', path.join(dir, 'f')]);
  t.is(h.stdout, p.stdout.toString());
});

const SCRIPT = `
set -eu
"$NNCPPATH/nncp-file" -cfg "$CFG" -quiet "$SRC" bob:
"$NNCPPATH/nncp-file" -cfg "$CFG" -quiet -nice F - bob:piped.txt < "$SRC"
echo "mail body" | "$NNCPPATH/nncp-exec" -cfg "$CFG" -quiet bob sendmail -t root
"$NNCPPATH/nncp-freq" -cfg "$CFG" -quiet bob:pub/file.txt
"$NNCPPATH/nncp-hash" -file "$SRC"
`;

test('a script written for NNCP runs with NNCPPATH=compat and queues what it queues with the reference', async (t) => {
  const dir = await tmpDir(t);
  const generator = haveNncp() ? 'nncp' : 'pigeon';
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator });
  const src = path.join(dir, 'payload.bin');
  fs.writeFileSync(src, randomBytes(10_000));
  const env = { CFG: alice.cfgPath, SRC: src };
  const ours = await bash(SCRIPT, { env: { ...env, NNCPPATH: COMPAT } });
  t.is(ours.code, 0, ours.stderr);
  const tx = path.join(alice.spool, bob.idB32, 'tx');
  const count = () => packetIds(tx).length;
  t.is(count(), 4, 'file, piped file, exec and freq packets queued');
  t.regex(ours.stdout, /^[0-9a-f]{64}\n$/);
  const ref = nncpDir();
  if (!ref) {
    t.log('SKIP (reference part): nncp-* not installed');
    return;
  }
  const theirs = await bash(SCRIPT, { env: { ...env, NNCPPATH: ref } });
  t.is(theirs.code, 0, theirs.stderr);
  t.is(count(), 8, 'the reference queued the same four');
  t.is(ours.stdout, theirs.stdout, 'nncp-hash prints the same through the shim');
});

test('fd 4 passes through the nncp-ack shim', async (t) => {
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: haveNncp() ? 'nncp' : 'pigeon' });
  const r = await runPigeon(['file', '-cfg', alice.cfgPath, '-', 'bob:x'], { input: 'x' });
  t.is(r.code, 0, r.stderr);
  const tx = path.join(alice.spool, bob.idB32, 'tx');
  const rx = path.join(bob.spool, alice.idB32, 'rx');
  fs.mkdirSync(rx, { recursive: true });
  for (const n of packetIds(tx)) fs.renameSync(path.join(tx, n), path.join(rx, n));
  const acks = path.join(dir, 'acks');
  const a = await bash(`"$NNCPPATH/nncp-ack" -cfg "${bob.cfgPath}" -quiet -node alice 4>"${acks}"`, { env: { NNCPPATH: COMPAT } });
  t.is(a.code, 0, a.stderr);
  t.regex(fs.readFileSync(acks, 'utf8'), new RegExp(`^${alice.idB32}/[A-Z2-7]{52}\\n$`));
});
