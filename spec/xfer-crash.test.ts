/**
 * xfer -tx killed at named points (PIGEON_KILLPOINT, src/killpoint.ts),
 * then run again: the packet ends up on the medium exactly once, verified
 * (its MTH is its name), dequeued, with no temporary file left behind; and
 * the reference (nncp-xfer -rx, nncp-toss) takes it from there. Also: a
 * copy already on the medium that fails verification is replaced, one that
 * passes is counted as carried, and temporary files left by a killed run
 * (ours or nncp-xfer's) are swept, and nothing else is.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { mthOfFile } from '../src/crypto/mth.js';
import { xferTx } from '../src/xfer/xfer.js';
import { capturingContext, lab, type Lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { haveNncp, listFiles, logRecords, ok, runNncp, runPigeon } from './helpers/util.js';

/** Packets of four 512 KiB copy steps and a bit: every kill point is reached, "copying" with a partial file. */
const SIZE = (2 << 20) + 12345;

interface Setup {
  l: Lab;
  medium: string;
  /** DIR/bob/<alice>/ on the medium. */
  dst: string;
  /** The queued packet: its id, its bytes, and the file it carries. */
  pkt: { id: string; bytes: Buffer; payload: Buffer };
}

async function setup(t: ExecutionContext): Promise<Setup> {
  const l = await lab(t, ['alice', 'bob']);
  const medium = path.join(l.dir, 'stick');
  fs.mkdirSync(medium);
  const q = await queueFile(l.ctx.alice, 'bob', 'payload.bin', SIZE);
  const bytes = fs.readFileSync(l.ctx.alice.spool.packetPath(l.nodes.bob.idB32, 'tx', q.id));
  return { l, medium, dst: path.join(medium, l.nodes.bob.idB32, l.nodes.alice.idB32), pkt: { id: q.id, bytes, payload: q.data } };
}

const xferTxCli = (s: Setup, env?: NodeJS.ProcessEnv, ...flags: string[]) =>
  runPigeon(['xfer', '-cfg', s.l.nodes.alice.cfgPath, '-noprogress', '-tx', '-mkdir', ...flags, s.medium], { env });

function queued(s: Setup): string[] {
  const tx = path.join(s.l.nodes.alice.spool, s.l.nodes.bob.idB32, 'tx');
  return fs.existsSync(tx) ? listFiles(tx) : [];
}

/** Exactly the packet on the medium (besides `others`), intact, and nothing left queued. */
async function carriedOnce(t: ExecutionContext, s: Setup, others: string[] = []): Promise<void> {
  t.deepEqual(fs.readdirSync(s.dst).sort(), [s.pkt.id, ...others].sort(), 'the packet on the medium exactly once, no temporary file');
  const onStick = path.join(s.dst, s.pkt.id);
  t.is(base32Encode(await mthOfFile(onStick)), s.pkt.id, 'verified: its MTH is its name');
  t.true(fs.readFileSync(onStick).equals(s.pkt.bytes));
  t.deepEqual(queued(s), [], 'dequeued, hdr/ file included');
}

/** The reference on bob's side reads the medium and delivers the file. */
async function referenceDelivers(t: ExecutionContext, s: Setup): Promise<void> {
  if (!haveNncp()) return;
  const bob = s.l.nodes.bob;
  ok(t, 'nncp-xfer -rx', await runNncp('nncp-xfer', ['-cfg', bob.cfgPath, '-quiet', '-rx', s.medium]));
  ok(t, 'nncp-toss', await runNncp('nncp-toss', ['-cfg', bob.cfgPath, '-quiet']));
  t.true(fs.readFileSync(path.join(bob.incoming, 'payload.bin')).equals(s.pkt.payload), 'delivered intact');
  t.deepEqual(listFiles(path.join(s.medium, bob.idB32)), [], 'nncp-xfer -rx took it off the medium');
}

const KILL_POINTS = [
  // way out: a copy; the queued file linked onto a medium on the spool's
  // filesystem, straight to its name; or through a temporary name, replacing
  // a bad copy found there. The kill point, and whether the packet is on the
  // medium under its name when it dies.
  ['copy', 'xfer-tx-copying', false],
  ['copy', 'xfer-tx-written', false],
  ['copy', 'xfer-tx-synced', false],
  ['copy', 'xfer-tx-closed', false],
  ['copy', 'xfer-tx-renamed', true],
  ['copy', 'xfer-tx-dirsynced', true],
  ['copy', 'xfer-tx-dequeue', true],
  ['link', 'xfer-tx-renamed', true],
  ['link', 'xfer-tx-dirsynced', true],
  ['link', 'xfer-tx-dequeue', true],
  ['link over a bad copy', 'xfer-tx-linked', false],
  ['link over a bad copy', 'xfer-tx-synced', false],
  ['link over a bad copy', 'xfer-tx-renamed', true],
] as const;

for (const [way, point, placed] of KILL_POINTS) {
  test(`kill -9 at ${point} (${way}), rerun: on the medium once, verified, dequeued, no debris; the reference reads it`, async (t) => {
    const s = await setup(t);
    const bad = way === 'link over a bad copy';
    if (bad) {
      fs.mkdirSync(s.dst, { recursive: true });
      fs.writeFileSync(path.join(s.dst, s.pkt.id), s.pkt.bytes.subarray(0, 1000));
    }
    const killed = await xferTxCli(s, { PIGEON_KILLPOINT: point, PIGEON_XFER_LINK: way === 'copy' ? '0' : '1' });
    t.regex(killed.stderr, /killed by SIGKILL/, `${point} was reached`);
    const left = fs.readdirSync(s.dst);
    const whole = left.includes(s.pkt.id) && fs.statSync(path.join(s.dst, s.pkt.id)).size === s.pkt.bytes.length;
    t.is(whole, placed, `final name after the kill: ${left.join(', ')}`);
    const tmp = left.find((n) => /^nncpxfer[0-9a-f]+$/.test(n));
    if (!placed) t.truthy(tmp, 'a temporary file was left behind');
    if (point === 'xfer-tx-copying') t.true(fs.statSync(path.join(s.dst, tmp!)).size < s.pkt.bytes.length, 'a partial one');
    t.true(queued(s).includes(s.pkt.id), 'still queued after the kill');
    const txIno = fs.statSync(path.join(s.l.nodes.alice.spool, s.l.nodes.bob.idB32, 'tx', s.pkt.id)).ino;
    if (placed) t.is(fs.statSync(path.join(s.dst, s.pkt.id)).ino === txIno, way !== 'copy', 'linked, or copied');

    const rerun = await xferTxCli(s);
    t.is(rerun.code, 0, rerun.stderr);
    await carriedOnce(t, s);
    const recs = logRecords(s.l.nodes.alice.log);
    const carried = recs.filter((r) => r.who === 'xfer-tx' && r.fields.get('Pkt') === s.pkt.id);
    if (placed) {
      t.regex(rerun.stderr, /already on the medium, verified/);
    } else {
      t.truthy(recs.find((r) => r.who === 'xfer-tx-orphan'), 'the temporary file was swept, and logged');
    }
    // The killed run logged the copy only at xfer-tx-dequeue; the rerun logs it once more.
    t.is(carried.length, point === 'xfer-tx-dequeue' ? 2 : 1);
    await referenceDelivers(t, s);
  });
}

test('a copy already on the medium that fails verification is replaced, atomically; one that passes is carried (-keep keeps it queued)', async (t) => {
  const s = await setup(t);
  const { ctx, stderr } = await capturingContext(s.l.nodes.alice.cfgPath);
  const onStick = path.join(s.dst, s.pkt.id);
  fs.mkdirSync(s.dst, { recursive: true });
  const flipped = Buffer.from(s.pkt.bytes);
  flipped[flipped.length - 7] ^= 1;
  const bad = {
    'same size, one bit flipped': flipped,
    truncated: s.pkt.bytes.subarray(0, SIZE - 1000),
    'a placeholder': Buffer.from('placeholder'),
  };
  for (const [what, data] of Object.entries(bad)) {
    fs.writeFileSync(onStick, data);
    const r = await xferTx(ctx, { dir: s.medium, keep: true });
    t.true(r.ok, what);
    t.deepEqual(r.packets, [s.pkt.id], what);
    t.true(fs.readFileSync(onStick).equals(s.pkt.bytes), `${what}: replaced by the packet`);
    t.deepEqual(fs.readdirSync(s.dst), [s.pkt.id]);
    t.true(queued(s).includes(s.pkt.id), '-keep: still queued');
  }
  t.is(logRecords(s.l.nodes.alice.log).filter((r) => r.who === 'xfer-tx-replace').length, 3);
  t.regex(stderr(), /already on the medium, but its checksum does not match: replacing it/);
  t.regex(stderr(), /already on the medium, but it has \d+ bytes, not \d+: replacing it/);

  // A good copy: carried without being written again (its inode stays), then dequeued.
  const ino = fs.statSync(onStick).ino;
  let r = await xferTx(ctx, { dir: s.medium, keep: true });
  t.deepEqual(r.packets, [s.pkt.id]);
  t.is(fs.statSync(onStick).ino, ino);
  t.true(queued(s).includes(s.pkt.id));
  r = await xferTx(ctx, { dir: s.medium });
  t.true(r.ok);
  t.is(fs.statSync(onStick).ino, ino);
  await carriedOnce(t, s);

  // A directory in the way cannot be replaced: an error, the packet stays queued.
  const other = await queueFile(s.l.ctx.alice, 'bob', 'other.bin', 1000);
  fs.mkdirSync(path.join(s.dst, other.id, 'x'), { recursive: true });
  r = await xferTx(ctx, { dir: s.medium });
  t.false(r.ok);
  t.true(queued(s).includes(other.id));
  t.regex(stderr(), new RegExp(`${other.id}: already on the medium, but it is not a regular file: replacing it`));
  t.deepEqual(fs.readdirSync(s.dst).sort(), [s.pkt.id, other.id].sort(), 'no temporary file left');
});

test('temporary files of killed runs (pigeon\'s or nncp-xfer\'s) are swept from our own directory only; nothing else is touched', async (t) => {
  const s = await setup(t);
  const { alice, bob } = s.l.nodes;
  fs.mkdirSync(s.dst, { recursive: true });
  const ours = path.join(s.dst, 'nncpxfer18ed4d9bce6efffb'); // the reference names them so too
  const stray = ['nncpxfer', 'nncpxferZZ', 'nncpfile18ed4d9b', 'notes.txt'].map((n) => path.join(s.dst, n));
  const asDir = path.join(s.dst, 'nncpxfer0abc');
  const inbound = path.join(s.medium, alice.idB32, bob.idB32, 'nncpxfer18eabfa32c5c5954'); // bob's, on its way to us
  for (const f of [ours, ...stray, inbound]) {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, 'partial');
  }
  fs.mkdirSync(asDir);
  const r = await xferTxCli(s);
  t.is(r.code, 0, r.stderr);
  t.false(fs.existsSync(ours));
  for (const f of [...stray, inbound]) t.true(fs.existsSync(f), `${path.basename(f)} left alone`);
  t.true(fs.statSync(asDir).isDirectory());
  const rec = logRecords(alice.log).find((x) => x.who === 'xfer-tx-orphan');
  t.is(rec?.fields.get('File'), ours);
  t.regex(r.stderr, /removed .*nncpxfer18ed4d9bce6efffb, a temporary file left by an interrupted transfer/);
  await carriedOnce(t, s, [...stray, asDir].map((f) => path.basename(f)));
});
