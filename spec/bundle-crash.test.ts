/**
 * bundle killed (kill -9, at named points: PIGEON_KILLPOINT,
 * src/killpoint.ts) on either side of the stream, then run again: no half
 * packet ever appears in rx/, nothing verified is lost from tx/, and after
 * the rerun every packet is in rx/ exactly once and toss delivers each file
 * once. A killed receiver leaves its temporary file in the spool's tmp/
 * only (as every spool writer, and the reference), which `rm -tmp` clears.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { base32Encode } from '../src/codec/base32.js';
import { mthOfFile } from '../src/crypto/mth.js';
import { bundleTx } from '../src/xfer/bundle.js';
import { lab, type Lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { listFiles, ok, runPigeon, type RunResult } from './helpers/util.js';

interface Setup {
  l: Lab;
  /** The whole stream of alice's packets for bob, as a file. */
  stream: string;
  /** Payloads by file name. */
  files: Map<string, Buffer>;
  ids: string[];
}

/** alice has two packets for bob: a small one (sent first: niceness 64) and one of 1 MiB (four read steps). */
async function setup(t: ExecutionContext): Promise<Setup> {
  const l = await lab(t, ['alice', 'bob']);
  const small = await queueFile(l.ctx.alice, 'bob', 'small.bin', 100, 64);
  const big = await queueFile(l.ctx.alice, 'bob', 'big.bin', (1 << 20) + 4321);
  const parts: Buffer[] = [];
  const out = new Writable({
    write(c: Buffer, _e, cb) {
      parts.push(Buffer.from(c));
      cb();
    },
  });
  const res = await bundleTx(l.ctx.alice, { nodes: [l.ctx.alice.cfg.neighbours.get(l.nodes.bob.idB32)!], out });
  t.true(res.ok);
  const stream = path.join(l.dir, 'stream.tar');
  fs.writeFileSync(stream, Buffer.concat(parts));
  return { l, stream, files: new Map([['small.bin', small.data], ['big.bin', big.data]]), ids: [small.id, big.id] };
}

const rxCli = (s: Setup, stdinFile: string, env?: NodeJS.ProcessEnv, ...flags: string[]) =>
  runPigeon(['bundle', '-cfg', s.l.nodes.bob.cfgPath, '-noprogress', '-rx', ...flags], { stdinFile, env });
const txCli = (s: Setup, env?: NodeJS.ProcessEnv, ...flags: string[]) => runPigeon(['bundle', '-cfg', s.l.nodes.alice.cfgPath, '-noprogress', '-tx', ...flags, 'bob'], { env });

function killed(t: ExecutionContext, r: RunResult, point: string): void {
  t.is(r.code, 128, `killed at ${point}: ${r.stderr}`);
  t.regex(r.stderr, /killed by SIGKILL/);
}

function rxDir(s: Setup): string {
  return path.join(s.l.nodes.bob.spool, s.l.nodes.alice.idB32, 'rx');
}

/** Everything in bob's rx/ (hdr/ aside) is a packet whose MTH is its name: never half a packet. */
async function onlyWholePackets(t: ExecutionContext, s: Setup): Promise<string[]> {
  const names = listFiles(rxDir(s)).filter((f) => !f.startsWith('hdr/'));
  for (const n of names) {
    t.regex(n, /^[A-Z2-7]{52}$/, `nothing but packets in rx/: ${n}`);
    t.is(base32Encode(await mthOfFile(path.join(rxDir(s), n))), n, `${n} is whole`);
  }
  return names;
}

function txQueue(s: Setup): string[] {
  return listFiles(path.join(s.l.nodes.alice.spool, s.l.nodes.bob.idB32, 'tx')).filter((f) => !f.startsWith('hdr/'));
}

/** After the reruns: both packets in rx/ once, tossed into exactly one file each, tmp/ cleared by rm -tmp. */
async function deliveredOnce(t: ExecutionContext, s: Setup): Promise<void> {
  t.deepEqual((await onlyWholePackets(t, s)).sort(), [...s.ids].sort());
  ok(t, 'toss', await runPigeon(['toss', '-cfg', s.l.nodes.bob.cfgPath, '-quiet']));
  t.deepEqual(listFiles(s.l.nodes.bob.incoming), [...s.files.keys()].sort(), 'each file once, no NAME.0');
  for (const [name, data] of s.files) t.true(fs.readFileSync(path.join(s.l.nodes.bob.incoming, name)).equals(data), name);
  ok(t, 'rm -tmp', await runPigeon(['rm', '-cfg', s.l.nodes.bob.cfgPath, '-quiet', '-tmp']));
  t.deepEqual(listFiles(path.join(s.l.nodes.bob.spool, 'tmp')), []);
}

// The receiving side: a partial temporary file (copying), then each TmpFile stage.
const RX_POINTS = ['bundle-rx-copying', 'bundle-rx-written', 'bundle-rx-synced', 'bundle-rx-closed', 'bundle-rx-renamed', 'bundle-rx-dirsynced'];

for (const point of RX_POINTS) {
  test(`-rx killed at ${point}: no half packet in rx/; the rerun of the same stream takes the rest, each once`, async (t) => {
    const s = await setup(t);
    killed(t, await rxCli(s, s.stream, { PIGEON_KILLPOINT: point }), point);
    const first = await onlyWholePackets(t, s);
    if (point === 'bundle-rx-renamed' || point === 'bundle-rx-dirsynced') t.deepEqual(first, [s.ids[0]], 'placed whole before the kill');
    else if (point !== 'bundle-rx-copying') t.deepEqual(first, [], 'not placed yet');
    const again = await rxCli(s, s.stream);
    t.is(again.code, 0, again.stderr);
    const third = await rxCli(s, s.stream);
    t.is(third.code, 0);
    t.is(third.stderr, '', 'a third run finds everything there');
    await deliveredOnce(t, s);
  });
}

test('-tx -delete killed while writing a packet: the stream is cut there, that packet stays queued; the reader keeps nothing of it; reruns deliver each once', async (t) => {
  const s = await setup(t);
  const r = await txCli(s, { PIGEON_KILLPOINT: 'bundle-tx-sending' }, '-delete');
  killed(t, r, 'bundle-tx-sending');
  t.deepEqual(txQueue(s), [s.ids[1]], 'the small packet, written whole, was dequeued; the big one was not');
  const cut = path.join(s.l.dir, 'cut.tar');
  fs.writeFileSync(cut, r.stdout);
  const rx1 = await rxCli(s, cut);
  t.is(rx1.code, 1, 'a truncated stream is an error');
  t.regex(rx1.stderr, new RegExp(`${s.ids[1]}: the stream ended after \\d+ of its \\d+ bytes \\(a truncated bundle\\); nothing was kept`));
  t.deepEqual(await onlyWholePackets(t, s), [s.ids[0]]);
  const tx2 = await txCli(s, undefined, '-delete', '-quiet');
  ok(t, 'tx rerun', tx2);
  t.deepEqual(txQueue(s), []);
  const full = path.join(s.l.dir, 'rest.tar');
  fs.writeFileSync(full, tx2.stdout);
  ok(t, 'rx rerun', await rxCli(s, full));
  await deliveredOnce(t, s);
});

test('-tx -delete killed after writing a packet, before dequeuing it: sent again next time, taken once', async (t) => {
  const s = await setup(t);
  const r = await txCli(s, { PIGEON_KILLPOINT: 'bundle-tx-sent' }, '-delete');
  killed(t, r, 'bundle-tx-sent');
  t.deepEqual(txQueue(s).sort(), [...s.ids].sort(), 'nothing dequeued');
  const part = path.join(s.l.dir, 'part.tar');
  fs.writeFileSync(part, r.stdout);
  ok(t, 'rx of the part', await rxCli(s, part));
  t.deepEqual(await onlyWholePackets(t, s), [s.ids[0]]);
  const tx2 = await txCli(s, undefined, '-delete', '-quiet');
  ok(t, 'tx rerun', tx2);
  t.deepEqual(txQueue(s), []);
  const full = path.join(s.l.dir, 'full.tar');
  fs.writeFileSync(full, tx2.stdout);
  const rx2 = await rxCli(s, full, undefined, '-debug');
  t.is(rx2.code, 0, rx2.stderr);
  t.regex(rx2.stderr, new RegExp(`${s.ids[0]}: packet already exists`));
  await deliveredOnce(t, s);
});

test('the sender\'s -rx -delete killed between verifying and removing: the rerun removes it', async (t) => {
  const s = await setup(t);
  const r = await runPigeon(['bundle', '-cfg', s.l.nodes.alice.cfgPath, '-noprogress', '-rx', '-delete'], { stdinFile: s.stream, env: { PIGEON_KILLPOINT: 'bundle-rx-delete' } });
  killed(t, r, 'bundle-rx-delete');
  t.deepEqual(txQueue(s).sort(), [...s.ids].sort());
  ok(t, 'rerun', await runPigeon(['bundle', '-cfg', s.l.nodes.alice.cfgPath, '-noprogress', '-quiet', '-rx', '-delete'], { stdinFile: s.stream }));
  t.deepEqual(txQueue(s), []);
});
