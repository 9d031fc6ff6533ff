/**
 * Keys and configurations made by `pigeon cfgnew` work in the reference
 * NNCP, and `pigeon cfgmin` prints what `nncp-cfgmin` prints.
 *
 * The file transfer proves the keys end to end: nncp-file on the sender
 * signs with our signprv and encrypts to our exchpub; nncp-toss on the
 * receiver decrypts with our exchprv and verifies the sender's signpub.
 * The online call proves the noise keypair the same way.
 */
import test from 'ava';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeNodes, saveNode, type TestNode } from './helpers/nncp.js';
import { freePort, listening, requireNncp, runNncp, runPigeon, startNncp, tmpDir } from './helpers/util.js';

async function ok(what: string, p: Promise<{ code: number; stdout: Buffer; stderr: string }>): Promise<string> {
  const res = await p;
  if (res.code !== 0) throw new Error(`${what} exited ${res.code}: ${res.stderr.trim()}`);
  return res.stdout.toString('utf8');
}

/** Send SRC from `from` to `to` with nncp-file, carry it with nncp-xfer, toss it with nncp-toss. */
async function fileThroughXfer(dir: string, from: TestNode, to: TestNode, content: string, dst: string): Promise<string> {
  const src = path.join(dir, `src-${from.name}-${to.name}`);
  await writeFile(src, content);
  await ok('nncp-file', runNncp('nncp-file', ['-quiet', '-cfg', from.cfgPath, src, `${to.name}:${dst}`]));
  const xfer = path.join(dir, `xfer-${from.name}-${to.name}`);
  await mkdir(xfer);
  await ok('nncp-xfer -mkdir', runNncp('nncp-xfer', ['-quiet', '-cfg', from.cfgPath, '-mkdir', xfer]));
  await ok('nncp-xfer -rx', runNncp('nncp-xfer', ['-quiet', '-cfg', to.cfgPath, '-rx', xfer]));
  await ok('nncp-toss', runNncp('nncp-toss', ['-quiet', '-cfg', to.cfgPath]));
  return readFile(path.join(to.incoming, dst), 'utf8');
}

test('nncp sends a file between two nodes whose keys pigeon cfgnew made', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, ['alice', 'bob'], { generator: 'pigeon' });
  t.is(await fileThroughXfer(dir, nodes.alice, nodes.bob, 'hello bob\n', 'greeting.txt'), 'hello bob\n');
  t.is(await fileThroughXfer(dir, nodes.bob, nodes.alice, 'hello alice\n', 'reply.txt'), 'hello alice\n');
});

test('mixed: a pigeon-made node and an nncp-made node exchange files', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, ['pig', 'ref'], { generator: { pig: 'pigeon', ref: 'nncp' } });
  t.is(await fileThroughXfer(dir, nodes.ref, nodes.pig, 'to pigeon', 'a'), 'to pigeon');
  t.is(await fileThroughXfer(dir, nodes.pig, nodes.ref, 'to nncp', 'b'), 'to nncp');
});

test('nncp-call to nncp-daemon authenticates with noise keys pigeon cfgnew made', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, ['alice', 'bob'], { generator: 'pigeon' });
  const src = path.join(dir, 'payload');
  await writeFile(src, 'over the wire\n');
  await ok('nncp-file', runNncp('nncp-file', ['-quiet', '-cfg', nodes.alice.cfgPath, src, 'bob:wire.txt']));
  const port = await freePort();
  const daemon = startNncp(t, 'nncp-daemon', ['-quiet', '-cfg', nodes.bob.cfgPath, '-bind', `127.0.0.1:${port}`]);
  await listening(port, 10_000);
  const call = await runNncp('nncp-call', ['-quiet', '-cfg', nodes.alice.cfgPath, '-onlinedeadline', '1', 'bob', `127.0.0.1:${port}`], { timeout: 30_000 });
  t.is(call.code, 0, `nncp-call: ${call.stderr.trim()} / daemon: ${daemon.stderr().trim()}`);
  await ok('nncp-toss', runNncp('nncp-toss', ['-quiet', '-cfg', nodes.bob.cfgPath]));
  t.is(await readFile(path.join(nodes.bob.incoming, 'wire.txt'), 'utf8'), 'over the wire\n');
});

test('nncp-cfgmin reads pigeon cfgnew output, and pigeon cfgmin prints the same bytes', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  for (const args of [['cfgnew'], ['cfgnew', '-nocomments']]) {
    const file = path.join(dir, `${args.length}.hjson`);
    await writeFile(file, await ok('pigeon cfgnew', runPigeon(args)));
    const theirs = await ok('nncp-cfgmin', runNncp('nncp-cfgmin', ['-cfg', file]));
    const ours = await ok('pigeon cfgmin', runPigeon(['cfgmin', '-cfg', file]));
    t.is(ours, theirs);
    t.regex(theirs, /self: null/);
  }
});

test('pigeon cfgmin equals nncp-cfgmin on nncp-made configurations', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  // The reference's own template, straight from nncp-cfgnew.
  const tpl = path.join(dir, 'tpl.hjson');
  await writeFile(tpl, await ok('nncp-cfgnew', runNncp('nncp-cfgnew', [])));
  t.is(await ok('pigeon cfgmin', runPigeon(['cfgmin', '-cfg', tpl])), await ok('nncp-cfgmin', runNncp('nncp-cfgmin', ['-cfg', tpl])));

  // Several neighbours, one without noisepub, names that need quoting or
  // sort differently by bytes than by numbers, odd spool and log strings.
  const names = ['alice', 'bob node', 'x:y', '10', '9', 'Zed', 'a#b', 'true', 'ünï'];
  const nodes = await makeNodes(dir, names, { generator: 'nncp' });
  const node = nodes.alice;
  delete node.raw.neigh['9'].noisepub;
  node.raw.spool = '/var/spool/nncp x#';
  node.raw.log = "/var/log/it's \"here\"";
  await saveNode(node);
  const theirs = await ok('nncp-cfgmin', runNncp('nncp-cfgmin', ['-cfg', node.cfgPath]));
  t.is(await ok('pigeon cfgmin', runPigeon(['cfgmin', '-cfg', node.cfgPath])), theirs);

  // $NNCPSPOOL and $NNCPLOG show through in both.
  const env = { NNCPSPOOL: '/elsewhere', NNCPLOG: '/elsewhere/log' };
  const theirsEnv = await ok('nncp-cfgmin', runNncp('nncp-cfgmin', ['-cfg', node.cfgPath], { env }));
  t.is(await ok('pigeon cfgmin', runPigeon(['cfgmin', '-cfg', node.cfgPath], { env })), theirsEnv);
  t.regex(theirsEnv, /spool: \/elsewhere\n/);
});

test('pigeon cfgnew -area and -yggdrasil print what the reference accepts', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const base = await ok('nncp-cfgnew', runNncp('nncp-cfgnew', ['-nocomments']));
  for (const args of [['-area', 'echo'], ['-area', 'echo', '-nocomments']]) {
    const area = await ok('pigeon cfgnew -area', runPigeon(['cfgnew', ...args]));
    const file = path.join(dir, `area${args.length}.hjson`);
    await writeFile(file, base.replace(/\n}\n$/, '\n' + area + '}\n'));
    await ok('nncp-cfgmin', runNncp('nncp-cfgmin', ['-cfg', file]));
    // nncp-cfgdir dumps the area, so the reference parsed its keys.
    const dump = path.join(dir, `dump${args.length}`);
    await ok('nncp-cfgdir', runNncp('nncp-cfgdir', ['-cfg', file, '-dump', dump]));
    const pub = (await readFile(path.join(dump, 'areas', 'echo', 'pub'), 'utf8')).trim();
    t.true(area.includes(`pub: ${pub}\n`));
  }
  const ygg = await ok('pigeon cfgnew -yggdrasil', runPigeon(['cfgnew', '-yggdrasil']));
  t.regex(ygg, /^Public: [0-9a-f]{64}\nPrivate: [0-9a-f]{128}\n$/);
});

test('pigeon cfgnew prints the reference layout, keys aside', async (t) => {
  if (!requireNncp(t)) return;
  const mask = (s: string) => s.replace(/\b[A-Z2-7]{52}\b|\b[A-Z2-7]{103}\b/g, 'KEY').replace(/\b[0-9a-f]{64}\b|\b[0-9a-f]{128}\b/g, 'HEX');
  for (const args of [[], ['-nocomments'], ['-area', 'echo'], ['-area', 'echo', '-nocomments'], ['-yggdrasil']]) {
    const ours = await ok('pigeon cfgnew', runPigeon(['cfgnew', ...args]));
    const theirs = await ok('nncp-cfgnew', runNncp('nncp-cfgnew', args));
    t.not(ours, theirs, 'fresh keys each time');
    t.is(mask(ours), mask(theirs), `cfgnew ${args.join(' ')}`);
  }
});
