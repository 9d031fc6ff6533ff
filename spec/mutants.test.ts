/**
 * Mutated packets (issue 9: "never delivered mutated content"): a file
 * packet and an exec packet are mutated many ways (a flipped bit anywhere,
 * a byte overwritten, truncated, bytes appended, a block duplicated) and
 * each mutant is tossed from rx/ in process. Whatever the mutation, toss
 * never throws, never delivers content other than the original, never hands
 * an exec handle a complete input that differs from the original, and
 * leaves the mutant either in rx/ (a header it cannot use) or in quarantine.
 * The mutants come from a seeded generator: the same ones every run.
 * PIGEON_MUTANTS=N tries N of each kind (default 25).
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { tossAll } from '../src/toss/toss.js';
import { lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { tmpDir, until } from './helpers/util.js';
import { base32Encode } from '../src/codec/base32.js';
import { createHash } from 'node:crypto';

const N = Number(process.env.PIGEON_MUTANTS ?? 25);

/** A small deterministic generator (xorshift32), so failures can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

type Mutate = (b: Buffer, r: () => number) => Buffer;
const MUTATIONS: Record<string, Mutate> = {
  'bit flipped': (b, r) => {
    const c = Buffer.from(b);
    c[Math.floor(r() * c.length)] ^= 1 << Math.floor(r() * 8);
    return c;
  },
  'byte overwritten': (b, r) => {
    const c = Buffer.from(b);
    const i = Math.floor(r() * c.length);
    c[i] = (c[i] + 1 + Math.floor(r() * 255)) & 0xff;
    return c;
  },
  truncated: (b, r) => b.subarray(0, Math.floor(r() * b.length)),
  'bytes appended': (b, r) => Buffer.concat([b, Buffer.alloc(1 + Math.floor(r() * 300), Math.floor(r() * 256))]),
  'block duplicated': (b, r) => {
    const at = Math.floor(r() * b.length);
    const len = 1 + Math.floor(r() * Math.min(4096, b.length - at));
    return Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
  },
};

async function campaign(t: ExecutionContext, kind: 'file' | 'exec'): Promise<void> {
  const dir = await tmpDir(t);
  const out = path.join(dir, 'exec-out');
  fs.mkdirSync(out);
  // handles run with a bare environment: absolute paths only
  const l = await lab(t, ['alice', 'bob'], { exec: { sink: ['/bin/sh', '-c', `/bin/cat > ${out}/out.$$`] } });
  const { alice, bob } = l.nodes;
  let original: Buffer;
  let pkt: Buffer;
  if (kind === 'file') {
    const q = await queueFile(l.ctx.alice, 'bob', 'f.bin', 200_000);
    original = q.data;
    pkt = fs.readFileSync(l.ctx.alice.spool.packetPath(bob.idB32, 'tx', q.id));
  } else {
    const { txExec } = await import('../src/tx/exec.js');
    const { findNode } = await import('../src/config/types.js');
    original = Buffer.alloc(300_000, 7);
    for (let i = 0; i < original.length; i += 997) original[i] = i & 0xff;
    const res = await txExec(l.ctx.alice, { to: findNode(l.ctx.alice.cfg, 'bob'), handle: 'sink', args: [], nice: 96, replyNice: 96, input: (async function* () { yield original; })() });
    pkt = fs.readFileSync(l.ctx.alice.spool.packetPath(bob.idB32, 'tx', res.pktId));
  }
  const rx = path.join(bob.spool, alice.idB32, 'rx');
  fs.mkdirSync(rx, { recursive: true });
  // The control: the packet as made is delivered through the same steps (the harness can see a delivery).
  const ctl = base32Encode(createHash('sha256').update(pkt).digest());
  fs.writeFileSync(path.join(rx, ctl), pkt);
  const c = await tossAll(l.ctx.bob);
  t.deepEqual(c, { ok: true, tossed: 1, failed: 0 }, 'the unmutated packet is tossed');
  const outDir = kind === 'file' ? bob.incoming : out;
  await until(() => fs.readdirSync(outDir).length === 1, 5000, 'the control delivery');
  const [first] = fs.readdirSync(outDir);
  t.true(fs.readFileSync(path.join(outDir, first)).equals(original), 'the control arrives whole');
  fs.rmSync(path.join(outDir, first));
  const r = rng(kind === 'file' ? 0x9e3779b9 : 0x85ebca6b);
  const tally: Record<string, { tried: number; refused: number }> = {};
  for (const [name, mutate] of Object.entries(MUTATIONS)) {
    tally[name] = { tried: 0, refused: 0 };
    for (let i = 0; i < N; i++) {
      const m = mutate(pkt, r);
      if (m.equals(pkt)) continue;
      // A packet-id name of its own per mutant (toss does not check that a name is the MTH; xfer does).
      const id = base32Encode(createHash('sha256').update(m).digest());
      fs.writeFileSync(path.join(rx, id), m);
      tally[name].tried++;
      const res = await tossAll(l.ctx.bob); // never throws
      const delivered = kind === 'file' ? fs.readdirSync(bob.incoming) : fs.readdirSync(out);
      for (const f of delivered) {
        const got = fs.readFileSync(path.join(kind === 'file' ? bob.incoming : out, f));
        // an exec handle may have been killed after a verified prefix: never more, never other bytes
        const fine = kind === 'file' ? got.equals(original) : original.subarray(0, got.length).equals(got);
        t.true(fine, `${kind}, ${name} #${i}: ${f} holds other bytes than the original`);
        if (kind === 'exec' && got.length === original.length) t.fail(`${kind}, ${name} #${i}: the handle got a complete input from a mutant`);
        fs.rmSync(path.join(kind === 'file' ? bob.incoming : out, f));
      }
      if (res.tossed === 0 || !res.ok) tally[name].refused++;
      // the mutant is out of the way: in quarantine, or left in rx/ (we clear it for the next one)
      fs.rmSync(path.join(rx, id), { force: true });
    }
  }
  t.log(kind, JSON.stringify(tally));
  const tried = Object.values(tally).reduce((a, x) => a + x.tried, 0);
  t.true(tried >= 4 * N, 'mutants were tried');
}

test('file packets: no mutant is delivered, none throws', (t) => campaign(t, 'file'));
test('exec packets: no mutant gives the handle other bytes or a complete input, none throws', (t) => campaign(t, 'exec'));
