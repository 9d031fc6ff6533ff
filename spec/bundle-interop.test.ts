/**
 * `pigeon bundle` against nncp-bundle 8.8.2, both ways, through pipes:
 * several packets for several nodes, -check, -delete (after -tx, and the
 * sender's -rx -delete check of a stream), -dryrun; and damaged streams
 * (garbage, concatenation, truncation at many places, a corrupted packet,
 * GNU tar archives of an xfer directory) from which both implementations
 * take exactly the same packets.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tmpNodes, type TestNode } from './helpers/nncp.js';
import { bash, listFiles, ok, PIGEON_JS, requireNncp, runImpl, runNncp, runPigeon } from './helpers/util.js';

type Impl = 'pigeon' | 'nncp';

const PIGEON = `${JSON.stringify(process.execPath)} ${JSON.stringify(PIGEON_JS)}`;
const cmd = (impl: Impl, n: TestNode, args: string) => `${impl === 'nncp' ? 'nncp-bundle' : `${PIGEON} bundle`} -cfg ${n.cfgPath} -noprogress ${args}`;

interface World {
  nodes: Record<string, TestNode>;
  /** Packet ids queued at alice for each node, and the files they carry. */
  queued: Record<string, string[]>;
  files: Record<string, Map<string, Buffer>>;
}

/**
 * alice (queued by `queuer`) has two files for bob (one of 100 kB) and one
 * for carol. Not larger: nncp-bundle -rx skips a packet that follows a
 * skipped one of more than its 128 KiB search window (see the last test).
 */
async function world(t: ExecutionContext, queuer: Impl): Promise<World> {
  const nodes = await tmpNodes(t, ['alice', 'bob', 'carol']);
  const files: World['files'] = { bob: new Map(), carol: new Map() };
  const queued: World['queued'] = {};
  const plan: [string, string, number][] = [
    ['bob', 'one.bin', 100_000],
    ['bob', 'two.txt', 10],
    ['carol', 'three.bin', 3000],
  ];
  for (const [to, name, size] of plan) {
    const src = path.join(nodes.alice.dir, name);
    const data = randomBytes(size);
    fs.writeFileSync(src, data);
    files[to].set(name, data);
    ok(t, `${queuer} file`, await runImpl(queuer, queuer === 'nncp' ? 'nncp-file' : 'file', ['-cfg', nodes.alice.cfgPath, '-quiet', src, `${to}:`], { env: { NNCPNOSYNC: '1' } }));
  }
  for (const to of ['bob', 'carol']) queued[to] = txQueue(nodes, 'alice', to);
  t.is(queued.bob.length, 2);
  return { nodes, queued, files };
}

function queue(nodes: Record<string, TestNode>, node: string, other: string, xx: 'rx' | 'tx'): string[] {
  const dir = path.join(nodes[node].spool, nodes[other].idB32, xx);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^[A-Z2-7]{52}$/.test(f)).sort() : [];
}
const txQueue = (nodes: Record<string, TestNode>, node: string, other: string) => queue(nodes, node, other, 'tx');
const rxQueue = (nodes: Record<string, TestNode>, node: string, other: string) => queue(nodes, node, other, 'rx');

/** Toss at `who` with `impl` and check the files alice sent arrived intact. */
async function delivered(t: ExecutionContext, w: World, who: string, impl: Impl): Promise<void> {
  ok(t, `${impl} toss`, await runImpl(impl, impl === 'nncp' ? 'nncp-toss' : 'toss', ['-cfg', w.nodes[who].cfgPath, '-quiet'], { env: { NNCPNOSYNC: '1' } }));
  for (const [name, data] of w.files[who]) t.true(fs.readFileSync(path.join(w.nodes[who].incoming, name)).equals(data), `${who} got ${name}`);
  t.deepEqual(listFiles(w.nodes[who].incoming).sort(), [...w.files[who].keys()].sort(), 'each file once');
}

for (const [writer, reader] of [
  ['nncp', 'pigeon'],
  ['pigeon', 'nncp'],
] as [Impl, Impl][]) {
  test(`${writer} bundle -tx -delete bob carol | ${reader} bundle -rx: each takes its own, toss delivers; -check on the second reader`, async (t) => {
    if (!requireNncp(t)) return;
    const w = await world(t, writer);
    const { alice, bob, carol } = w.nodes;
    const stream = path.join(alice.dir, 'stream.tar');
    const r = await bash(`set -o pipefail; ${cmd(writer, alice, '-quiet -tx -delete bob carol')} | tee ${stream} | ${cmd(reader, bob, '-rx')}`);
    t.is(r.code, 0, r.stderr);
    t.deepEqual(rxQueue(w.nodes, 'bob', 'alice'), w.queued.bob);
    t.deepEqual(txQueue(w.nodes, 'alice', 'bob'), [], '-delete emptied the queue');
    t.deepEqual(txQueue(w.nodes, 'alice', 'carol'), []);
    t.is((r.stderr.match(/Bundle transfer, received from /g) ?? []).length, 2, r.stderr);
    const rc = await bash(`${cmd(reader, carol, '-rx -check')} < ${stream}`);
    t.is(rc.code, 0, rc.stderr);
    t.deepEqual(rxQueue(w.nodes, 'carol', 'alice'), w.queued.carol);
    await delivered(t, w, 'bob', reader);
    await delivered(t, w, 'carol', writer);
  });

  test(`${writer} -tx, then the sender's ${reader} -rx -delete (-dryrun first) removes what the stream holds intact`, async (t) => {
    if (!requireNncp(t)) return;
    const w = await world(t, writer);
    const { alice } = w.nodes;
    const stream = path.join(alice.dir, 'stream.tar');
    const tx = await runImpl(writer, writer === 'nncp' ? 'nncp-bundle' : 'bundle', ['-cfg', alice.cfgPath, '-quiet', '-tx', 'bob', 'carol']);
    ok(t, 'tx', tx);
    // Damage the packet of one.bin (the large one).
    const data = Buffer.from(tx.stdout);
    const big = w.queued.bob.find((id) => fs.statSync(path.join(alice.spool, w.nodes.bob.idB32, 'tx', id)).size > 50_000)!;
    const at = data.indexOf(Buffer.from(big));
    data[at - (at % 512) + 512 + 5000] ^= 1;
    fs.writeFileSync(stream, data);
    const dry = await bash(`${cmd(reader, alice, '-rx -delete -dryrun')} < ${stream}`);
    t.regex(dry.stderr, new RegExp(`ERROR Bundle transfer .*/tx/${big}: bad checksum`));
    t.is((dry.stderr.match(/: removed$/gm) ?? []).length, 2, dry.stderr);
    t.deepEqual(txQueue(w.nodes, 'alice', 'bob'), w.queued.bob, '-dryrun removed nothing');
    const onlyCarol = await bash(`${cmd(reader, alice, '-rx -delete carol')} < ${stream}`);
    t.deepEqual(txQueue(w.nodes, 'alice', 'carol'), [], onlyCarol.stderr);
    t.deepEqual(txQueue(w.nodes, 'alice', 'bob'), w.queued.bob, 'NODE limits the check to that recipient');
    await bash(`${cmd(reader, alice, '-rx -delete')} < ${stream}`);
    t.deepEqual(txQueue(w.nodes, 'alice', 'bob'), [big], 'the damaged one stays queued');
  });

  test(`${reader} -rx -dryrun of a ${writer} stream writes nothing; -dryrun -check finds a bad packet`, async (t) => {
    if (!requireNncp(t)) return;
    const w = await world(t, writer);
    const { alice, bob } = w.nodes;
    const r = await runImpl(writer, writer === 'nncp' ? 'nncp-bundle' : 'bundle', ['-cfg', alice.cfgPath, '-quiet', '-tx', 'bob']);
    ok(t, 'tx', r);
    const stream = path.join(alice.dir, 'stream.tar');
    const data = Buffer.from(r.stdout);
    const first = data.indexOf(Buffer.from(w.queued.bob[0]));
    data[first - (first % 512) + 512 + 200] ^= 1; // past the encrypted header
    fs.writeFileSync(stream, data);
    const before = listFiles(bob.spool);
    const dry = await bash(`${cmd(reader, bob, '-rx -dryrun')} < ${stream}`);
    t.is((dry.stderr.match(/Bundle transfer, received from /g) ?? []).length, 2, dry.stderr);
    const check = await bash(`${cmd(reader, bob, '-rx -dryrun -check')} < ${stream}`);
    t.regex(check.stderr, /bad checksum/);
    t.is((check.stderr.match(/Bundle transfer, received from /g) ?? []).length, 1, check.stderr);
    t.deepEqual(listFiles(bob.spool), before, 'nothing written');
  });
}

/** The rx packets bob has after `impl` reads `stream` into an empty spool (and the exit code). */
async function takes(bob: TestNode, impl: Impl, stream: string, flags = ''): Promise<{ code: number; got: string[] }> {
  fs.rmSync(bob.spool, { recursive: true, force: true });
  fs.mkdirSync(bob.spool);
  const r = await bash(`${cmd(impl, bob, `-quiet -rx ${flags}`)} < ${stream}`);
  const got = listFiles(bob.spool).filter((f) => /\/rx\/[A-Z2-7]{52}$/.test(f));
  return { code: r.code, got };
}

test('damaged streams: pigeon and nncp-bundle -rx take exactly the same packets', async (t) => {
  if (!requireNncp(t)) return;
  const w = await world(t, 'nncp');
  const { alice, bob } = w.nodes;
  const dir = alice.dir;
  const ref = (await runNncp('nncp-bundle', ['-cfg', alice.cfgPath, '-quiet', '-tx', 'bob', 'carol'])).stdout;
  const ours = (await runPigeon(['bundle', '-cfg', alice.cfgPath, '-quiet', '-tx', 'bob', 'carol'])).stdout;
  const noise = (n: number) => randomBytes(n);
  const streams: Record<string, Buffer> = {
    'reference as is': ref,
    'pigeon as is': ours,
    'both concatenated': Buffer.concat([ours, ref]),
    'garbage around and between': Buffer.concat([noise(1000), ref, noise(5000), Buffer.from('NNCP'), noise(700), ours, Buffer.from('trailing garbage\n')]),
  };
  // Cut at many places: inside headers, encrypted headers, payloads, padding.
  const id = Buffer.from(w.queued.bob[1]);
  for (const n of [513, 1100, 1500, ref.indexOf(id) - 300, ref.indexOf(id) + 600, ref.indexOf(id) + 50_000, ref.length - 700, ref.length - 10]) {
    streams[`reference cut at ${n}`] = ref.subarray(0, n);
  }
  const bad = Buffer.from(ref);
  bad[ref.indexOf(id) - (ref.indexOf(id) % 512) + 512 + 400] ^= 1;
  streams['a corrupted packet'] = bad;
  // A directory laid out as nncp-xfer lays it out, archived by GNU tar (as the manual suggests).
  const xd = path.join(dir, 'xd');
  fs.mkdirSync(path.join(xd, 'NNCP'), { recursive: true });
  ok(t, 'nncp-xfer -tx', await runNncp('nncp-xfer', ['-cfg', alice.cfgPath, '-quiet', '-tx', '-mkdir', '-keep', path.join(xd, 'NNCP')]));
  for (const fmt of ['gnu', 'pax', 'ustar']) {
    const tarFile = path.join(dir, `xd-${fmt}.tar`);
    await bash(`tar -C ${xd} --format=${fmt} -cf ${tarFile} NNCP`);
    streams[`GNU tar --format=${fmt} of an xfer directory`] = fs.readFileSync(tarFile);
  }
  let compared = 0;
  for (const [what, data] of Object.entries(streams)) {
    const file = path.join(dir, 'stream.tar');
    fs.writeFileSync(file, data);
    for (const flags of what === 'a corrupted packet' ? ['', '-check'] : ['']) {
      const n = await takes(bob, 'nncp', file, flags);
      const p = await takes(bob, 'pigeon', file, flags);
      // A corrupted packet without -check: the reference takes it, Pigeon (which always verifies) does not.
      const expected = what === 'a corrupted packet' && flags === '' ? n.got.filter((f) => !f.endsWith(w.queued.bob[1])) : n.got;
      t.deepEqual(p.got, expected, `${what} ${flags}`);
      compared++;
    }
  }
  t.is(compared, Object.keys(streams).length + 1);
  // A sanity check that the comparison has teeth: the plain streams carry both of bob's packets.
  t.is((await takes(bob, 'pigeon', (fs.writeFileSync(path.join(dir, 's'), ref), path.join(dir, 's')))).got.length, 2);
});

test('a packet after a large one that is skipped: pigeon takes it (nncp-bundle, reading a file, may not)', async (t) => {
  if (!requireNncp(t)) return;
  const nodes = await tmpNodes(t, ['alice', 'bob', 'carol']);
  const { alice, carol } = nodes;
  const big = path.join(alice.dir, 'big');
  fs.writeFileSync(big, randomBytes(300_000));
  const small = path.join(alice.dir, 'small');
  fs.writeFileSync(small, 'for carol');
  ok(t, 'file', await runPigeon(['file', '-cfg', alice.cfgPath, '-quiet', big, 'bob:']));
  ok(t, 'file', await runPigeon(['file', '-cfg', alice.cfgPath, '-quiet', small, 'carol:']));
  const tx = await runPigeon(['bundle', '-cfg', alice.cfgPath, '-quiet', '-tx', 'bob', 'carol']);
  ok(t, 'tx', tx);
  const stream = path.join(alice.dir, 's.tar');
  fs.writeFileSync(stream, tx.stdout);
  const p = await takes(carol, 'pigeon', stream);
  t.is(p.code, 0);
  t.is(p.got.length, 1, 'pigeon finds the packet after 300 kB of a packet for bob');
  const n = await takes(carol, 'nncp', stream);
  t.log(`nncp-bundle -rx took ${n.got.length} packet(s) from the same file`);
});
