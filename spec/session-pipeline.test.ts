/**
 * Received packets finished in the background, in groups (issue 11,
 * src/sp/rxfinish.ts, Partials.finish):
 *   - unit: a group of complete receives becomes rx/<PKT> (checked as they
 *     came) or .nock (resumed), with hdr/ files; a packet whose .part went
 *     missing fails alone; the finisher hands outcomes over in order, makes
 *     add() wait when full, and drain() waits for all;
 *   - sessions: many small packets each way between pigeon call and pigeon
 *     daemon, with fsync on, privsep and -noprivsep;
 *   - crash: the receiving daemon killed at each kill point of a group
 *     (sp-rx-synced, sp-rx-renamed, sp-rx-dirsynced): every packet is still
 *     in the sender's tx/ or complete in the receiver's rx/ (DONE only after
 *     it is durable), and the next session delivers each exactly once.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { MTH } from '../src/crypto/mth.js';
import { encodeEncHeader, ENC_HEADER_SIZE } from '../src/packet/header.js';
import { RxFinisher } from '../src/sp/rxfinish.js';
import { Partials, type Finished, type PartialReceive } from '../src/spool/partial.js';
import { Spool } from '../src/spool/spool.js';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { freePort, listening, requireNncp, runNncp, runPigeon, startPigeon, tmpDir, until } from './helpers/util.js';

const NODE = base32Encode(new Uint8Array(32).fill(9));

function fakePacket(size: number): { id: string; data: Buffer } {
  const head = encodeEncHeader({ nice: 96, sender: randomBytes(32), recipient: randomBytes(32), exchPub: randomBytes(32), signature: randomBytes(64) });
  const data = Buffer.concat([head, randomBytes(size - ENC_HEADER_SIZE)]);
  return { id: base32Encode(new MTH().update(data).digest()), data };
}

async function setup(t: ExecutionContext, noSync = false): Promise<{ spool: Spool; partials: Partials }> {
  const spool = new Spool({ root: await tmpDir(t), noSync });
  await spool.ensureQueue(NODE, 'rx');
  return { spool, partials: new Partials(spool) };
}

/** Receive `p` from `from` on (a .part with its first `from` bytes already there), in 100-byte chunks. */
function receive(partials: Partials, spool: Spool, p: { id: string; data: Buffer }, from = 0): PartialReceive {
  if (from > 0) fs.writeFileSync(spool.partPath(NODE, p.id), p.data.subarray(0, from));
  const rx = partials.open(NODE, p.id, p.data.length, from, { hash: true });
  for (let off = from; off < p.data.length; off += 100) rx.write(off, p.data.subarray(off, Math.min(off + 100, p.data.length)));
  return rx;
}

test('a group of complete receives: rx/<PKT> when checked as they came, .nock when resumed; a missing .part fails alone', async (t) => {
  const { spool, partials } = await setup(t);
  const a = fakePacket(1000);
  const b = fakePacket(300);
  const c = fakePacket(2000);
  const gone = fakePacket(500);
  const rxs = [receive(partials, spool, a), receive(partials, spool, b), receive(partials, spool, c, 700), receive(partials, spool, gone)];
  fs.unlinkSync(spool.partPath(NODE, gone.id));
  const out = await partials.finish(rxs);
  t.deepEqual(
    out.map((f) => f.placed ?? f.failed),
    ['packet', 'packet', 'nock', 'rename'],
  );
  for (const p of [a, b]) {
    t.deepEqual(fs.readFileSync(spool.packetPath(NODE, 'rx', p.id)), p.data);
    t.false(fs.existsSync(spool.partPath(NODE, p.id)));
  }
  await Promise.all(out.slice(0, 2).map((f) => f.rx.writeHdr()));
  for (const p of [a, b]) t.deepEqual(fs.readFileSync(spool.hdrPath(NODE, 'rx', p.id)), p.data.subarray(0, ENC_HEADER_SIZE), 'hdr/ from the bytes received');
  t.deepEqual(fs.readFileSync(spool.nockPath(NODE, c.id)), c.data);
  t.false(fs.existsSync(spool.packetPath(NODE, 'rx', c.id)), 'a resumed packet is not placed unchecked');
  const nock = out[2];
  t.is(nock.placed, 'nock');
  const checked = await partials.check(NODE, c.id, nock.placed === 'nock' ? nock.rest : null);
  t.is(checked.size, c.data.length);
  t.deepEqual(fs.readFileSync(spool.packetPath(NODE, 'rx', c.id)), c.data);
  t.false(fs.existsSync(spool.packetPath(NODE, 'rx', gone.id)));
  const failed = out[3];
  t.is(failed.failed !== undefined ? (failed.err as NodeJS.ErrnoException).code : undefined, 'ENOENT');
});

test('a receive whose checksum mismatched is refused by place(), its .part left', async (t) => {
  const { spool, partials } = await setup(t);
  const p = fakePacket(600);
  const bad = { id: p.id, data: Buffer.from(p.data) };
  bad.data[400] ^= 1;
  const rx = receive(partials, spool, bad);
  t.is(rx.verdict(), 'bad');
  t.throws(() => rx.place(), { message: /checksum mismatch/ });
  t.true(fs.existsSync(spool.partPath(NODE, p.id)));
  t.false(fs.existsSync(spool.packetPath(NODE, 'rx', p.id)));
});

/** A stand-in for Partials whose finish() waits for release() and records its groups. */
function gatedPartials(): { partials: Partials; groups: string[][]; release: () => void } {
  const groups: string[][] = [];
  let open: (() => void) | null = null;
  const partials = {
    async finish(rxs: readonly PartialReceive[]): Promise<Finished[]> {
      groups.push(rxs.map((r) => r.pktId));
      await new Promise<void>((resolve) => {
        open = resolve;
      });
      return rxs.map((rx) => ({ rx, placed: 'packet' }));
    },
  } as unknown as Partials;
  return {
    partials,
    groups,
    release: () => {
      const o = open;
      open = null;
      o?.();
    },
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('the finisher groups what completed meanwhile (at most `group`), reports in order, waits when full, drains', async (t) => {
  const { partials, groups, release } = gatedPartials();
  const seen: string[] = [];
  const f = new RxFinisher({ partials, onFinished: (r) => void seen.push(r.rx.pktId), limit: 4, group: 2 });
  const rx = (id: string) => ({ pktId: id }) as PartialReceive;
  await f.add(rx('p1'));
  await tick();
  t.deepEqual(groups, [['p1']], 'the first group starts at once');
  await f.add(rx('p2'));
  await f.add(rx('p3'));
  let fourth = false;
  const adding = f.add(rx('p4')).then(() => {
    fourth = true;
  });
  await tick();
  t.is(f.size, 4);
  t.false(fourth, 'full: add() waits');
  release();
  await adding;
  t.true(fourth);
  t.deepEqual(seen, ['p1']);
  await tick();
  t.deepEqual(groups, [['p1'], ['p2', 'p3']], 'what completed meanwhile is one group, of at most 2');
  let drained = false;
  const draining = f.drain().then(() => {
    drained = true;
  });
  release();
  await tick();
  t.deepEqual(groups, [['p1'], ['p2', 'p3'], ['p4']]);
  t.false(drained);
  release();
  await draining;
  t.deepEqual(seen, ['p1', 'p2', 'p3', 'p4']);
  t.is(f.size, 0);
});

// ---------------------------------------------------------------- sessions

const ids = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.length === 52) : []);
const queueDir = (from: TestNode, to: TestNode, xx: 'tx' | 'rx'): string => path.join(from.spool, to.idB32, xx);

/** `n` small file packets from `from` to `to` (nncp-file: quick), returning name → bytes. */
async function queueSmall(from: TestNode, to: TestNode, tag: string, n: number): Promise<Map<string, Buffer>> {
  const sent = new Map<string, Buffer>();
  const src = path.join(from.dir, `src-${tag}`);
  fs.mkdirSync(src, { recursive: true });
  for (let i = 0; i < n; i++) {
    const name = `${tag}${i}`;
    const bytes = randomBytes(700 + i);
    fs.writeFileSync(path.join(src, name), bytes);
    sent.set(name, bytes);
    const r = await runNncp('nncp-file', ['-cfg', from.cfgPath, '-quiet', path.join(src, name), `${to.name}:${name}`], { env: { NNCPNOSYNC: '1' } });
    if (r.code !== 0) throw new Error(`nncp-file: ${r.stderr}`);
  }
  return sent;
}

/** Toss `node`'s rx/ and check every file arrived exactly once with its bytes. */
async function tossedOnce(t: ExecutionContext, node: TestNode, sent: Map<string, Buffer>): Promise<void> {
  const r = await runPigeon(['toss', '-cfg', node.cfgPath, '-quiet']);
  t.is(r.code, 0, r.stderr.toString());
  t.deepEqual(fs.readdirSync(node.incoming).sort(), [...sent.keys()].sort(), 'each file once');
  for (const [name, bytes] of sent) t.deepEqual(fs.readFileSync(path.join(node.incoming, name)), bytes, name);
}

async function session(t: ExecutionContext, alice: TestNode, bob: TestNode, opts: { daemonEnv?: NodeJS.ProcessEnv; daemonArgs?: string[]; callArgs?: string[] } = {}) {
  const port = await freePort();
  const daemon = startPigeon(t, ['daemon', '-cfg', bob.cfgPath, '-quiet', '-bind', `127.0.0.1:${port}`, ...(opts.daemonArgs ?? [])], { env: opts.daemonEnv });
  await listening(port);
  // A short deadline, but long enough for a loaded machine's first answer.
  const call = await runPigeon(['call', '-cfg', alice.cfgPath, '-quiet', '-onlinedeadline', '3', ...(opts.callArgs ?? []), 'bob', `127.0.0.1:${port}`], { timeout: 90_000 });
  return { daemon, call };
}

for (const privsep of [true, false]) {
  test.serial(`pigeon call ↔ pigeon daemon${privsep ? '' : ' (-noprivsep)'}: 60 small packets each way, fsync on`, async (t) => {
    if (!requireNncp(t)) return;
    const { alice, bob } = await makeNodes(await tmpDir(t), ['alice', 'bob']);
    const toBob = await queueSmall(alice, bob, 'a', 60);
    const toAlice = await queueSmall(bob, alice, 'b', 60);
    const extra = privsep ? [] : ['-noprivsep'];
    const { call } = await session(t, alice, bob, { daemonArgs: extra, callArgs: extra });
    t.is(call.code, 0, call.stderr.toString());
    await until(() => ids(queueDir(bob, alice, 'tx')).length === 0, 15_000, 'DONEs at the daemon');
    await until(() => ids(queueDir(bob, alice, 'rx')).length === 60, 15_000, 'all packets at the daemon');
    t.deepEqual(ids(queueDir(alice, bob, 'tx')), []);
    t.is(ids(queueDir(alice, bob, 'rx')).length, 60);
    for (const [from, to] of [[alice, bob], [bob, alice]] as const) {
      t.deepEqual(fs.readdirSync(queueDir(from, to, 'rx')).filter((n) => n.endsWith('.part') || n.endsWith('.nock')), [], 'nothing half-received');
      t.is(ids(path.join(queueDir(from, to, 'rx'), 'hdr')).length, 60, 'an hdr/ file each');
    }
    await tossedOnce(t, alice, toAlice);
    await tossedOnce(t, bob, toBob);
  });
}

for (const point of ['sp-rx-synced', 'sp-rx-renamed', 'sp-rx-dirsynced']) {
  test.serial(`receiving daemon killed at ${point}: a packet leaves tx/ only once durable in rx/; the next session delivers each once`, async (t) => {
    if (!requireNncp(t)) return;
    const { alice, bob } = await makeNodes(await tmpDir(t), ['alice', 'bob']);
    const toBob = await queueSmall(alice, bob, 'a', 60);
    const tx = queueDir(alice, bob, 'tx');
    const rx = queueDir(bob, alice, 'rx');
    const original = new Map(ids(tx).map((id) => [id, fs.readFileSync(path.join(tx, id))]));
    t.is(original.size, 60);
    const { daemon } = await session(t, alice, bob, { daemonArgs: ['-noprivsep'], daemonEnv: { PIGEON_KILLPOINT: point } });
    const died = await Promise.race([daemon.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000))]);
    t.true(died, `the daemon reached ${point}`);
    if (!died) return;
    t.is(daemon.child.signalCode, 'SIGKILL', `the daemon died at ${point}`);
    const left = new Set(ids(tx));
    const placed = new Set(ids(rx));
    t.true(left.size > 0, 'the kill came before the last DONE');
    for (const [id, bytes] of original) {
      if (placed.has(id)) t.deepEqual(fs.readFileSync(path.join(rx, id)), bytes, `${id} in rx/ is whole`);
      else t.true(left.has(id), `${id} gone from tx/ is in rx/`);
    }
    if (point === 'sp-rx-synced') t.is(placed.size, 0, 'nothing renamed before the kill');
    // The next session, without the kill point, finishes the job.
    const again = await session(t, alice, bob);
    t.is(again.call.code, 0, again.call.stderr.toString());
    await until(() => ids(rx).length === 60, 15_000, 'all packets at the daemon');
    t.deepEqual(ids(tx), []);
    t.deepEqual(fs.readdirSync(rx).filter((n) => n.endsWith('.part') || n.endsWith('.nock')), [], 'nothing half-received');
    await tossedOnce(t, bob, toBob);
  });
}
