/**
 * pigeon toss against nncp-toss 8.8.2 on packets made by the reference
 * (nncp-file, nncp-exec with and without -nocompress, nncp-freq,
 * nncp-file via a relay, nncp-ack, an area message): two identical copies
 * of the receiving node (same keys, same queue), one tossed by each
 * program, must end up the same: incoming files, what stays in rx, what is
 * queued in tx, area markers, exec effects, exit code and log records. What
 * each one queued (freq reply, relayed area message) is opened by the
 * reference on the other side. pigeon's log is read by nncp-log.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseLog, type LogRecord } from '../src/log/log.js';
import { makeNodes, saveNode, type TestNode } from './helpers/nncp.js';
import { fileContents, packetIds, requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

/** Every regular file under `dir` (relative path → content), lock files aside. */
const tree = (dir: string, skip: RegExp = /\.lock$/): Map<string, Buffer> => fileContents(dir, skip);

async function nncp(t: ExecutionContext, bin: string, args: string[], opts: { input?: string | Uint8Array; cwd?: string } = {}): Promise<string> {
  const r = await runNncp(bin, args, opts);
  if (r.code !== 0) t.fail(`${bin} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout.toString('utf8');
}

/** Move every packet of `from`'s tx queue for `to` into `to`'s rx queue from `from` (what xfer does). */
function carry(from: TestNode, to: TestNode): string[] {
  const src = path.join(from.spool, to.idB32, 'tx');
  const dst = path.join(to.spool, from.idB32, 'rx');
  fs.mkdirSync(dst, { recursive: true });
  const ids = packetIds(src);
  for (const id of ids) fs.renameSync(path.join(src, id), path.join(dst, id));
  fs.rmSync(path.join(src, 'hdr'), { recursive: true, force: true });
  return ids;
}

/** A second copy of `node` under DIR/NAME: same keys, its own spool, log, incoming, freq dir; spool and incoming copied. */
function twin(node: TestNode, name: string): TestNode {
  const dir = path.join(path.dirname(node.dir), name);
  const re = (s: string) => s.split(node.dir).join(dir);
  const copy: TestNode = { ...node, name, dir, cfgPath: re(node.cfgPath), spool: re(node.spool), log: re(node.log), incoming: re(node.incoming), freqDir: re(node.freqDir), raw: JSON.parse(re(JSON.stringify(node.raw))) };
  fs.mkdirSync(dir, { recursive: true });
  for (const sub of ['spool', 'incoming', 'pub', 'areain']) {
    const from = path.join(node.dir, sub);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(dir, sub), { recursive: true, verbatimSymlinks: true });
  }
  fs.writeFileSync(copy.cfgPath, JSON.stringify(copy.raw, null, 2));
  return copy;
}

/** Log records without When, paths of `dir` written as "DIR", values that differ by nature (random ids of new packets) masked. */
function normalized(node: TestNode): string[] {
  const text = fs.readFileSync(node.log, 'utf8');
  return parseLog(text)
    .filter((r: LogRecord) => r.who !== 'rx-quarantine') // pigeon's alone (issue 9)
    .map((r: LogRecord) => {
      const f = new Map(r.fields);
      f.delete('When');
      if (r.who === 'tx' && f.get('Type') === 'file') f.set('Pkt', '*'); // the freq reply: a fresh packet
      if (r.who === 'rx-copy') {
        f.set('Err', '*'); // integrity errors are worded differently
        f.set('Tmp', '*'); // and the temporary files named so
      }
      return [...f.entries()].map(([k, v]) => `${k}: ${v.split(node.dir).join('DIR')}`).join('\n');
    })
    .sort();
}

test('pigeon toss and nncp-toss do the same to the same reference-made queue', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const ex = { sh: ['/bin/sh', '-c'] };
  const nodes = await makeNodes(root, ['alice', 'bob', 'carol'], { exec: ex });
  const { alice, bob, carol } = nodes;
  // alice reaches carol through bob; an area "ar" with alice, bob and carol
  const area = (await nncp(t, 'nncp-cfgnew', ['-area', 'ar', '-nocomments'])).match(/id: (\S+)\s+#[^\n]*\n\s*pub: (\S+)\s+prv: (\S+)/)!;
  const keys = { id: area[1], pub: area[2], prv: area[3] };
  alice.raw.neigh.carol.via = ['bob'];
  alice.raw.areas = { ar: { ...keys, subs: ['bob'] } };
  bob.raw.areas = { ar: { ...keys, subs: ['alice', 'carol'], incoming: path.join(bob.dir, 'areain') } };
  carol.raw.areas = { ar: { ...keys, subs: ['bob'], incoming: path.join(carol.dir, 'areain') } };
  for (const n of [alice, bob, carol]) await saveNode(n);

  const a = ['-quiet', '-cfg', alice.cfgPath];
  const src = path.join(root, 'src');
  fs.mkdirSync(src);
  fs.writeFileSync(path.join(src, 'hello.txt'), 'hello\n');
  fs.writeFileSync(path.join(src, 'big.bin'), randomBytes(300_000));
  fs.writeFileSync(path.join(bob.incoming, 'exists.txt'), 'old');
  fs.writeFileSync(path.join(bob.freqDir, 'pub.txt'), 'public data');
  await nncp(t, 'nncp-file', [...a, path.join(src, 'hello.txt'), 'bob:hello.txt']);
  await nncp(t, 'nncp-file', [...a, path.join(src, 'big.bin'), 'bob:sub/dir/big.bin']);
  await nncp(t, 'nncp-file', [...a, path.join(src, 'hello.txt'), 'bob:exists.txt']);
  await nncp(t, 'nncp-file', [...a, path.join(src, 'hello.txt'), 'bob:../evil.txt']);
  const body = randomBytes(200_000);
  await nncp(t, 'nncp-exec', [...a, '-replynice', '77', 'bob', 'sh', 'cat > exec.out; env | grep ^NNCP_ | sort > env.out; echo "$@" > args.out', 'one', 'two'], { input: body });
  await nncp(t, 'nncp-exec', [...a, '-nocompress', 'bob', 'sh', 'cat > fat.out'], { input: body });
  await nncp(t, 'nncp-exec', [...a, 'bob', 'sh', 'echo failing; exit 2'], { input: 'x' });
  await nncp(t, 'nncp-exec', [...a, 'bob', 'nohandle', 'arg'], { input: 'x' });
  await nncp(t, 'nncp-freq', [...a, 'bob:pub.txt', 'got.txt']);
  await nncp(t, 'nncp-freq', [...a, 'bob:../cfg.hjson', 'stolen.txt']);
  carry(alice, bob);
  // a packet corrupted on the way: its second block fails authentication
  await nncp(t, 'nncp-file', [...a, path.join(src, 'big.bin'), 'bob:tampered.bin']);
  const [tampered] = carry(alice, bob);
  const tp = path.join(bob.spool, alice.idB32, 'rx', tampered);
  const tb = fs.readFileSync(tp);
  tb[200_000] ^= 1;
  fs.writeFileSync(tp, tb);
  // a relayed file for carol
  await nncp(t, 'nncp-file', [...a, path.join(src, 'hello.txt'), 'carol:relayed.txt']);
  carry(alice, bob);
  // an area message, made by alice's own toss of her self queue, as the manual describes
  await nncp(t, 'nncp-file', [...a, path.join(src, 'hello.txt'), 'area:ar:news.txt']);
  await nncp(t, 'nncp-toss', [...a, '-node', 'self']);
  carry(alice, bob);
  // bob's packet to alice, acknowledged by alice
  await nncp(t, 'nncp-file', ['-quiet', '-cfg', bob.cfgPath, path.join(src, 'hello.txt'), 'alice:fromb.txt']);
  const bobsPkt = packetIds(path.join(bob.spool, alice.idB32, 'tx'));
  t.is(bobsPkt.length, 1);
  fs.mkdirSync(path.join(alice.spool, bob.idB32, 'rx'), { recursive: true });
  fs.copyFileSync(path.join(bob.spool, alice.idB32, 'tx', bobsPkt[0]), path.join(alice.spool, bob.idB32, 'rx', bobsPkt[0]));
  await nncp(t, 'nncp-ack', [...a, '-node', 'bob']);
  carry(alice, bob);

  const queued = packetIds(path.join(bob.spool, alice.idB32, 'rx'));
  t.is(queued.length, 14);

  // two copies of bob: P tossed by pigeon, N by the reference, each in its own directory (exec outputs land there)
  const P = twin(bob, 'bobP');
  const N = twin(bob, 'bobN');
  const rp = await runPigeon(['toss', '-quiet', '-cfg', P.cfgPath], { cwd: P.dir });
  const rn = await runNncp('nncp-toss', ['-quiet', '-cfg', N.cfgPath], { cwd: N.dir });
  t.is(rp.code, rn.code, `pigeon: ${rp.stderr}\nnncp: ${rn.stderr}`);
  t.is(rp.code, 1);

  // incoming trees, area incoming, exec effects
  // (the reference leaves the temporary file of the tampered packet behind in incoming; pigeon removes it)
  const leftover = /(^|\/)nncp(file)?[0-9a-f]+$/;
  t.deepEqual([...tree(path.join(N.dir, 'incoming')).keys()].filter((k) => leftover.test(k)).length, 1);
  for (const sub of ['incoming', 'areain']) t.deepEqual(tree(path.join(P.dir, sub)), tree(path.join(N.dir, sub), leftover), sub);
  t.deepEqual([...tree(path.join(P.dir, 'incoming')).keys()].sort(), ['exists.txt', 'exists.txt.0', 'hello.txt', 'sub/dir/big.bin']);
  for (const f of ['exec.out', 'fat.out', 'env.out', 'args.out']) t.deepEqual(fs.readFileSync(path.join(P.dir, f)), fs.readFileSync(path.join(N.dir, f)), f);
  t.deepEqual(fs.readFileSync(path.join(P.dir, 'exec.out')), body);
  t.is(fs.readFileSync(path.join(P.dir, 'env.out'), 'utf8'), `NNCP_NICE=77\nNNCP_SELF=${bob.idB32}\nNNCP_SENDER=${alice.idB32}\n`);

  // what stays in rx, what is queued in tx, area markers
  // (issue 9: pigeon quarantines the tampered packet, the reference keeps it queued)
  const rxP = packetIds(path.join(P.spool, alice.idB32, 'rx'));
  t.deepEqual(rxP, packetIds(path.join(N.spool, alice.idB32, 'rx')).filter((id) => id !== tampered));
  t.is(rxP.length, 4, 'kept: ../evil.txt, failing exec, unknown handle, freq escape');
  t.true(packetIds(path.join(N.spool, alice.idB32, 'rx')).includes(tampered));
  t.true(fs.existsSync(path.join(P.spool, alice.idB32, 'rx', 'quarantine', tampered)));
  t.deepEqual(packetIds(path.join(P.spool, alice.idB32, 'tx')).length, 1, 'the freq reply; the acknowledged packet is gone');
  t.deepEqual(packetIds(path.join(N.spool, alice.idB32, 'tx')).length, 1);
  t.false(packetIds(path.join(P.spool, alice.idB32, 'tx')).includes(bobsPkt[0]));
  const toCarolP = packetIds(path.join(P.spool, carol.idB32, 'tx'));
  const toCarolN = packetIds(path.join(N.spool, carol.idB32, 'tx'));
  t.is(toCarolP.length, 2, 'the relayed packet and the area echo');
  t.is(toCarolN.length, 2);
  t.is(toCarolP.filter((id) => toCarolN.includes(id)).length, 1, 'the relayed packet is the same bytes, so the same id');
  const markers = (n: TestNode) => [...tree(n.spool).keys()].filter((k) => k.includes('/area/')).sort();
  t.deepEqual(markers(P), markers(N));
  t.is(markers(P).length, 3);

  // log records
  t.deepEqual(normalized(P), normalized(N));

  // nncp-log reads pigeon's log
  const lp = await runNncp('nncp-log', ['-cfg', P.cfgPath, '-log', P.log]);
  const ln = await runNncp('nncp-log', ['-cfg', N.cfgPath, '-log', N.log]);
  t.is(lp.code, 0);
  const strip = (s: string, dir: string) =>
    s.trim().split('\n').map((l) => l.replace(/^\S+ /, '').replace(/(copying): .*$/, '$1').split(dir).join('DIR')).sort();
  t.deepEqual(strip(lp.stdout.toString(), P.dir).filter((l) => !l.includes('never to be tossed again')), strip(ln.stdout.toString(), N.dir));

  // the other side opens what pigeon queued: alice gets the freq reply, carol the relayed file and the area echo
  for (const [owner, to] of [[P, alice], [P, carol]] as const) {
    const dst = path.join(to.spool, bob.idB32, 'rx');
    fs.mkdirSync(dst, { recursive: true });
    for (const id of packetIds(path.join(owner.spool, to.idB32, 'tx'))) fs.copyFileSync(path.join(owner.spool, to.idB32, 'tx', id), path.join(dst, id));
  }
  await nncp(t, 'nncp-toss', ['-quiet', '-cfg', alice.cfgPath]);
  t.is(fs.readFileSync(path.join(alice.incoming, 'got.txt'), 'utf8'), 'public data');
  await nncp(t, 'nncp-toss', ['-quiet', '-cfg', carol.cfgPath]);
  t.is(fs.readFileSync(path.join(carol.incoming, 'relayed.txt'), 'utf8'), 'hello\n');
  t.is(fs.readFileSync(path.join(carol.dir, 'areain', 'news.txt'), 'utf8'), 'hello\n');
});

test('our own area queue (self tx), tossed by pigeon -node self, makes packets the subscribers open', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const nodes = await makeNodes(root, ['alice', 'bob']);
  const { alice, bob } = nodes;
  const area = (await nncp(t, 'nncp-cfgnew', ['-area', 'ar', '-nocomments'])).match(/id: (\S+)\s+#[^\n]*\n\s*pub: (\S+)\s+prv: (\S+)/)!;
  const keys = { id: area[1], pub: area[2], prv: area[3] };
  alice.raw.areas = { ar: { ...keys, subs: ['bob'], incoming: path.join(alice.dir, 'areain') } };
  bob.raw.areas = { ar: { ...keys, subs: ['alice'], incoming: path.join(bob.dir, 'areain') } };
  for (const n of [alice, bob]) await saveNode(n);
  fs.writeFileSync(path.join(root, 'news.txt'), 'news');
  await nncp(t, 'nncp-file', ['-quiet', '-cfg', alice.cfgPath, path.join(root, 'news.txt'), 'area:ar:news.txt']);
  const selfTx = path.join(alice.spool, alice.idB32, 'tx');
  t.is(packetIds(selfTx).length, 1);
  const r = await runPigeon(['toss', '-quiet', '-cfg', alice.cfgPath, '-node', 'self']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(packetIds(selfTx), [], 'the message to ourselves is gone: we authored it (seen)');
  t.false(fs.existsSync(path.join(alice.dir, 'areain', 'news.txt')), 'not delivered to ourselves');
  t.is(packetIds(path.join(alice.spool, bob.idB32, 'tx')).length, 1);
  carry(alice, bob);
  await nncp(t, 'nncp-toss', ['-quiet', '-cfg', bob.cfgPath]);
  t.is(fs.readFileSync(path.join(bob.dir, 'areain', 'news.txt'), 'utf8'), 'news');
  t.deepEqual(packetIds(path.join(bob.spool, alice.idB32, 'tx')), [], 'bob does not echo it back to its author');
});
