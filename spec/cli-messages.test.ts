/**
 * What the command line says to a person who got something wrong (issue 12,
 * "Messages"): one line for a mistyped flag or command (with the nearest
 * real one), help from the same flag tables the parsers read, no silent
 * successes, unknown configuration keys with the nearest known one, exec
 * packets that cannot run, permission errors, stray names on a medium.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { commands } from '../cmd/commands.js';
import { record } from '../cmd/fastparse.js';
import { errorLine } from '../src/errors.js';
import { nearest } from '../src/format.js';
import { makeNodes, saveNode, type TestNode } from './helpers/nncp.js';
import { fakePacket } from './helpers/packets.js';
import { haveNncp, logRecords, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

test('nearest: edit distance (a swap counts one), a unique prefix, nothing when far', (t) => {
  t.is(nearest('nicee', ['nice', 'node', 'noprogress']), 'nice');
  t.is(nearest('fiel', ['file', 'freq', 'exec']), 'file');
  t.is(nearest('incomming', ['incoming', 'exec', 'freq']), 'incoming');
  t.is(nearest('prog', ['progress', 'noprogress']), 'progress');
  t.is(nearest('nosuchflag', ['nice', 'node', 'noprogress']), undefined);
  t.is(nearest('x', ['via', 'exec']), undefined);
});

test('a mistyped flag: one line naming the command, the flag as typed and the nearest one; exit 2 as Go', async (t) => {
  const r = await runPigeon(['file', '-nicee', 'B', 'a', 'bob:']);
  t.is(r.code, 2);
  t.deepEqual(lines(r.stderr), ['pigeon file: unknown flag -nicee (did you mean -nice?); pigeon file -h lists the flags']);
  const dd = await runPigeon(['toss', '--dryrn']);
  t.deepEqual(lines(dd.stderr), ['pigeon toss: unknown flag --dryrn (did you mean -dryrun?); pigeon toss -h lists the flags']);
  const far = await runPigeon(['stat', '-zzzzzz=1']);
  t.is(far.code, 2);
  t.deepEqual(lines(far.stderr), ['pigeon stat: unknown flag -zzzzzz; pigeon stat -h lists the flags']);
  // exec reads its own flags (Go's way) and says the same.
  const ex = await runPigeon(['exec', '-noocompress', 'bob', 'cat']);
  t.is(ex.code, 2);
  t.deepEqual(lines(ex.stderr), ['pigeon exec: unknown flag -noocompress (did you mean -nocompress?); pigeon exec -h lists the flags']);
  if (haveNncp()) t.is((await runNncp('nncp-file', ['-nicee', 'B', 'a', 'bob:'])).code, r.code, 'the reference exits 2 too');
});

test('an unknown command names the nearest one; pigeon help CMD is pigeon CMD -h', async (t) => {
  const r = await runPigeon(['fiel', 'a', 'b:']);
  t.is(r.code, 2);
  t.deepEqual(lines(r.stderr), ['pigeon: unknown command fiel (did you mean file?)']);
  const far = await runPigeon(['frobnicate']);
  t.deepEqual(lines(far.stderr), ['pigeon: unknown command frobnicate; pigeon -h lists the commands']);
  const h = await runPigeon(['help', 'toss']);
  t.is(h.code, 0);
  t.is(h.stdout.toString(), (await runPigeon(['toss', '-h'])).stdout.toString());
  const hh = await runPigeon(['help', 'tos']);
  t.deepEqual(lines(hh.stderr), ['pigeon: unknown command tos (did you mean toss?)']);
  const top = await runPigeon(['help']);
  t.is(top.code, 0);
  for (const c of commands) t.regex(top.stdout.toString(), new RegExp(`^  pigeon ${c.name} `, 'm'));
});

test('help: Go-style flags with their value type and default, a synopsis, -version/-warranty, what niceness means', async (t) => {
  const out = (await runPigeon(['file', '-h'])).stdout.toString();
  t.regex(out, /^Usage: pigeon file \[flags\] SRC NODE:\[DST\]$/m);
  t.regex(out, /^  -cfg string$/m);
  t.regex(out, /^  -nice string\n\s+Outbound packet niceness \(default "B"\)$/m);
  t.regex(out, /^  -chunked int$/m);
  t.regex(out, /^  -version$/m);
  t.regex(out, /^  -warranty$/m);
  t.notRegex(out, /^\s+--\w/m, 'no GNU-style --flags');
  t.regex(out, /Niceness: a number from 1 to 255, lower is more urgent/);
  t.regex(out, /B or BULK \(224\)/);
  t.notRegex((await runPigeon(['stat', '-h'])).stdout.toString(), /Niceness:/, 'only commands with a niceness flag explain it');
});

test('every command\'s help lists exactly the flags its parser takes', async (t) => {
  for (const c of commands) {
    if (c.name === 'fspl') continue; // GNU-style, its own help
    const mod = await c.load();
    const rec = record(String(mod.command), mod.builder);
    const out = (await runPigeon([c.name, '-h'])).stdout.toString();
    const shown = [...out.matchAll(/^  -([a-z0-9-]+)/gm)].map((m) => m[1]).sort();
    t.deepEqual(shown, [...rec.options.keys(), 'h', 'version', 'warranty'].sort(), c.name);
  }
});

test('-cfg without a value: one line, exit 2 as the reference', async (t) => {
  const r = await runPigeon(['stat', '-cfg']);
  t.is(r.code, 2);
  t.deepEqual(lines(r.stderr), ['pigeon stat: flag -cfg needs a value after it (-cfg VALUE or -cfg=VALUE); pigeon stat -h lists the flags']);
  const swallowed = await runPigeon(['stat', '-cfg', '-quiet']);
  t.is(swallowed.code, 2);
  t.regex(swallowed.stderr, /^pigeon stat: flag -cfg needs a value/);
  if (haveNncp()) t.is((await runNncp('nncp-stat', ['-cfg'])).code, 2);
  const missing = await runPigeon(['file', 'a']);
  t.is(missing.code, 2);
  t.deepEqual(lines(missing.stderr), ['pigeon file: missing TARGET (usage: pigeon file [flags] SRC NODE:[DST]); pigeon file -h lists the flags']);
});

async function two(t: import('ava').ExecutionContext): Promise<{ dir: string; alice: TestNode; bob: TestNode }> {
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'pigeon' });
  return { dir, alice, bob };
}

test('no silent successes: xfer on a missing DIR or without the node directory, toss on a missing spool, caller with no calls', async (t) => {
  const { dir, alice, bob } = await two(t);
  const gone = path.join(dir, 'not-mounted');
  const x = await runPigeon(['xfer', '-cfg', alice.cfgPath, gone]);
  t.is(x.code, 0, 'exit code as the reference: 0');
  t.deepEqual(lines(x.stderr), [`pigeon xfer: ${gone} does not exist: nothing received or sent; is the medium mounted? (-mkdir creates node directories on it, never DIR itself)`]);
  t.false(fs.existsSync(gone));
  if (haveNncp()) t.is((await runNncp('nncp-xfer', ['-cfg', alice.cfgPath, gone])).code, 0);

  const medium = path.join(dir, 'stick');
  fs.mkdirSync(medium);
  const pkt = fakePacket(alice.idB32, bob.idB32, 224, 100);
  fs.mkdirSync(path.join(alice.spool, bob.idB32, 'tx'), { recursive: true });
  fs.writeFileSync(path.join(alice.spool, bob.idB32, 'tx', pkt.id), pkt.data);
  const tx = await runPigeon(['xfer', '-cfg', alice.cfgPath, '-tx', medium]);
  t.is(tx.code, 0);
  t.deepEqual(lines(tx.stderr), [
    `pigeon xfer: 1 packet(s) for bob stay queued: ${path.join(medium, bob.idB32)} does not exist; pass -mkdir to create it (bob reads the medium with pigeon xfer -rx or nncp-xfer -rx)`,
  ]);
  t.deepEqual(fs.readdirSync(medium), []);
  t.is((await runPigeon(['xfer', '-cfg', alice.cfgPath, '-tx', '-quiet', medium])).stderr, '', '-quiet keeps it quiet');

  const spool = path.join(dir, 'typo-spool');
  const toss = await runPigeon(['toss', '-cfg', alice.cfgPath, '-spool', spool]);
  t.is(toss.code, 0);
  t.deepEqual(lines(toss.stderr), [`pigeon toss: spool ${spool} does not exist: nothing to toss; check -spool, $NNCPSPOOL or the spool key of ${alice.cfgPath}`]);

  const caller = await runPigeon(['caller', '-cfg', alice.cfgPath], { timeout: 20_000 });
  t.is(caller.code, 0);
  t.deepEqual(lines(caller.stderr), [
    `pigeon caller: no neighbour has calls in ${alice.cfgPath}: nothing to do; add neigh.NODE.calls (e.g. calls: [{cron: "*/10 * * * *"}]) or use pigeon call NODE`,
  ]);
});

test('an unknown configuration key warns on every command that loads the configuration, with the nearest known key', async (t) => {
  const { alice } = await two(t);
  alice.raw.neigh.bob.incomming = '/typo';
  await saveNode(alice);
  const warning = `pigeon: warning: ${alice.cfgPath}: neigh.bob.incomming: unknown key, ignored (did you mean incoming?)`;
  for (const args of [['stat'], ['toss'], ['log'], ['rm', '-tmp'], ['check']]) {
    const r = await runPigeon([...args, '-cfg', alice.cfgPath]);
    t.true(lines(r.stderr).includes(warning), `${args[0]}: ${r.stderr}`);
  }
  const pkt = await runPigeon(['pkt', '-cfg', alice.cfgPath], { input: fakePacket(alice.idB32, alice.idB32, 96, 10).data });
  t.true(lines(pkt.stderr).includes(warning), pkt.stderr);
});

test('an exec packet with an unknown handle, or one whose program is missing, says which handles exist and how to retry or remove it', async (t) => {
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'pigeon', exec: { cat: ['/bin/cat'], gone: ['/nonexistent/zfs-recv'] } });
  for (const handle of ['nohandle', 'gone']) {
    const sent = await runPigeon(['exec', '-cfg', alice.cfgPath, '-quiet', 'bob', handle], { input: 'x' });
    t.is(sent.code, 0, sent.stderr);
  }
  const txDir = path.join(alice.spool, bob.idB32, 'tx');
  const rxDir = path.join(bob.spool, alice.idB32, 'rx');
  fs.mkdirSync(rxDir, { recursive: true });
  const ids = fs.readdirSync(txDir).filter((n) => n.length === 52);
  for (const id of ids) fs.copyFileSync(path.join(txDir, id), path.join(rxDir, id));
  const r = await runPigeon(['toss', '-cfg', bob.cfgPath]);
  t.is(r.code, 1);
  const noHandle = lines(r.stderr).find((l) => l.includes('No handle found'));
  t.truthy(noHandle, r.stderr);
  const id1 = /alice\/([A-Z2-7]{52})/.exec(noHandle!)![1];
  t.true(
    noHandle!.endsWith(`: nohandle: No handle found (alice may use: cat, gone; to accept it, add "nohandle" to neigh.alice.exec in ${bob.cfgPath}, then run pigeon toss again; or remove the packet: echo ${id1} | pigeon rm -node alice -pkt)`),
    noHandle,
  );
  const gone = lines(r.stderr).find((l) => l.includes(': gone: handling'));
  t.truthy(gone, r.stderr);
  t.regex(gone!, /\(\/nonexistent\/zfs-recv not found: install it or fix neigh\.alice\.exec\.gone in .*, then run pigeon toss again; or remove the packet: echo [A-Z2-7]{52} \| pigeon rm -node alice -pkt\)$/);
  // The log keeps the reference's record: the hint is for people.
  const rec = logRecords(bob.log).find((x) => x.who === 'rx-no-handle');
  t.is(rec?.fields.get('Err'), 'No handle found');
  // The advice works.
  const rm = await runPigeon(['rm', '-cfg', bob.cfgPath, '-node', 'alice', '-pkt'], { input: `${id1}\n` });
  t.is(rm.code, 0, rm.stderr);
  t.false(fs.existsSync(path.join(rxDir, id1)));
});

test('a permission error names the path once, who owns it, and what to do', async (t) => {
  const dir = await tmpDir(t);
  const spool = path.join(dir, 'spool');
  fs.mkdirSync(spool);
  const err = Object.assign(new Error('denied'), { code: 'EACCES', syscall: 'open', path: path.join(spool, 'x', 'y') });
  const uid = process.getuid?.() ?? 0;
  const me = execFileSync('id', ['-un']).toString().trim();
  t.is(errorLine(err), `open ${err.path}: EACCES (permission denied; ${spool} is ours (${me}): check its mode, e.g. chmod u+rwX)`);
  if (uid !== 0) return;
  fs.chownSync(spool, 65534, 65534);
  const nobody = execFileSync('id', ['-nu', '65534']).toString().trim();
  const line = errorLine(err);
  t.is(line, `open ${err.path}: EACCES (permission denied; ${spool} belongs to ${nobody}, this runs as ${me}: run as ${nobody} (sudo -u ${nobody} pigeon ...) or give the spool to this user)`);
  t.is(line.split(spool).length - 1, 2, 'the path, then the directory that exists');
});

test('names on a medium that are not packets are logged only with -debug', async (t) => {
  const { dir, alice, bob } = await two(t);
  const medium = path.join(dir, 'stick');
  const senderDir = path.join(medium, alice.idB32, bob.idB32);
  fs.mkdirSync(senderDir, { recursive: true });
  fs.writeFileSync(path.join(senderDir, 'README.txt'), 'stray');
  fs.writeFileSync(path.join(medium, alice.idB32, 'notes'), 'stray');
  const r = await runPigeon(['xfer', '-cfg', alice.cfgPath, '-rx', medium]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  t.deepEqual(fs.existsSync(alice.log) ? logRecords(alice.log).filter((x) => x.who === 'xfer-rx-not-packet') : [], []);
  const d = await runPigeon(['xfer', '-cfg', alice.cfgPath, '-rx', '-debug', medium]);
  t.regex(d.stderr, /README\.txt: not a packet name, skipped/);
  t.regex(d.stderr, /notes: not a sender directory/);
  t.true(fs.existsSync(path.join(senderDir, 'README.txt')), 'left on the medium');
});

test('exec: a -h after NODE HANDLE belongs to the remote handle, not to help', async (t) => {
  const { alice, bob } = await two(t);
  const r = await runPigeon(['exec', '-cfg', alice.cfgPath, '-quiet', 'bob', 'cat', '-h'], { input: 'x' });
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.length, 0, 'no help printed');
  t.is(fs.readdirSync(path.join(alice.spool, bob.idB32, 'tx')).filter((n) => n.length === 52).length, 1, 'one packet queued');
});
