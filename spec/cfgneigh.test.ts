/**
 * Setting up neighbours without an editor: `pigeon cfgnew -o FILE` (mode
 * 0600, never over an existing file, -spool/-log) and `pigeon cfgneigh`
 * (a neighbour from its cfgmin output, added as text: comments kept).
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { makeNodes } from './helpers/nncp.js';
import { haveNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

test('cfgnew -o writes a 0600 file with the given spool and log, and never overwrites one', async (t) => {
  const dir = await tmpDir(t);
  const file = path.join(dir, 'a.hjson');
  const r = await runPigeon(['cfgnew', '-o', file, '-spool', path.join(dir, 'spool'), '-log', path.join(dir, 'log')]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.length, 0);
  t.is(fs.statSync(file).mode & 0o777, 0o600);
  const text = fs.readFileSync(file, 'utf8');
  t.regex(text, /# Path to encrypted packets spool directory/, 'the commented template');
  const cfg = await loadConfig({ cfg: file, env: {} });
  t.is(cfg.spool, path.join(dir, 'spool'));
  t.is(cfg.log, path.join(dir, 'log'));
  const again = await runPigeon(['cfgnew', '-o', file]);
  t.not(again.code, 0);
  t.deepEqual(lines(again.stderr), [`pigeon cfgnew: ${file} already exists: not overwriting it (remove it, or name another file with -o)`]);
  t.is(fs.readFileSync(file, 'utf8'), text);
  t.deepEqual(fs.readdirSync(dir), ['a.hjson'], 'no temporary file left');
});

test('cfgneigh adds a neighbour from cfgmin output on stdin, keeping every line of the file as it was', async (t) => {
  const dir = await tmpDir(t);
  const a = path.join(dir, 'a.hjson');
  const b = path.join(dir, 'b.hjson');
  t.is((await runPigeon(['cfgnew', '-o', a])).code, 0);
  t.is((await runPigeon(['cfgnew', '-o', b, '-nocomments'])).code, 0);
  const before = fs.readFileSync(a, 'utf8');
  const bmin = (await runPigeon(['cfgmin', '-cfg', b])).stdout;
  const r = await runPigeon(['cfgneigh', '-cfg', a, '-name', 'bob', '-incoming', path.join(dir, 'in')], { input: bmin });
  t.is(r.code, 0, r.stderr);
  const after = fs.readFileSync(a, 'utf8');
  t.is(fs.statSync(a).mode & 0o777, 0o600, 'mode kept');
  // The old text with one block inserted.
  const oldLines = before.split('\n');
  const newLines = after.split('\n');
  const at = newLines.findIndex((l, i) => l !== oldLines[i]);
  const added = newLines.length - oldLines.length;
  t.deepEqual([...newLines.slice(0, at), ...newLines.slice(at + added)], oldLines);
  t.regex(newLines.slice(at, at + added).join('\n'), /^ +# added by pigeon cfgneigh from cfgmin output on stdin\n +bob: \{\n +id: [A-Z2-7]{52}\n/);
  const cfgA = await loadConfig({ cfg: a, env: {} });
  const cfgB = await loadConfig({ cfg: b, env: {} });
  const bob = cfgA.byName.get('bob')!;
  t.is(bob.idB32, cfgB.self!.idB32);
  t.deepEqual(Buffer.from(bob.noisePub!), Buffer.from(cfgB.self!.noisePub));
  t.is(bob.incoming, path.join(dir, 'in'));
  if (haveNncp()) t.is((await runNncp('nncp-cfgmin', ['-cfg', a])).code, 0, 'the reference reads the result');

  // Twice: refused, file untouched.
  const dup = await runPigeon(['cfgneigh', '-cfg', a, '-name', 'bob'], { input: bmin });
  t.is(dup.code, 1);
  t.deepEqual(lines(dup.stderr), [`pigeon cfgneigh: ${a}: neigh.bob already exists: remove it first, or pick another -name`]);
  const same = await runPigeon(['cfgneigh', '-cfg', a, '-name', 'bobby'], { input: bmin });
  t.deepEqual(lines(same.stderr), [`pigeon cfgneigh: ${a}: that node (${bob.idB32}) is already neigh.bob`]);
  const junk = await runPigeon(['cfgneigh', '-cfg', a, '-name', 'carol'], { input: '{ spool: "/x" }' });
  t.regex(junk.stderr, /^pigeon cfgneigh: cfgmin output on stdin: no neigh\.self \(nor self\) entry/);
  const noName = await runPigeon(['cfgneigh', '-cfg', a], { input: bmin });
  t.deepEqual(lines(noName.stderr), ['pigeon cfgneigh: -name NAME is required: the name the neighbour gets in neigh']);
  t.is(fs.readFileSync(a, 'utf8'), after);
  t.deepEqual(fs.readdirSync(dir).sort(), ['a.hjson', 'b.hjson']);
});

test('cfgneigh edits JSON configurations and takes the reference\'s cfgmin output from a file', async (t) => {
  const dir = await tmpDir(t);
  const { alice } = await makeNodes(dir, ['alice'], { generator: 'pigeon' }); // JSON on one line per value
  const carolCfg = path.join(dir, 'carol.hjson');
  const gen = haveNncp() ? await runNncp('nncp-cfgnew', []) : await runPigeon(['cfgnew']);
  fs.writeFileSync(carolCfg, gen.stdout);
  const min = haveNncp() ? await runNncp('nncp-cfgmin', ['-cfg', carolCfg]) : await runPigeon(['cfgmin', '-cfg', carolCfg]);
  const minFile = path.join(dir, 'carol.min');
  fs.writeFileSync(minFile, min.stdout);
  const r = await runPigeon(['cfgneigh', '-cfg', alice.cfgPath, '-name', 'carol', minFile]);
  t.is(r.code, 0, r.stderr);
  const cfg = await loadConfig({ cfg: alice.cfgPath, env: {} });
  const carol = await loadConfig({ cfg: carolCfg, env: {} });
  t.is(cfg.byName.get('carol')?.idB32, carol.self!.idB32);
  t.deepEqual(cfg.warnings, []);
  // And a file that is not there: one line.
  const gone = await runPigeon(['cfgneigh', '-cfg', alice.cfgPath, '-name', 'dave', path.join(dir, 'nope')]);
  t.regex(gone.stderr, /^pigeon cfgneigh: cannot read .*nope: ENOENT\n$/);
});
