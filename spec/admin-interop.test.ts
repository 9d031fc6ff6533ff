/**
 * pigeon rm, stat and check against nncp-rm, nncp-stat and nncp-check 8.8.2
 * on identical copies of one spool: the same files remain, the same lines
 * are printed, the same packets are found bad, .nock files are settled the
 * same way.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { parseLog } from '../src/log/log.js';
import os from 'node:os';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { age, fileContents, haveNncp, listFiles, ok, put, requireNncp, runNncp, runPigeon, tmpDir, type RunResult } from './helpers/util.js';

const rid = (): string => base32Encode(randomBytes(32));

interface Fixture {
  dir: string;
  alice: TestNode;
  bob: TestNode;
  carol: TestNode;
  /** A template of alice's spool: never run on, only copied. */
  template: string;
  /** Packet ids in alice's rx/ from bob and in her tx/ for bob. */
  rxFromBob: string[];
  txToBob: string[];
}

/**
 * alice's spool with real packets in rx/ (from bob, via nncp-xfer) and tx/
 * (for bob and carol), their hdr/ files, and one of every other kind of
 * file (.part, .nock, seen/, area/, tmp/, locks, strays), some of them
 * dated days back.
 */
async function fixture(t: ExecutionContext, inDir?: string): Promise<Fixture> {
  const dir = inDir ?? (await tmpDir(t));
  const { alice, bob, carol } = await makeNodes(dir, ['alice', 'bob', 'carol']);
  const send = async (from: TestNode, to: TestNode, nice: string, size: number) => {
    const src = path.join(from.dir, `src-${rid()}`);
    fs.writeFileSync(src, randomBytes(size));
    ok(t, 'nncp-file', await runNncp('nncp-file', ['-cfg', from.cfgPath, '-quiet', '-nice', nice, src, `${to.name}:${path.basename(src)}`]));
  };
  await send(alice, bob, 'B', 1000);
  await send(alice, bob, 'P', 150_000);
  await send(alice, carol, 'F', 100);
  await send(bob, alice, 'N', 5000);
  await send(bob, alice, 'N', 70_000);
  await send(bob, alice, 'B+3', 10);
  const stick = path.join(dir, 'stick');
  fs.mkdirSync(stick);
  ok(t, 'nncp-xfer -tx', await runNncp('nncp-xfer', ['-cfg', bob.cfgPath, '-quiet', '-tx', '-mkdir', stick]));
  ok(t, 'nncp-xfer -rx', await runNncp('nncp-xfer', ['-cfg', alice.cfgPath, '-quiet', '-rx', stick]));

  const S = alice.spool;
  const B = bob.idB32;
  const C = carol.idB32;
  const rxFromBob = fs.readdirSync(path.join(S, B, 'rx')).filter((f) => f.length === 52).sort();
  const txToBob = fs.readdirSync(path.join(S, B, 'tx')).filter((f) => f.length === 52).sort();
  t.is(rxFromBob.length, 3);
  t.is(txToBob.length, 2);
  age(path.join(S, B, 'rx', rxFromBob[0]), 10);
  age(path.join(S, B, 'rx', 'hdr', rxFromBob[1]), 10);
  age(path.join(S, B, 'tx', txToBob[0]), 3);
  put(path.join(S, B, 'rx', `${rid()}.part`), randomBytes(3000), 10);
  put(path.join(S, B, 'rx', `${rid()}.part`), randomBytes(30), 0);
  put(path.join(S, B, 'rx', `${rid()}.nock`), randomBytes(300), 0);
  put(path.join(S, B, 'rx', 'stray.txt'), 'stray', 4);
  put(path.join(S, B, 'rx', 'seen', rxFromBob[0]), '', 10);
  put(path.join(S, B, 'rx', 'seen', rid()), '', 0);
  put(path.join(S, C, 'rx', 'seen', rid()), '', 6);
  put(path.join(S, B, 'rx', 'hdr', rid()), randomBytes(172), 2);
  put(path.join(S, B, 'area', rid(), rid()), '', 10);
  put(path.join(S, B, 'area', rid(), rid()), '', 0);
  put(path.join(S, 'tmp', 'nncp18eabfa32c5c5954'), randomBytes(100), 10);
  put(path.join(S, 'tmp', 'nncp18eabfa32c7252dc'), randomBytes(100), 0);
  put(path.join(S, B, 'toss.lock'), '', 10);
  put(path.join(S, C, 'tx.lock'), '', 0);
  const template = path.join(dir, 'template');
  await fs.promises.cp(S, template, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  return { dir, alice, bob, carol, template, rxFromBob, txToBob };
}

// One fixture for all rm cases (its template is only ever copied), made before them.
let shared: Fixture | null = null;
let sharedDir: string | null = null;
test.before(async (t) => {
  if (!haveNncp()) return;
  sharedDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'pigeon-test-'));
  shared = await fixture(t, sharedDir);
});
test.after.always(async () => {
  if (sharedDir) await fs.promises.rm(sharedDir, { recursive: true, force: true });
});

async function copyOf(f: Fixture, name: string): Promise<string> {
  const dst = path.join(f.dir, `${name}-${rid().slice(0, 8)}`);
  await fs.promises.cp(f.template, dst, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
  return dst;
}

/** "File PATH: removed" lines of a run, the spool path replaced, time stamps dropped, sorted. */
function removedLines(stderr: string, spool: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.includes(': removed'))
    .map((l) => l.replace(/^\S+ /, '').split(spool).join('SPOOL'))
    .sort();
}

const rmCases: { args: string[]; stdin?: (f: Fixture) => string }[] = [
  { args: ['-all', '-rx'] },
  { args: ['-node', 'bob', '-tx'] },
  { args: ['-all', '-rx', '-tx', '-older', '5d'] },
  { args: ['-all', '-rx', '-hdr'] },
  { args: ['-node', 'bob', '-tx', '-hdr', '-older', '1h'] },
  { args: ['-all', '-part'] },
  { args: ['-node', 'bob', '-part', '-nock', '-older', '2d'] },
  { args: ['-node', 'bob', '-rx', '-nock'] },
  { args: ['-all', '-seen', '-older', '5d'] },
  { args: ['-all', '-rx', '-seen'] },
  { args: ['-all', '-area', '-older', '1d'] },
  { args: ['-tmp', '-older', '1d'] },
  { args: ['-lock'] },
  { args: ['-all', '-rx', '-dryrun'] },
  { args: ['-all'] },
  { args: ['-all', '-pkt'], stdin: (f) => `${f.rxFromBob[0]}\n${f.bob.idB32}/${f.txToBob[1]}\n\n  ${rid()}\n` },
  { args: ['-node', 'carol', '-pkt'], stdin: (f) => `${f.rxFromBob[0]}\n${f.txToBob[0]}\n` },
  { args: ['-all', '-pkt', '-older', '30d', '-seen'], stdin: (f) => `${f.rxFromBob[0]} ${f.rxFromBob[2]}` },
];

for (const c of rmCases) {
  test(`rm ${c.args.join(' ')}${c.stdin ? ' < ids' : ''}: the same files go as with nncp-rm`, async (t) => {
    if (!requireNncp(t)) return;
    const f = shared!;
    const refSpool = await copyOf(f, 'ref');
    const ourSpool = await copyOf(f, 'our');
    const input = c.stdin?.(f);
    const ref = await runNncp('nncp-rm', ['-cfg', f.alice.cfgPath, '-spool', refSpool, ...c.args], { input, env: { NNCPLOG: `${refSpool}.log` } });
    const our = await runPigeon(['rm', '-cfg', f.alice.cfgPath, '-spool', ourSpool, ...c.args], { input, env: { NNCPLOG: `${ourSpool}.log` } });
    t.is(our.code, ref.code, `exit code; nncp-rm said: ${ref.stderr}\npigeon rm said: ${our.stderr}`);
    t.deepEqual(listFiles(ourSpool, { dirs: true }), listFiles(refSpool, { dirs: true }), 'same files remain');
    t.deepEqual(removedLines(our.stderr, ourSpool), removedLines(ref.stderr, refSpool), 'same files reported');
    const logged = (spool: string): string[] => {
      const p = `${spool}.log`;
      if (!fs.existsSync(p)) return [];
      return parseLog(fs.readFileSync(p, 'utf8'))
        .filter((r) => r.who === 'rm')
        .map((r) => `${r.fields.get('File')} | ${r.fields.get('Msg')}`.split(spool).join('SPOOL'))
        .sort();
    };
    t.deepEqual(logged(ourSpool), logged(refSpool), 'same log records');
  });
}

test('stat prints what nncp-stat prints, with and without -pkt and -node, and makes the same hdr/ files', async (t) => {
  if (!requireNncp(t)) return;
  const f = await fixture(t);
  // A .nock with a real header (a queued packet renamed), as an online transfer leaves it.
  const B = f.bob.idB32;
  const nockSrc = path.join(f.template, B, 'rx', f.rxFromBob[2]);
  fs.copyFileSync(nockSrc, path.join(f.template, B, 'rx', `${rid()}.nock`));
  const spool = await copyOf(f, 'stat');
  for (const args of [[], ['-pkt'], ['-node', 'bob'], ['-pkt', '-node', 'bob'], ['-node', 'self']]) {
    const ref = await runNncp('nncp-stat', ['-cfg', f.alice.cfgPath, '-spool', spool, ...args]);
    const our = await runPigeon(['stat', '-cfg', f.alice.cfgPath, '-spool', spool, ...args]);
    t.is(our.code, ref.code);
    t.is(our.stdout.toString(), ref.stdout.toString(), `stat ${args.join(' ')}`);
    t.true(ref.stdout.length > 0);
  }
  // Without hdr/ files, both recreate the same ones.
  const a = await copyOf(f, 'hdr-ref');
  const b = await copyOf(f, 'hdr-our');
  for (const s of [a, b]) for (const n of [f.bob, f.carol]) for (const xx of ['rx', 'tx']) fs.rmSync(path.join(s, n.idB32, xx, 'hdr'), { recursive: true, force: true });
  const ref = await runNncp('nncp-stat', ['-cfg', f.alice.cfgPath, '-spool', a, '-pkt']);
  const our = await runPigeon(['stat', '-cfg', f.alice.cfgPath, '-spool', b, '-pkt']);
  t.is(our.stdout.toString().split('\n').sort().join('\n'), ref.stdout.toString().split('\n').sort().join('\n'));
  const hdrs = (s: string) => new Map([...fileContents(s)].filter(([k]) => k.includes('/hdr/')));
  const ours = hdrs(b);
  const theirs = hdrs(a);
  t.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
  t.is(ours.size, 6);
  for (const [k, v] of theirs) t.true(ours.get(k)!.equals(v), k);
});

test('check finds the corrupted packet nncp-check finds, with the same log record and exit code', async (t) => {
  if (!requireNncp(t)) return;
  const f = await fixture(t);
  const B = f.bob.idB32;
  const victim = path.join(f.template, B, 'rx', f.rxFromBob[1]);
  const data = fs.readFileSync(victim);
  data[data.length - 100] ^= 0x80;
  fs.writeFileSync(victim, data);
  const a = await copyOf(f, 'chk-ref');
  const b = await copyOf(f, 'chk-our');
  const refLog = path.join(f.dir, 'chk-ref.log');
  const ourLog = path.join(f.dir, 'chk-our.log');
  const ref = await runNncp('nncp-check', ['-cfg', f.alice.cfgPath, '-spool', a, '-log', refLog, '-noprogress']);
  const our = await runPigeon(['check', '-cfg', f.alice.cfgPath, '-spool', b, '-log', ourLog, '-noprogress']);
  t.is(ref.code, 1);
  t.is(our.code, ref.code);
  const recs = (p: string) => parseLog(fs.readFileSync(p, 'utf8')).filter((r) => r.who === 'checking').map((r) => [...r.fields].filter(([k]) => k !== 'When').map(([k, v]) => `${k}=${v}`).join(' '));
  t.deepEqual(recs(ourLog), recs(refLog));
  t.is(recs(ourLog).length, 1);
  t.deepEqual(listFiles(b, { dirs: true }), listFiles(a, { dirs: true }), 'nothing moved or removed');

  // An intact spool: both say 0.
  const c = await copyOf(f, 'chk-ok');
  fs.rmSync(path.join(c, B, 'rx', f.rxFromBob[1]));
  t.is((await runNncp('nncp-check', ['-cfg', f.alice.cfgPath, '-spool', c, '-quiet'])).code, 0);
  t.is((await runPigeon(['check', '-cfg', f.alice.cfgPath, '-spool', c, '-quiet'])).code, 0);
});

test('check -nock settles .nock files as nncp-check -nock does: good ones renamed with hdr/, bad ones kept and reported', async (t) => {
  if (!requireNncp(t)) return;
  const f = await fixture(t);
  const B = f.bob.idB32;
  const rx = path.join(f.template, B, 'rx');
  // Two good .nock files (no hdr/ file, as after an online transfer) and a corrupted one.
  for (const id of [f.rxFromBob[0], f.rxFromBob[2]]) {
    fs.renameSync(path.join(rx, id), path.join(rx, `${id}.nock`));
    fs.rmSync(path.join(rx, 'hdr', id), { force: true });
  }
  const data = fs.readFileSync(path.join(rx, f.rxFromBob[1]));
  fs.rmSync(path.join(rx, f.rxFromBob[1]));
  fs.rmSync(path.join(rx, 'hdr', f.rxFromBob[1]), { force: true });
  data[300] ^= 1;
  fs.writeFileSync(path.join(rx, `${f.rxFromBob[1]}.nock`), data);

  const a = await copyOf(f, 'nock-ref');
  const b = await copyOf(f, 'nock-our');
  const ref = await runNncp('nncp-check', ['-cfg', f.alice.cfgPath, '-spool', a, '-nock', '-noprogress']);
  const our = await runPigeon(['check', '-cfg', f.alice.cfgPath, '-spool', b, '-nock', '-noprogress']);
  t.is(ref.code, 1);
  t.is(our.code, ref.code);
  t.deepEqual(listFiles(b, { dirs: true }), listFiles(a, { dirs: true }), 'same files after settling');
  const ca = fileContents(a);
  const cb = fileContents(b);
  for (const [k, v] of ca) t.true(cb.get(k)!.equals(v), k);
  t.true(cb.has(`${B}/rx/${f.rxFromBob[0]}`) && cb.has(`${B}/rx/hdr/${f.rxFromBob[2]}`) && cb.has(`${B}/rx/${f.rxFromBob[1]}.nock`));
  const lines = (r: RunResult, s: string) => r.stderr.split('\n').filter((l) => l.includes('checksum mismatch')).map((l) => l.replace(/^main\.go:\d+: /, '').split(s).join('SPOOL'));
  t.deepEqual(lines(our, b), lines(ref, a));
  t.is(lines(our, b).length, 1);
});
