/**
 * Packets across implementations, live: pigeon queues packets in a spool
 * and the reference tosses them (directly and through a relay); the
 * reference queues packets and pigeon opens them.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { loadConfig } from '../src/config/load.js';
import { decryptPacket, openPlain } from '../src/packet/encrypted.js';
import { PktType } from '../src/packet/header.js';
import { Spool } from '../src/spool/spool.js';
import { txPacket } from '../src/tx/send.js';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const BLK = 128 * 1024;

async function* chunks(data: Uint8Array, size = 65536): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) yield data.subarray(o, o + size);
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function pigeonSend(from: TestNode, to: string, dst: string, data: Uint8Array, opts: { minSize?: number; nice?: number } = {}) {
  const cfg = await loadConfig({ cfg: from.cfgPath, env: {} });
  const spool = new Spool({ root: cfg.spool, noSync: true });
  return txPacket(
    { cfg, spool },
    {
      to: cfg.byName.get(to)!,
      plain: { type: PktType.File, nice: opts.nice ?? 224, path: new TextEncoder().encode(dst) },
      nice: opts.nice ?? 224,
      payload: chunks(data),
      minSize: opts.minSize,
    },
  );
}

/** Carry every packet `from` has queued for `to` into `to`'s rx queue (what xfer does). */
async function carry(from: TestNode, to: TestNode): Promise<string[]> {
  const txDir = path.join(from.spool, to.idB32, 'tx');
  const rxDir = path.join(to.spool, from.idB32, 'rx');
  await mkdir(rxDir, { recursive: true });
  const ids = (await readdir(txDir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  for (const id of ids) await copyFile(path.join(txDir, id), path.join(rxDir, id));
  return ids;
}

test('pigeon-queued packets at block edges are tossed by nncp-toss', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: 'pigeon', bob: 'nncp' } });
  const files = new Map<string, string>();
  for (const size of [0, 1, BLK - 292, BLK - 291, BLK, 2 * BLK + 333]) {
    const data = new Uint8Array(randomBytes(size));
    files.set(`f${size}`, sha(data));
    await pigeonSend(alice, 'bob', `f${size}`, data);
  }
  const padded = new Uint8Array(randomBytes(100));
  files.set('padded', sha(padded));
  const r = await pigeonSend(alice, 'bob', 'padded', padded, { minSize: 300 * 1024 });
  t.true(r.size >= 300 * 1024);
  // The reference agrees with our file names (MTH) and hdr/ files.
  const check = await runNncp('nncp-check', ['-cfg', alice.cfgPath]);
  t.is(check.code, 0, check.stderr);
  const stat = await runNncp('nncp-stat', ['-cfg', alice.cfgPath, '-pkt']);
  t.is(stat.code, 0, stat.stderr);
  t.regex(stat.stdout.toString(), new RegExp(r.pktId));

  await carry(alice, bob);
  const toss = await runNncp('nncp-toss', ['-cfg', bob.cfgPath], { env: { NNCPNOSYNC: '1' } });
  t.is(toss.code, 0, toss.stderr);
  for (const [name, digest] of files) {
    t.is(sha(await readFile(path.join(bob.incoming, name))), digest, name);
  }
});

test('pigeon wraps transit layers that an nncp relay unwraps for an nncp recipient', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, ['alice', 'carol', 'bob'], {
    generator: 'nncp',
    neighExtra: (owner, neigh) => (owner === 'alice' && neigh === 'bob' ? { via: ['carol'] } : {}),
  });
  const { alice, bob, carol } = nodes;
  const data = new Uint8Array(randomBytes(3 * BLK + 5));
  const r = await pigeonSend(alice, 'bob', 'relayed.bin', data);
  t.is(r.hop.name, 'carol');
  await carry(alice, carol);
  const toss1 = await runNncp('nncp-toss', ['-cfg', carol.cfgPath], { env: { NNCPNOSYNC: '1' } });
  t.is(toss1.code, 0, toss1.stderr);
  await carry(carol, bob);
  const toss2 = await runNncp('nncp-toss', ['-cfg', bob.cfgPath], { env: { NNCPNOSYNC: '1' } });
  t.is(toss2.code, 0, toss2.stderr);
  t.is(sha(await readFile(path.join(bob.incoming, 'relayed.bin'))), sha(data));
});

test('nncp-file packets to pigeon-made keys are opened by pigeon', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: 'nncp', bob: 'pigeon' } });
  const data = new Uint8Array(randomBytes(BLK + 17));
  const src = path.join(dir, 'src.bin');
  await writeFile(src, data);
  const res = await runNncp('nncp-file', ['-quiet', '-cfg', alice.cfgPath, '-minsize', '400', src, 'bob:got.bin'], { env: { NNCPNOSYNC: '1' } });
  t.is(res.code, 0, res.stderr);
  const [id] = await carry(alice, bob);
  const cfg = await loadConfig({ cfg: bob.cfgPath, env: {} });
  const bytes = await readFile(path.join(bob.spool, alice.idB32, 'rx', id));
  t.true(bytes.length >= 400 * 1024);
  const dec = await decryptPacket({
    self: cfg.self!,
    lookup: (nid) => cfg.neighbours.get(base32Encode(nid)),
    input: chunks(bytes, 100000),
  });
  t.is(dec.sender?.name, 'alice');
  const { plain, body } = await openPlain(dec.plaintext);
  t.is(plain.type, PktType.File);
  t.is(new TextDecoder().decode(plain.path), 'got.bin');
  const parts: Uint8Array[] = [];
  for await (const c of body) parts.push(Uint8Array.from(c));
  t.is(sha(Buffer.concat(parts)), sha(data));
});

test('pigeon pkt describes and dumps what nncp-pkt does, both ways', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'nncp' });
  const data = new Uint8Array(randomBytes(5000));
  const r = await pigeonSend(alice, 'bob', 'x.bin', data, { nice: 100 });
  const pkt = await readFile(path.join(alice.spool, bob.idB32, 'tx', r.pktId));
  for (const args of [[], ['-dump']]) {
    const ours = await runPigeon(['pkt', '-cfg', bob.cfgPath, ...args], { input: pkt });
    const theirs = await runNncp('nncp-pkt', ['-cfg', bob.cfgPath, ...args], { input: pkt });
    t.is(theirs.code, 0, theirs.stderr);
    t.is(ours.code, 0, ours.stderr);
    t.true(ours.stdout.equals(theirs.stdout), `pkt ${args.join(' ')} differs`);
  }
});
