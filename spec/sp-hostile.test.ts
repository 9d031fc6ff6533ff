/**
 * What an authenticated neighbour can do to a daemon (issue 9, items
 * 11-17): a scripted peer completes the real handshake as alice and then
 * misbehaves. FILE only lands at the end of a requested .part (no sparse
 * files, no huge checksums); an INFO flood is bounded in what it queues and
 * logs; SIGTERM stops a real `pigeon daemon` in the middle of a checksum,
 * the .nock is checked next time; -maxconn bounds the waiting connections;
 * a corrupted copy is fetched again once; the daemon's Noise key is one
 * object made at start and the handshake wipes its temporary keys; a caller
 * that half-closes after its first message still gets the reply.
 */
import test, { type ExecutionContext } from 'ava';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { base32Decode, base32Encode } from '../src/codec/base32.js';
import { findNode } from '../src/config/types.js';
import type { Context } from '../src/context.js';
import { x25519Keypair } from '../src/crypto/ecc.js';
import { MTH } from '../src/crypto/mth.js';
import { encodeEncHeader } from '../src/packet/header.js';
import { callNode } from '../src/sp/call.js';
import { listenDaemon, type Daemon } from '../src/sp/daemon.js';
import { encodeFrame } from '../src/sp/frame.js';
import { spInitiate, type SpTransport } from '../src/sp/handshake.js';
import { CipherState, HandshakeState, StaticKey } from '../src/sp/noise.js';
import { decodeSpPackets, encodeSpPackets, groupPayloads, padWithHalts, type SpPacket } from '../src/sp/packets.js';
import { INFO_LOG_BURST, MAX_PEER_INFOS } from '../src/sp/session.js';
import { lab, type TestNode } from './helpers/nncp.js';
import { connect, freePort, listening, logRecords, startPigeon, until } from './helpers/util.js';

// Handshake reads, blocked writes and parked connections give up after 6 s here
// (the machine running the tests may be busy).
process.env.NNCPDEADLINE = '6';

const TiB = 2 ** 40;

interface World {
  alice: TestNode;
  bob: TestNode;
  actx: Context;
  bctx: Context;
  daemon: Daemon;
  port: number;
}

async function world(t: ExecutionContext, maxConn = 4): Promise<World> {
  const l = await lab(t, ['alice', 'bob'], { neighExtra: () => ({ onlinedeadline: 10 }) });
  const daemon = await listenDaemon(l.ctx.bob, { bind: '127.0.0.1:0', maxConn, nice: 255, noCK: false });
  t.teardown(() => daemon.close());
  return { alice: l.nodes.alice, bob: l.nodes.bob, actx: l.ctx.alice, bctx: l.ctx.bob, daemon, port: daemon.address.port };
}

/** Alice's side of a session she scripts by hand: what bob sends is collected as it comes. */
interface Peer {
  tr: SpTransport;
  sock: net.Socket;
  got: SpPacket[];
  send(pkts: SpPacket[]): Promise<void>;
  freqs(id: string): number[];
  /** Resolves once bob has processed everything sent before (he answers an INFO of a fresh packet with FREQ). */
  barrier(): Promise<void>;
}

async function peer(t: ExecutionContext, w: World, port = w.port): Promise<Peer> {
  const sock = await connect(port);
  sock.on('error', () => {});
  t.teardown(() => void sock.destroy());
  const tr = await spInitiate({ readable: sock, writable: sock }, w.actx.cfg.self!, findNode(w.actx.cfg, 'bob'), new Uint8Array(0), { deadlineMs: 120_000 });
  const got: SpPacket[] = [];
  void (async () => {
    for (;;) {
      const pl = await tr.receive().catch(() => null);
      if (pl === null) return;
      // copies: the packets are views of a payload buffer
      for (const p of decodeSpPackets(pl)) got.push('hash' in p ? { ...p, hash: Uint8Array.from(p.hash) } as SpPacket : p);
    }
  })();
  const freqs = (id: string): number[] =>
    got.filter((p) => p.t === 'freq' && base32Encode(p.hash) === id).map((p) => Number((p as { offset: bigint | number }).offset));
  const send = async (pkts: SpPacket[]): Promise<void> => {
    for (const pl of groupPayloads(pkts.map((p) => encodeSpPackets([p])))) await tr.send(pl);
  };
  return {
    tr,
    sock,
    got,
    send,
    freqs,
    async barrier() {
      const hash = randomBytes(32);
      await send([{ t: 'info', nice: 1, size: 1000, hash }]);
      await until(() => freqs(base32Encode(hash)).length > 0, 10_000, 'bob to answer the barrier INFO');
    },
  };
}

/** Bytes that pass for a packet from alice to bob (a header, then noise) and their id. */
function packet(w: World, size: number): { id: string; hash: Uint8Array; data: Buffer } {
  const head = encodeEncHeader({ nice: 96, sender: base32Decode(w.alice.idB32)!, recipient: base32Decode(w.bob.idB32)!, exchPub: randomBytes(32), signature: randomBytes(64) });
  const data = Buffer.concat([head, randomBytes(size - head.length)]);
  const hash = new MTH().update(data).digest();
  return { id: base32Encode(hash), hash, data };
}

const rxDir = (w: World): string => path.join(w.bob.spool, w.alice.idB32, 'rx');
const records = (w: World, who: string) => logRecords(w.bob.log).filter((r) => r.who === who);

test.serial('11: an INFO of 1 TiB is refused and its FILE at 1 TiB - 8 writes nothing; FILE lands only at the end of the .part', async (t) => {
  const w = await world(t);
  const p = await peer(t, w);
  const huge = randomBytes(32);
  const hugeId = base32Encode(huge);
  await p.send([{ t: 'info', nice: 1, size: TiB, hash: huge }]);
  await p.send([{ t: 'file', hash: huge, offset: TiB - 8, payload: randomBytes(8) }]);
  await p.barrier();
  t.deepEqual(p.freqs(hugeId), [], 'no FREQ for what the spool cannot hold');
  t.false(fs.readdirSync(rxDir(w)).some((f) => f.startsWith(hugeId)), 'no .part, no .nock: nothing sparse');
  t.is(records(w, 'sp-info-no-space').length, 1);
  const open = records(w, 'sp-file-open');
  t.is(open.length, 1);
  t.is(open[0].fields.get('Err'), 'not requested');

  // a packet we did request: chunks beyond the end are refused (logged once), repeats are trimmed
  const pk = packet(w, 100_000);
  await p.send([{ t: 'info', nice: 96, size: pk.data.length, hash: pk.hash }]);
  await until(() => p.freqs(pk.id).length === 1);
  t.deepEqual(p.freqs(pk.id), [0]);
  const chunk = (from: number, to: number): SpPacket => ({ t: 'file', hash: pk.hash, offset: from, payload: pk.data.subarray(from, to) });
  await p.send([chunk(50_000, 51_000), chunk(60_000, 61_000), chunk(0, 1000), chunk(500, 1500), chunk(200, 700)]);
  await p.barrier();
  const part = path.join(rxDir(w), pk.id + '.part');
  t.deepEqual(fs.readFileSync(part), pk.data.subarray(0, 1500), 'only in-order bytes, nothing beyond the end');
  const refused = records(w, 'sp-file-offset');
  t.is(refused.length, 1, 'logged once per packet');
  t.is(refused[0].fields.get('Offset'), '50000');
  // the rest in order: hashed as it came, so no second reading, and DONE
  const rest: SpPacket[] = [];
  for (let off = 1500; off < pk.data.length; off += 30_000) rest.push(chunk(off, Math.min(off + 30_000, pk.data.length)));
  await p.send(rest);
  await until(() => p.got.some((x) => x.t === 'done' && base32Encode(x.hash) === pk.id), 10_000, 'DONE');
  t.deepEqual(fs.readFileSync(path.join(rxDir(w), pk.id)), pk.data);
  t.is(records(w, 'sp-checker').length, 0, 'no background checksum was needed');
  const t0 = Date.now();
  await w.daemon.close();
  t.true(Date.now() - t0 < 3000);
});

test.serial('12: an INFO flood of 200,000 is bounded: MAX_PEER_INFOS requests, a few hundred KB of log', async (t) => {
  const n = 200_000;
  const infos: SpPacket[] = [];
  for (let i = 0; i < n; i++) infos.push({ t: 'info', nice: 1, size: 1000, hash: randomBytes(32) });
  // and one packet announced 1,000 times over
  const same = randomBytes(32);
  for (let i = 0; i < 1000; i++) infos.splice(i * 7, 0, { t: 'info', nice: 1, size: 1000, hash: same });
  // made beforehand, so that sending leaves time to read bob's FREQs
  const payloads = groupPayloads(infos.map((x) => encodeSpPackets([x])));
  const w = await world(t);
  const p = await peer(t, w);
  const logBefore = fs.statSync(w.bob.log).size;
  for (const pl of payloads) await p.tr.send(pl);
  await until(() => p.got.filter((x) => x.t === 'freq').length >= MAX_PEER_INFOS, 120_000, 'the FREQs');
  await new Promise((r) => setTimeout(r, 500));
  t.is(p.got.filter((x) => x.t === 'freq').length, MAX_PEER_INFOS, 'requests stop at the limit');
  t.is(p.freqs(base32Encode(same)).length, 1, 'a repeated INFO is answered once');
  p.sock.destroy();
  await until(() => records(w, 'call-finished').length === 1, 10_000, 'the session to end');
  const grown = fs.statSync(w.bob.log).size - logBefore;
  t.log(`log grew by ${grown} bytes for ${n + 1000} INFOs`);
  t.true(grown < 1_000_000, `log grew by ${grown} bytes`);
  t.is(records(w, 'sp-info').length, INFO_LOG_BURST, 'sp-info records stop at the burst');
  const limit = records(w, 'sp-info-limit');
  t.is(limit.length, 2, 'one line when the limit is reached, one with the count at the end');
  t.is(limit[1].fields.get('Pkts'), String(n + 1 - MAX_PEER_INFOS));
  t.true(records(w, 'sp-log-limit').some((r) => r.fields.get('Kind') === 'sp-info' && r.fields.has('Suppressed')));
});

/** Write a fake packet of `size` bytes from alice as bob's rx/<id>.nock without holding it in memory; its id. */
function bigNock(w: World, size: number): string {
  const head = encodeEncHeader({ nice: 96, sender: base32Decode(w.alice.idB32)!, recipient: base32Decode(w.bob.idB32)!, exchPub: randomBytes(32), signature: randomBytes(64) });
  fs.mkdirSync(rxDir(w), { recursive: true });
  const tmp = path.join(rxDir(w), 'big.tmp');
  const fd = fs.openSync(tmp, 'w');
  const mth = new MTH();
  fs.writeSync(fd, head);
  mth.update(head);
  const block = randomBytes(16 << 20);
  for (let left = size - head.length; left > 0; left -= block.length) {
    const b = block.subarray(0, Math.min(left, block.length));
    block[0]++; // not one block repeated
    fs.writeSync(fd, b);
    mth.update(b);
  }
  fs.closeSync(fd);
  const id = base32Encode(mth.digest());
  fs.renameSync(tmp, path.join(rxDir(w), id + '.nock'));
  return id;
}

test.serial('13: SIGTERM stops a pigeon daemon within 3 s in the middle of checksumming a .nock; the next session checks what is left', async (t) => {
  const w = await world(t);
  await w.daemon.close(); // bob's daemon is a real process here
  // a real 256 MiB .nock, and a 64 GiB sparse one whose check takes far longer than 3 s
  const id = bigNock(w, 256 << 20);
  const nock = path.join(rxDir(w), id + '.nock');
  const head = encodeEncHeader({ nice: 96, sender: base32Decode(w.alice.idB32)!, recipient: base32Decode(w.bob.idB32)!, exchPub: randomBytes(32), signature: randomBytes(64) });
  const sparseId = base32Encode(randomBytes(32));
  const sparse = path.join(rxDir(w), sparseId + '.nock');
  fs.writeFileSync(sparse, head);
  fs.truncateSync(sparse, 64 * 2 ** 30);
  const port = await freePort();
  const d = startPigeon(t, ['daemon', '-cfg', w.bob.cfgPath, '-debug', '-bind', `127.0.0.1:${port}`]);
  await listening(port, 15_000, 'pigeon daemon to start');
  const call = callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${port}`, nice: 255, onlineDeadline: 30, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  await until(() => d.stderr().includes(`Checksumming alice/rx/${sparseId}`), 30_000, 'the check of the sparse .nock to start');
  await new Promise((r) => setTimeout(r, 200)); // well into it
  const t0 = Date.now();
  d.child.kill('SIGTERM');
  const code = await d.exited;
  const took = Date.now() - t0;
  t.log(`exited ${took} ms after SIGTERM`);
  t.true(took < 3000, `exited after ${took} ms`);
  t.is(code, 0);
  t.true(d.stderr().includes(`Checksumming alice/rx/${sparseId}: interrupted, checked again next time`));
  await call;
  t.true(fs.existsSync(sparse), 'the interrupted .nock is still there');
  t.is(fs.statSync(sparse).size, 64 * 2 ** 30);
  t.true(fs.existsSync(nock) || fs.existsSync(path.join(rxDir(w), id)), 'the real one was checked or is still waiting');
  // the next session checks what is left (without the sparse one: its check takes long)
  fs.unlinkSync(sparse);
  const again = await listenDaemon(w.bctx, { bind: '127.0.0.1:0', maxConn: 4, nice: 255, noCK: false });
  t.teardown(() => again.close());
  const r = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${again.address.port}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.true(r.ok);
  await again.checksIdle();
  t.true(fs.existsSync(path.join(rxDir(w), id)));
  t.false(fs.existsSync(nock));
});

/** Milliseconds until the daemon closes the connection (what it sends is ignored). */
async function msToClose(sock: net.Socket): Promise<number> {
  const t0 = Date.now();
  sock.resume();
  sock.on('error', () => {});
  await once(sock, 'close');
  return Date.now() - t0;
}

test.serial('14: -maxconn 1: one session, one waiting connection (dropped after the deadline), the rest closed at once', async (t) => {
  const w = await world(t, 1);
  const p = await peer(t, w); // the one session (alice stays silent: onlinedeadline 10 s)
  await until(() => w.daemon.active() === 1);
  const waiting = await connect(w.port);
  const extra = await Promise.all([1, 2, 3, 4, 5].map(() => connect(w.port)));
  const times = await Promise.all(extra.map(msToClose));
  t.true(times.every((ms) => ms < 1000), `beyond the waiting one, closed at once: ${times.join(', ')} ms`);
  t.true((await msToClose(waiting)) < 10_000, 'the waiting one is closed after the handshake deadline (6 s)');
  t.is(records(w, 'daemon-busy').length, 5);
  // a waiting connection is served once the slot frees
  const next = connect(w.port);
  p.sock.destroy();
  const s = await next;
  s.destroy();
  await until(() => w.daemon.active() === 0, 5000, 'the sessions to end');
  const r = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${w.port}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.true(r.ok, 'served again');
});

test.serial('15: a FILE that fails its checksum is discarded and fetched again once; after a second failure it waits for the next session', async (t) => {
  const w = await world(t);
  const p = await peer(t, w);
  const pk = packet(w, 20_000);
  const wrong = Buffer.from(pk.data);
  wrong[10_000] ^= 1;
  await p.send([{ t: 'info', nice: 96, size: pk.data.length, hash: pk.hash }]);
  await until(() => p.freqs(pk.id).length === 1);
  await p.send([{ t: 'file', hash: pk.hash, offset: 0, payload: wrong }]);
  await until(() => p.freqs(pk.id).length === 2, 5000, 'the second FREQ');
  t.deepEqual(p.freqs(pk.id), [0, 0], 'fetched again from the start');
  t.false(fs.existsSync(path.join(rxDir(w), pk.id + '.part')), 'the bad copy is gone');
  await p.send([{ t: 'file', hash: pk.hash, offset: 0, payload: wrong }]);
  await until(() => records(w, 'sp-file-refetch').length === 2, 5000, 'the second record');
  await p.barrier();
  t.is(p.freqs(pk.id).length, 2, 'once per session');
  t.regex(records(w, 'sp-file-refetch')[1].fields.get('Msg')!, /fetched again in a later session/);
  t.false(fs.readdirSync(rxDir(w)).some((f) => f.startsWith(pk.id)), 'nothing left of it');
  t.is(records(w, 'sp-file-bad-checksum').length, 2);
});

test.serial('16: the handshake zeroes its chaining key and cipher key and drops its ephemeral key once split', (t) => {
  const staticKey = (): StaticKey => {
    const k = x25519Keypair();
    return new StaticKey(k.prv, k.pub);
  };
  const a = staticKey();
  const b = staticKey();
  const init = new HandshakeState({ pattern: 'IK', initiator: true, s: a, rs: b.pub });
  const resp = new HandshakeState({ pattern: 'IK', initiator: false, s: b });
  resp.readMessage(init.writeMessage(new Uint8Array(0)));
  init.readMessage(resp.writeMessage(new Uint8Array(0)));
  type Inside = { ss: { ck: Uint8Array; cs: CipherState }; e?: unknown };
  const before = Uint8Array.from((init as unknown as Inside).ss.ck);
  t.true(before.some((x) => x !== 0));
  const [i2r] = init.split();
  const [ri2r] = resp.split();
  for (const hs of [init, resp]) {
    const inside = hs as unknown as Inside;
    t.true(inside.ss.ck.every((x) => x === 0), 'chaining key zeroed');
    t.false(inside.ss.cs.hasKey(), 'handshake cipher key gone');
    t.is(inside.e, undefined, 'ephemeral key dropped');
    t.throws(() => hs.split(), { message: /twice/ });
  }
  t.is(init.handshakeHash().length, 64, 'the (public) handshake hash stays');
  const m = randomBytes(40);
  t.deepEqual(Buffer.from(ri2r.decryptWithAd(new Uint8Array(0), i2r.encryptWithAd(new Uint8Array(0), m))), m, 'the transport keys work');
});

test.serial('16: the daemon holds one Noise key object, made at start: wiping the config copy afterwards changes nothing', async (t) => {
  const w = await world(t);
  w.bctx.cfg.self!.noisePrv!.fill(0);
  const r = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${w.port}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.true(r.ok);
  const r2 = await callNode(w.actx, { node: findNode(w.actx.cfg, 'bob'), addr: `127.0.0.1:${w.port}`, nice: 255, onlineDeadline: 1, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false });
  t.true(r2.ok);
});

test.serial('17: a caller that half-closes right after its first handshake message still gets the reply', async (t) => {
  const w = await world(t);
  const sock = await connect(w.port);
  sock.on('error', () => {});
  const self = w.actx.cfg.self!;
  const hs = new HandshakeState({ pattern: 'IK', initiator: true, s: { prv: self.noisePrv!, pub: self.noisePub! }, rs: findNode(w.actx.cfg, 'bob').noisePub });
  const chunks: Buffer[] = [];
  sock.on('data', (b: Buffer) => chunks.push(b));
  const ended = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.end(encodeFrame(hs.writeMessage(padWithHalts(new Uint8Array(0)))));
  await ended;
  const all = Buffer.concat(chunks);
  t.true(all.length >= 12, `got ${all.length} bytes`);
  const len = all.readUInt32BE(8);
  t.true(all.length >= 12 + len);
  const payload = hs.readMessage(all.subarray(12, 12 + len));
  t.true(payload.length > 0, 'the reply authenticates: it is bob');
  t.true(hs.isComplete());
});
