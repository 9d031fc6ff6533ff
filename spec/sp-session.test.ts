/**
 * The sync session, pigeon on both ends, in-process over loopback TCP:
 * packets both ways in one session, DONE removing the sender's copy, resume
 * from a .part (and a corrupt .part caught by the checksum), INFO for
 * packets queued while the session lives, niceness filtering, -rx/-tx,
 * -nock and `check -nock`, -list, -pkts, one session per node at a time.
 * Against the reference: sp-interop.test.ts; faults: sp-faults.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { check } from '../src/admin/check.js';
import { findNode } from '../src/config/types.js';
import type { Context } from '../src/context.js';
import type { LogRecord } from '../src/log/log.js';
import { callNode, type CallOptions } from '../src/sp/call.js';
import { listenDaemon, type Daemon } from '../src/sp/daemon.js';
import { spInitiate } from '../src/sp/handshake.js';
import { encodeSpPackets } from '../src/sp/packets.js';
import { tossAll, type TossOptions } from '../src/toss/toss.js';
import { lab, nodeContext, saveNode, type TestNode } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { callOptions } from './helpers/sp.js';
import { connect, logRecords, PIGEON_JS, until } from './helpers/util.js';

interface Pair {
  a: TestNode;
  b: TestNode;
  actx: Context;
  bctx: Context;
  daemon: Daemon;
  addr: string;
}

/** alice and bob, bob's daemon on a loopback port. */
async function pair(t: ExecutionContext, daemonNice = 255, noCK = false, autoToss?: TossOptions): Promise<Pair & { c: TestNode }> {
  // the daemon's sessions end when the caller hangs up; its own deadline only matters when a caller stalls
  const { nodes, ctx } = await lab(t, ['alice', 'bob', 'carol'], { neighExtra: () => ({ onlinedeadline: 10 }) });
  const a = nodes.alice;
  const b = nodes.bob;
  const actx = ctx.alice;
  const bctx = ctx.bob;
  const daemon = await listenDaemon(bctx, { bind: '127.0.0.1:0', maxConn: 8, nice: daemonNice, noCK, autoToss });
  t.teardown(() => daemon.close());
  return { a, b, c: nodes.carol, actx, bctx, daemon, addr: `127.0.0.1:${daemon.address.port}` };
}

/** One call from alice to bob's daemon; resolves once both ends have checksummed what they received. */
async function call(p: Pair, extra: Partial<CallOptions> = {}): Promise<{ ok: boolean }> {
  const res = await callNode(p.actx, callOptions(p.actx, 'bob', p.addr, extra));
  await p.daemon.checksIdle();
  return res;
}

const txDir = (from: TestNode, to: TestNode) => path.join(from.spool, to.idB32, 'tx');
const rxDir = (at: TestNode, from: TestNode) => path.join(at.spool, from.idB32, 'rx');
const has = (p: string) => fs.existsSync(p);

function who(n: TestNode, w: string): LogRecord[] {
  return logRecords(n.log).filter((r) => r.who === w);
}

test('packets go both ways in one session; DONE removes the sender copies; toss delivers', async (t) => {
  const p = await pair(t);
  const fa = await queueFile(p.actx, 'bob', 'from-alice.bin', 200_000);
  const fb = await queueFile(p.bctx, 'alice', 'from-bob.bin', 3000);
  const r = await call(p);
  t.true(r.ok);
  // each side received the other's packet under its MTH name, with its hdr/ file
  t.true(has(path.join(rxDir(p.b, p.a), fa.id)));
  t.true(has(path.join(rxDir(p.b, p.a), 'hdr', fa.id)));
  t.true(has(path.join(rxDir(p.a, p.b), fb.id)));
  t.false(has(path.join(rxDir(p.a, p.b), fb.id + '.part')));
  // DONE removed the senders' copies and their hdr/ files
  await until(() => !has(path.join(txDir(p.b, p.a), fb.id)));
  t.false(has(path.join(txDir(p.a, p.b), fa.id)));
  t.false(has(path.join(txDir(p.a, p.b), 'hdr', fa.id)));
  t.false(has(path.join(txDir(p.b, p.a), 'hdr', fb.id)));
  // one session, with the reference's records on both sides
  t.is(who(p.a, 'call-started').length, 1);
  t.is(who(p.a, 'call-finished').length, 1);
  t.deepEqual(who(p.a, 'call-started')[0].fields.get('Addr'), p.addr);
  t.is(who(p.a, 'sp-done')[0].fields.get('Pkt'), fa.id);
  t.is(who(p.a, 'sp-file-done')[0].fields.get('Pkt'), fb.id);
  t.is(who(p.a, 'sp-file-done')[0].fields.get('FullSize'), String(fs.statSync(path.join(rxDir(p.a, p.b), fb.id)).size));
  await until(() => who(p.b, 'call-finished').length === 1);
  t.is(who(p.b, 'sp-file-done')[0].fields.get('Pkt'), fa.id);
  t.is(who(p.b, 'sp-done')[0].fields.get('Pkt'), fb.id);
  t.regex(who(p.b, 'call-started')[0].fields.get('Msg')!, /^Connection with alice \(127\.0\.0\.1:\d+\)$/);
  t.is(who(p.a, 'sp-infos-tx')[0].fields.get('Pkts'), '1');
  t.is(who(p.a, 'sp-infos-rx')[0].fields.get('Pkts'), '1');
  // delivered by toss afterwards
  t.true((await tossAll(p.bctx)).ok);
  t.true((await tossAll(p.actx)).ok);
  t.deepEqual(fs.readFileSync(path.join(p.b.incoming, 'from-alice.bin')), fa.data);
  t.deepEqual(fs.readFileSync(path.join(p.a.incoming, 'from-bob.bin')), fb.data);
});

test('a .part resumes from its size and is checked in the background; a corrupt one is caught, discarded and fetched again', async (t) => {
  const p = await pair(t);
  const good = await queueFile(p.actx, 'bob', 'resumed.bin', 700_000);
  const bad = await queueFile(p.actx, 'bob', 'corrupt.bin', 300_000);
  const goodSrc = fs.readFileSync(path.join(txDir(p.a, p.b), good.id));
  const badSrc = fs.readFileSync(path.join(txDir(p.a, p.b), bad.id));
  fs.mkdirSync(rxDir(p.b, p.a), { recursive: true });
  // a previous session got 333333 bytes of each (not a leaf boundary); one of them got damaged
  fs.writeFileSync(path.join(rxDir(p.b, p.a), good.id + '.part'), goodSrc.subarray(0, 333_333));
  const damaged = Buffer.from(badSrc.subarray(0, 200_001));
  damaged[1000] ^= 0xff;
  fs.writeFileSync(path.join(rxDir(p.b, p.a), bad.id + '.part'), damaged);

  const r = await call(p);
  t.true(r.ok);
  await until(() => who(p.b, 'sp-checker-done').length === 1 && who(p.b, 'sp-checker').length === 1);
  const infos = who(p.b, 'sp-info');
  t.is(infos.find((i) => i.fields.get('Pkt') === good.id)?.fields.get('Offset'), '333333');
  t.is(infos.find((i) => i.fields.get('Pkt') === bad.id)?.fields.get('Offset'), '200001');
  // the good one: resumed, downloaded, checksummed, renamed, identical
  t.deepEqual(fs.readFileSync(path.join(rxDir(p.b, p.a), good.id)), goodSrc);
  t.is(who(p.b, 'sp-checker-done')[0].fields.get('Pkt'), good.id);
  // the bad one: its damaged copy never becomes a packet; it is discarded (never stuck as .nock)
  // and fetched again whole (in the same session if it still runs, else the next)
  t.is(who(p.b, 'sp-checker')[0].fields.get('Err'), 'checksum mismatch');
  await until(() => who(p.b, 'sp-file-refetch').length === 1);
  t.regex(who(p.b, 'sp-file-refetch')[0].fields.get('Msg')!, /corrupted copy discarded; (fetching it again|it is fetched again in a later session)/);
  // DONE for either reaches alice only if it was settled inside the session;
  // a second call settles it either way ("already done")
  await call(p);
  t.false(has(path.join(rxDir(p.b, p.a), bad.id + '.nock')));
  t.deepEqual(fs.readFileSync(path.join(rxDir(p.b, p.a), bad.id)), badSrc);
  t.false(has(path.join(txDir(p.a, p.b), good.id)));
  await until(() => !has(path.join(txDir(p.a, p.b), bad.id)), 10_000, 'the DONE for the refetched one');
  t.is(who(p.b, 'sp-file-refetch').length, 1, 'discarded once');
  t.true((await tossAll(p.bctx)).ok);
  t.deepEqual(fs.readFileSync(path.join(p.b.incoming, 'resumed.bin')), good.data);
  t.deepEqual(fs.readFileSync(path.join(p.b.incoming, 'corrupt.bin')), bad.data);
});

test('packets queued while the session lives are announced and sent (both roles)', async (t) => {
  const p = await pair(t);
  const pending = call(p, { onlineDeadline: 4 });
  await until(() => p.daemon.active() === 1 && who(p.a, 'call-started').length === 1);
  const late = await queueFile(p.actx, 'bob', 'late-from-alice.txt', 5000);
  const lateB = await queueFile(p.bctx, 'alice', 'late-from-bob.txt', 5000);
  t.true((await pending).ok);
  t.true(has(path.join(rxDir(p.b, p.a), late.id)));
  t.true(has(path.join(rxDir(p.a, p.b), lateB.id)));
  t.false(has(path.join(txDir(p.a, p.b), late.id)));
  t.is(who(p.a, 'call-started').length, 1, 'all in the one session');
});

test('niceness: the caller and the daemon move only packets at least as urgent as their -nice', async (t) => {
  const p = await pair(t, 100);
  const urgentA = await queueFile(p.actx, 'bob', 'ua', 1000, 64);
  const bulkA = await queueFile(p.actx, 'bob', 'ba', 1000, 224);
  const urgentB = await queueFile(p.bctx, 'alice', 'ub', 1000, 64);
  const mediumB = await queueFile(p.bctx, 'alice', 'mb', 1000, 96);
  const bulkB = await queueFile(p.bctx, 'alice', 'bb', 1000, 224);
  // the caller accepts up to 96 (P), the daemon serves up to 100
  t.true((await call(p, { nice: 96 })).ok);
  t.true(has(path.join(rxDir(p.b, p.a), urgentA.id)));
  t.false(has(path.join(rxDir(p.b, p.a), bulkA.id)), 'too nice for the daemon');
  t.true(has(path.join(rxDir(p.a, p.b), urgentB.id)));
  t.true(has(path.join(rxDir(p.a, p.b), mediumB.id)));
  t.false(has(path.join(rxDir(p.a, p.b), bulkB.id)), 'too nice for both');
  t.true(has(path.join(txDir(p.a, p.b), bulkA.id)));
  t.true(has(path.join(txDir(p.b, p.a), bulkB.id)));
});

test('-rx only receives, -tx only transmits', async (t) => {
  const p = await pair(t);
  const fa = await queueFile(p.actx, 'bob', 'a1', 1000);
  const fb = await queueFile(p.bctx, 'alice', 'b1', 1000);
  t.true((await call(p, { xx: 'rx' })).ok);
  t.true(has(path.join(rxDir(p.a, p.b), fb.id)));
  t.false(has(path.join(rxDir(p.b, p.a), fa.id)));
  t.true(has(path.join(txDir(p.a, p.b), fa.id)));
  const fb2 = await queueFile(p.bctx, 'alice', 'b2', 1000);
  t.true((await call(p, { xx: 'tx' })).ok);
  t.true(has(path.join(rxDir(p.b, p.a), fa.id)));
  t.false(has(path.join(rxDir(p.a, p.b), fb2.id)));
  t.true(has(path.join(txDir(p.b, p.a), fb2.id)));
});

test('-nock leaves .nock files and no DONE; check -nock settles them and the next call tells the sender', async (t) => {
  const p = await pair(t);
  const fb = await queueFile(p.bctx, 'alice', 'nock.bin', 150_000);
  const src = fs.readFileSync(path.join(txDir(p.b, p.a), fb.id));
  t.true((await call(p, { noCK: true })).ok);
  const rx = rxDir(p.a, p.b);
  t.true(has(path.join(rx, fb.id + '.nock')));
  t.false(has(path.join(rx, fb.id)));
  t.is(who(p.a, 'sp-file-downloaded')[0].fields.get('Pkt'), fb.id);
  t.true(has(path.join(txDir(p.b, p.a), fb.id)), 'no DONE without a checksum');
  const res = await check(p.actx, { nock: true, report: () => {} });
  t.deepEqual(res.settled, [fb.id]);
  t.true((await call(p)).ok);
  t.is(who(p.a, 'sp-info-done')[0].fields.get('Pkt'), fb.id);
  await until(() => !has(path.join(txDir(p.b, p.a), fb.id)));
  t.deepEqual(fs.readFileSync(path.join(rx, fb.id)), src);
});

test('a .nock left by an earlier -nock session is checked at the next session and acknowledged', async (t) => {
  const p = await pair(t);
  const fb = await queueFile(p.bctx, 'alice', 'later.bin', 50_000);
  t.true((await call(p, { noCK: true })).ok);
  t.true(has(path.join(rxDir(p.a, p.b), fb.id + '.nock')));
  t.true((await call(p, { onlineDeadline: 2 })).ok);
  t.true(has(path.join(rxDir(p.a, p.b), fb.id)));
  t.is(who(p.a, 'sp-checker-done')[0].fields.get('Pkt'), fb.id);
  await until(() => !has(path.join(txDir(p.b, p.a), fb.id)));
});

test('-list only lists; -pkts fetches only the packets named', async (t) => {
  const p = await pair(t);
  const one = await queueFile(p.bctx, 'alice', 'one', 1000);
  const two = await queueFile(p.bctx, 'alice', 'two', 1000);
  await call(p, { listOnly: true });
  const listed = who(p.a, 'sp-info').map((r) => r.fields.get('Pkt')).sort();
  t.deepEqual(listed, [one.id, two.id].sort());
  t.false(has(path.join(rxDir(p.a, p.b), one.id)));
  t.false(has(path.join(rxDir(p.a, p.b), two.id)));
  t.true((await call(p, { pkts: [two.id] })).ok);
  t.true(has(path.join(rxDir(p.a, p.b), two.id)));
  t.false(has(path.join(rxDir(p.a, p.b), one.id)));
});

test('a second session with the same node is refused while one runs', async (t) => {
  const p = await pair(t);
  // alice's keys with a spool of their own: a second machine claiming to be alice
  const clone: TestNode = { ...p.a, cfgPath: path.join(p.a.dir, 'clone.hjson'), spool: path.join(p.a.dir, 'clone-spool'), log: path.join(p.a.dir, 'clone-log'), raw: { ...p.a.raw } };
  clone.raw.spool = clone.spool;
  clone.raw.log = clone.log;
  fs.mkdirSync(clone.spool);
  await saveNode(clone);
  const cctx = await nodeContext(clone);
  // the first session: alice's handshake, kept alive with HALTs for as long as the test needs
  const sock = await connect(p.daemon.address.port);
  sock.on('error', () => {});
  const first = await spInitiate({ readable: sock, writable: sock }, p.actx.cfg.self!, findNode(p.actx.cfg, 'bob'), new Uint8Array(0));
  const keepAlive = setInterval(() => void first.send(encodeSpPackets([{ t: 'halt' }])).catch(() => {}), 300);
  t.teardown(() => clearInterval(keepAlive));
  await until(() => p.daemon.active() === 1 && who(p.b, 'call-started').length === 1);
  const second = await callNode(cctx, { node: findNode(cctx.cfg, 'bob'), addr: p.addr, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.false(second.ok);
  t.is(p.daemon.active(), 1, 'the first session goes on');
  clearInterval(keepAlive);
  first.close();
  await until(() => p.daemon.active() === 0);
  t.true(who(p.b, 'lockdir-flock').length >= 1);
  t.truthy(who(p.b, 'call-started').find((r) => r.fields.get('Msg') === 'Connected to alice'));
  t.is(who(clone, 'call-started')[0].fields.has('Err'), true);
});

test('many nodes at once: alice and carol in sessions with the daemon at the same time', async (t) => {
  const p = await pair(t);
  const cctx = await nodeContext(p.c);
  const fa = await queueFile(p.bctx, 'alice', 'to-alice', 100_000);
  const fc = await queueFile(p.bctx, 'carol', 'to-carol', 100_000);
  const both = Promise.all([
    call(p, { onlineDeadline: 2 }),
    callNode(cctx, { node: findNode(cctx.cfg, 'bob'), addr: p.addr, nice: 255, onlineDeadline: 2, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false }),
  ]);
  await until(() => p.daemon.active() === 2);
  const [ra, rc] = await both;
  t.true(ra.ok && rc.ok);
  t.true(has(path.join(rxDir(p.a, p.b), fa.id)));
  t.true(has(path.join(p.c.spool, p.b.idB32, 'rx', fc.id)));
});

test('-autotoss delivers during the session, on both ends', async (t) => {
  const p = await pair(t, 255, false, {});
  await queueFile(p.actx, 'bob', 'auto-to-bob.txt', 1000);
  await queueFile(p.bctx, 'alice', 'auto-to-alice.txt', 1000);
  t.true((await call(p, { autoToss: {} })).ok);
  t.true(has(path.join(p.a.incoming, 'auto-to-alice.txt')), 'tossed by the caller');
  await until(() => has(path.join(p.b.incoming, 'auto-to-bob.txt')), 5000);
  t.deepEqual(fs.readdirSync(rxDir(p.a, p.b)).filter((n) => n.length === 52), [], 'tossed packets leave rx/');
});

test('|command address: the link is a child process (pigeon daemon -ucspi on its stdin/stdout)', async (t) => {
  const p = await pair(t);
  const fa = await queueFile(p.actx, 'bob', 'piped.bin', 70_000);
  const fb = await queueFile(p.bctx, 'alice', 'piped-back.bin', 70_000);
  const cmd = `|'${process.execPath}' '${PIGEON_JS}' daemon -ucspi -cfg '${p.b.cfgPath}'`;
  // The daemon here is a fresh node process: on a loaded machine it can idle past a 1 s deadline while it loads.
  t.true((await call(p, { addr: cmd, onlineDeadline: 3 })).ok);
  t.true(has(path.join(rxDir(p.b, p.a), fa.id)));
  t.true(has(path.join(rxDir(p.a, p.b), fb.id)));
  await until(() => who(p.b, 'call-finished').length === 1);
  t.is(who(p.b, 'call-started')[0].fields.get('Msg'), 'Connection with alice (PIPE)');
  t.is(who(p.a, 'call-started')[0].fields.get('Addr'), cmd);
});

test('-ucspi: the caller talks over descriptors 6/7, the daemon over stdin/stdout', async (t) => {
  const p = await pair(t);
  const fa = await queueFile(p.actx, 'bob', 'ucspi-up', 3000);
  const fb = await queueFile(p.bctx, 'alice', 'ucspi-down', 3000);
  const env = { ...process.env, PROTO: 'TCP', TCPREMOTEIP: '192.0.2.7', TCPREMOTEPORT: '4242' };
  const d = spawn(process.execPath, [PIGEON_JS, 'daemon', '-ucspi', '-cfg', p.b.cfgPath], { stdio: ['pipe', 'pipe', 'ignore'], env });
  t.teardown(() => void d.kill('SIGKILL'));
  await new Promise((resolve) => d.once('spawn', resolve));
  const c = spawn(process.execPath, [PIGEON_JS, 'call', '-ucspi', '-quiet', '-onlinedeadline', '1', '-cfg', p.a.cfgPath, 'bob'], {
    stdio: ['ignore', 'ignore', 'ignore', 'ignore', 'ignore', 'ignore', d.stdout!, d.stdin!],
    env,
  });
  t.teardown(() => void c.kill('SIGKILL'));
  const code = await new Promise<number | null>((resolve) => c.once('exit', resolve));
  t.is(code, 0);
  t.true(has(path.join(rxDir(p.b, p.a), fa.id)));
  t.true(has(path.join(rxDir(p.a, p.b), fb.id)));
  t.is(who(p.a, 'call-started')[0].fields.get('Addr'), '[192.0.2.7]:4242');
  await until(() => who(p.b, 'call-finished').length === 1);
  t.is(who(p.b, 'call-started')[0].fields.get('Msg'), 'Connection with alice ([192.0.2.7]:4242)');
});
