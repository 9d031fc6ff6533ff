/**
 * Faults on the sync protocol's link: a peer that stalls (after the
 * handshake, mid-packet, or before answering it), garbage bytes, an
 * oversize frame, a replayed handshake. Each time the session is dropped
 * with a log record, nothing of the spool is lost or half-written, and the
 * pigeon daemon goes on serving other nodes (even while a stalled session
 * is still open). Garbage, oversize frames and replays are also thrown at
 * nncp-daemon, to check pigeon drops what the reference drops.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { findNode } from '../src/config/types.js';
import type { Context } from '../src/context.js';
import { callNode } from '../src/sp/call.js';
import { listenDaemon, type Daemon } from '../src/sp/daemon.js';
import { spInitiate, spRespond } from '../src/sp/handshake.js';
import { decodeSpPackets, encodeSpPackets } from '../src/sp/packets.js';
import { lab, type TestNode } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { connect, freePort, listening, logRecords, requireNncp, startNncp, until } from './helpers/util.js';

// Handshake reads and blocked writes give up after 2 s here (the reference's NNCPDEADLINE).
process.env.NNCPDEADLINE = '2';

const b32 = (b: Uint8Array): string => base32Encode(b);

/** Queue a file of `size` random bytes from ctx's node to `to`; its packet id. */
const queue = async (ctx: Context, to: string, size: number): Promise<string> => (await queueFile(ctx, to, `f${size}`, size)).id;

interface World {
  alice: TestNode;
  bob: TestNode;
  carol: TestNode;
  actx: Context;
  bctx: Context;
  cctx: Context;
  daemon: Daemon;
  port: number;
}

/** alice, bob, carol; bob's pigeon daemon on a loopback port. */
async function world(t: ExecutionContext): Promise<World> {
  // `onlinedeadline` 1 s for every neighbour
  const l = await lab(t, ['alice', 'bob', 'carol'], { neighExtra: () => ({ onlinedeadline: 1 }) });
  const { alice, bob, carol } = l.nodes;
  const { alice: actx, bob: bctx, carol: cctx } = l.ctx;
  const daemon = await listenDaemon(bctx, { bind: '127.0.0.1:0', maxConn: 8, nice: 255, noCK: false });
  t.teardown(() => daemon.close());
  return { alice, bob, carol, actx, bctx, cctx, daemon, port: daemon.address.port };
}

/** carol calls bob and exchanges a packet each way: the daemon still serves. */
async function carolStillServed(t: ExecutionContext, w: World, port = w.port): Promise<void> {
  const up = await queue(w.cctx, 'bob', 2000);
  const down = await queue(w.bctx, 'carol', 2000);
  const r = await callNode(w.cctx, { node: findNode(w.cctx.cfg, 'bob'), addr: `127.0.0.1:${port}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.true(r.ok, 'carol is served');
  t.true(fs.existsSync(path.join(w.bob.spool, w.carol.idB32, 'rx', up)));
  t.true(fs.existsSync(path.join(w.carol.spool, w.bob.idB32, 'rx', down)));
}

/** A loopback server for a fake peer; its connections are destroyed at teardown. Resolves with its port. */
async function fakeServer(t: ExecutionContext, onConn: (s: net.Socket) => void): Promise<number> {
  const socks = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    s.on('close', () => socks.delete(s));
    onConn(s);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of socks) s.destroy();
    return new Promise<void>((resolve) => srv.close(() => resolve()));
  });
  return (srv.address() as net.AddressInfo).port;
}

/** Resolve with the time (ms) until the peer closes the socket. */
function closedWithin(sock: net.Socket): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    sock.on('data', () => {});
    sock.on('error', () => {});
    sock.once('close', () => resolve(Date.now() - t0));
  });
}

test('a caller that stalls mid-packet is dropped by the online deadline; others are served meanwhile', async (t) => {
  const w = await world(t);
  const big = await queue(w.bctx, 'alice', 16 << 20);
  const sock = await connect(w.port);
  sock.on('error', () => {});
  const bobForAlice = findNode(w.actx.cfg, 'bob');
  const tr = await spInitiate({ readable: sock, writable: sock }, w.actx.cfg.self!, bobForAlice, new Uint8Array(0));
  const info = decodeSpPackets(tr.peerFirstPayload).find((p) => p.t === 'info');
  t.truthy(info);
  // ask for the 16 MiB packet, then never read: the daemon's writes block
  await tr.send(encodeSpPackets([{ t: 'freq', hash: (info as { hash: Uint8Array }).hash, offset: 0 }]));
  sock.pause();
  const t0 = Date.now();
  // the daemon goes on serving carol while alice's session hangs
  await carolStillServed(t, w);
  await until(() => logRecords(w.bob.log).some((r) => r.who === 'call-finished' && r.fields.get('Node') === w.alice.idB32), 8000, 'the stalled session to end');
  t.true(Date.now() - t0 < 8000);
  t.true(fs.existsSync(path.join(w.bob.spool, w.alice.idB32, 'tx', big)), 'no DONE: bob keeps the packet');
  sock.destroy();
});

test('a caller that stalls after the handshake is dropped; a callee that stalls is left by the caller', async (t) => {
  const w = await world(t);
  // stalled caller: handshake, then nothing at all
  const sock = await connect(w.port);
  sock.on('error', () => {});
  await spInitiate({ readable: sock, writable: sock }, w.actx.cfg.self!, findNode(w.actx.cfg, 'bob'), new Uint8Array(0));
  const closed = closedWithin(sock);
  t.true((await closed) < 5000, 'the daemon hung up after alice\'s onlinedeadline (1 s)');
  await until(() => logRecords(w.bob.log).some((r) => r.who === 'call-finished'), 3000, 'call-finished');

  // stalled callee: a fake daemon that answers the handshake and then says nothing
  const fake = fakeServer(t, (s) => {
    const lookup = (pub: Uint8Array) => (b32(pub) === b32(w.alice.keys.noisePub) ? findNode(w.bctx.cfg, 'alice') : undefined);
    spRespond({ readable: s, writable: s }, w.bctx.cfg.self!, lookup, () => new Uint8Array(0)).catch(() => {});
  });
  const port = await fake;
  const pkt = await queue(w.actx, 'bob', 1000);
  const t0 = Date.now();
  const r = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${port}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.true(Date.now() - t0 < 5000, 'the caller left after its onlinedeadline');
  t.true(r.ok, 'nothing was left half-done');
  t.true(fs.existsSync(path.join(w.alice.spool, w.bob.idB32, 'tx', pkt)), 'no DONE came: the packet stays queued');

  // a daemon that accepts but never answers the handshake: the caller gives up (NNCPDEADLINE)
  const mute = await fakeServer(t, () => {});
  const t1 = Date.now();
  const r2 = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${mute}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.false(r2.ok);
  t.true(Date.now() - t1 < 6000);
  const failed = logRecords(w.alice.log).filter((x) => x.who === 'call-started' && x.fields.has('Err'));
  t.is(failed.length, 1);
  // and a connection that never sends its handshake is dropped by the daemon
  const idle = await connect(w.port);
  t.true((await closedWithin(idle)) < 5000);
  await carolStillServed(t, w);
});

/** A pigeon or nncp daemon for bob in world `w`: its port. */
async function daemonPort(t: ExecutionContext, w: World, impl: 'pigeon' | 'nncp'): Promise<number> {
  if (impl === 'pigeon') return w.port;
  const port = await freePort();
  startNncp(t, 'nncp-daemon', ['-cfg', w.bob.cfgPath, '-quiet', '-bind', `127.0.0.1:${port}`], { env: { NNCPDEADLINE: '2' } });
  await listening(port, 10_000, 'nncp-daemon to start');
  return port;
}

for (const impl of ['pigeon', 'nncp'] as const) {
  test(`${impl} daemon: garbage bytes and an oversize frame are dropped`, async (t) => {
    if (impl === 'nncp' && !requireNncp(t)) return;
    const w = await world(t);
    const port = await daemonPort(t, w, impl);
    const g = await connect(port);
    g.write(randomBytes(4096));
    t.true((await closedWithin(g)) < 3000, 'garbage: connection closed');
    // a frame header announcing 16 MiB: dropped from the header alone, the body is never awaited
    const o = await connect(port);
    const head = Buffer.alloc(12);
    Buffer.from('NNCPS\x00\x00\x01', 'latin1').copy(head);
    head.writeUInt32BE(16 << 20, 8);
    o.write(head);
    o.write(randomBytes(1000));
    t.true((await closedWithin(o)) < 3000, 'oversize frame: connection closed');
    if (impl === 'pigeon') {
      await until(() => logRecords(w.bob.log).filter((r) => r.who === 'sp-startR-read').length >= 2, 3000, 'two records');
      const errs = logRecords(w.bob.log).filter((r) => r.who === 'sp-startR-read').map((r) => r.fields.get('Err') ?? '');
      t.regex(errs.join('\n'), /not an NNCP sync protocol frame/);
      t.regex(errs.join('\n'), /exceeds the limit/);
      await carolStillServed(t, w);
    }
    t.false(fs.existsSync(path.join(w.bob.spool, w.alice.idB32)), 'no spool access for unauthenticated bytes');
  });

  test(`${impl} daemon: a replayed handshake gets nowhere`, async (t) => {
    if (impl === 'nncp' && !requireNncp(t)) return;
    const w = await world(t);
    const port = await daemonPort(t, w, impl);
    const pkt = await queue(w.bctx, 'alice', 3000);
    // record alice's first handshake message on the wire (she asks nothing: -tx)
    const sock = await connect(port);
    sock.on('error', () => {});
    const sent: Buffer[] = [];
    const origWrite = sock.write.bind(sock) as (c: Uint8Array) => boolean;
    (sock as unknown as { write: (c: Uint8Array) => boolean }).write = (c: Uint8Array) => {
      sent.push(Buffer.from(c));
      return origWrite(c);
    };
    const tr = await spInitiate({ readable: sock, writable: sock }, w.actx.cfg.self!, findNode(w.actx.cfg, 'bob'), new Uint8Array(0));
    tr.close();
    sock.destroy();
    const msg1 = Buffer.concat(sent).subarray(0, 12 + Buffer.concat(sent).readUInt32BE(8));
    await new Promise((r) => setTimeout(r, 300));
    // replay it from "somewhere else", then send what we can: garbage in place of transport messages
    const rep = await connect(port);
    rep.on('error', () => {});
    const answer: Buffer[] = [];
    rep.on('data', (b: Buffer) => answer.push(b));
    rep.write(msg1);
    await until(() => Buffer.concat(answer).length >= 12, 3000, 'the daemon to answer the replayed message');
    const frame = Buffer.alloc(12 + 64);
    Buffer.from('NNCPS\x00\x00\x01', 'latin1').copy(frame);
    frame.writeUInt32BE(64, 8);
    randomBytes(64).copy(frame, 12);
    rep.write(frame);
    t.true((await closedWithin(rep)) < 4000, 'dropped at the first message it cannot decrypt');
    t.true(fs.existsSync(path.join(w.bob.spool, w.alice.idB32, 'tx', pkt)), 'nothing was acknowledged by the replayer');
    if (impl === 'pigeon') {
      await until(() => logRecords(w.bob.log).some((r) => r.who === 'sp-recv-wait' && /does not authenticate/.test(r.fields.get('Err') ?? '')), 3000, 'the record');
      await carolStillServed(t, w);
    }
    // the real alice still gets her packet afterwards
    await new Promise((r) => setTimeout(r, 300));
    const r = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${port}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
    t.true(r.ok);
    t.true(fs.existsSync(path.join(w.alice.spool, w.bob.idB32, 'rx', pkt)));
  });
}

test('maxonlinetime ends a busy session; the partial packet resumes next time', async (t) => {
  const w = await world(t);
  const big = await queue(w.bctx, 'alice', 4 << 20);
  const t0 = Date.now();
  // 10 packets per second: 4 MiB would take ~6 s; the session may last 1 s
  const r = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${w.port}`, nice: 255, onlineDeadline: 10, maxOnlineTime: 1, rxRate: 10, txRate: 0, noCK: false });
  t.true(Date.now() - t0 < 4000);
  t.false(r.ok, 'a packet was left half-received');
  const part = path.join(w.alice.spool, w.bob.idB32, 'rx', big + '.part');
  t.true(fs.existsSync(part));
  t.true(fs.statSync(part).size > 0);
  await new Promise((r2) => setTimeout(r2, 300));
  const r2 = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${w.port}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.true(r2.ok);
  await until(() => fs.existsSync(path.join(w.alice.spool, w.bob.idB32, 'rx', big)), 5000, 'the resumed packet');
});
