/**
 * The sync protocol's IK handshake and transport over a link: pigeon ↔
 * pigeon over loopback sockets and in-memory pipes (strangers, wrong keys,
 * deadlines, garbage, tampering, closing), and against the reference:
 * pigeon calling nncp-daemon, nncp-call calling a pigeon responder, and a
 * stranger's nncp-call refused before anything is sent.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Transform } from 'node:stream';
import { base32Encode } from '../src/codec/base32.js';
import { parseConfigText } from '../src/config/load.js';
import type { Config, Neighbour, SelfNode } from '../src/config/types.js';
import { AuthError, ConfigError, PacketError, PigeonError } from '../src/errors.js';
import { x25519Keypair } from '../src/crypto/ecc.js';
import { decodeEncHeader, ENC_HEADER_SIZE } from '../src/packet/header.js';
import { encodeFrame } from '../src/sp/frame.js';
import { noisePubLookup, spDeadlineMs, spInitiate, spRespond, UnknownPeerError, type SpConn, type SpTransport } from '../src/sp/handshake.js';
import { HandshakeState } from '../src/sp/noise.js';
import { decodeSpPackets, encodeSpPackets, padWithHalts, SP_MAX_PAYLOAD, type SpPacket } from '../src/sp/packets.js';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { connect, freePort, requireNncp, runNncp, startNncp, tmpDir, until } from './helpers/util.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// ----------------------------------------------------------------- helpers

/** Two nodes that know each other, made in memory (no CLI). */
function memNodes(): { a: SelfNode; b: SelfNode; aAsSeenByB: Neighbour; bAsSeenByA: Neighbour } {
  const mk = (name: string): SelfNode => {
    const noise = x25519Keypair();
    const exch = x25519Keypair();
    const id = new Uint8Array(randomBytes(32));
    return {
      id,
      idB32: base32Encode(id),
      exchPub: exch.pub,
      exchPrv: exch.prv,
      signPub: new Uint8Array(32),
      signPrv: new Uint8Array(64),
      noisePub: noise.pub,
      noisePrv: noise.prv,
      ...({ name } as object),
    };
  };
  const neigh = (s: SelfNode, name: string): Neighbour => ({
    name,
    idB32: s.idB32,
    id: s.id,
    exchPub: s.exchPub,
    signPub: s.signPub,
    noisePub: s.noisePub,
    exec: new Map(),
    freq: {},
    via: [],
    addrs: new Map(),
    rxRate: 0,
    txRate: 0,
    onlineDeadline: 10,
    maxOnlineTime: 0,
    calls: [],
    ack: {},
  });
  const a = mk('alice');
  const b = mk('bob');
  return { a, b, aAsSeenByB: neigh(a, 'alice'), bAsSeenByA: neigh(b, 'bob') };
}

/** A connected pair of loopback sockets; both destroyed at teardown. */
async function socketPair(t: ExecutionContext): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const srv = await accepted;
  server.close();
  for (const s of [client, srv]) {
    s.on('error', () => {});
    t.teardown(() => void s.destroy());
  }
  return [client, srv];
}

const sockConn = (s: net.Socket): SpConn => ({ readable: s, writable: s });

/** An in-memory link; `tamper` may rewrite what flows from A to B. */
function pipePair(tamper?: (chunk: Buffer) => Buffer): [SpConn, SpConn] {
  const a2b = new PassThrough();
  const b2a = new PassThrough();
  const aOut = tamper
    ? new Transform({ transform: (c: Buffer, _e, cb) => cb(null, tamper(c)) })
    : new PassThrough();
  aOut.pipe(a2b);
  return [
    { readable: b2a, writable: aOut },
    { readable: a2b, writable: b2a },
  ];
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

const H = (b: number) => new Uint8Array(32).fill(b);
const info = (hash: Uint8Array, nice = 1, size = 1000): SpPacket => ({ t: 'info', nice, size, hash });

function infosOf(payload: Uint8Array): { hash: string; size: bigint; nice: number }[] {
  return decodeSpPackets(payload)
    .filter((p): p is Extract<SpPacket, { t: 'info' }> => p.t === 'info')
    .map((p) => ({ hash: base32Encode(p.hash), size: BigInt(p.size), nice: p.nice }));
}

/** The next payload that is not just HALTs/PINGs, decoded. */
async function nextPackets(tr: SpTransport, ms = 10_000): Promise<SpPacket[]> {
  for (;;) {
    const p = await within(tr.receive(), ms, 'a transport payload');
    if (p === null) throw new Error('link closed while waiting for a payload');
    const pkts = decodeSpPackets(p).filter((x) => x.t !== 'halt' && x.t !== 'ping');
    if (pkts.length > 0) return pkts;
  }
}

// ------------------------------------------------------ pigeon ↔ pigeon

test('pigeon ↔ pigeon over loopback: peer identified, first payloads padded, full-duplex transport', async (t) => {
  const { a, b, aAsSeenByB, bAsSeenByA } = memNodes();
  const [cs, ss] = await socketPair(t);
  const aFirst = encodeSpPackets([info(H(1), 10, 11), info(H(2), 20, 22)]);
  const bFirst = encodeSpPackets([info(H(3), 30, 33)]);
  let seenKey: Uint8Array | undefined;
  const [ta, tb] = await Promise.all([
    spInitiate(sockConn(cs), a, bAsSeenByA, aFirst),
    spRespond(
      sockConn(ss),
      b,
      (pub) => {
        seenKey = pub;
        return noisePubLookup([bAsSeenByA, aAsSeenByB])(pub);
      },
      (peer) => {
        t.is(peer.name, 'alice');
        return bFirst;
      },
    ),
  ]);
  t.is(hex(seenKey!), hex(a.noisePub));
  t.is(ta.peer.name, 'bob');
  t.is(tb.peer.name, 'alice');
  t.is(hex(ta.handshakeHash), hex(tb.handshakeHash));
  t.is(tb.peerFirstPayload.length, SP_MAX_PAYLOAD);
  t.is(ta.peerFirstPayload.length, SP_MAX_PAYLOAD);
  t.is(hex(tb.peerFirstPayload), hex(padWithHalts(aFirst)));
  t.deepEqual(infosOf(ta.peerFirstPayload), [{ hash: base32Encode(H(3)), size: 33n, nice: 30 }]);
  // Each handshake frame: 12-byte head + Noise overhead + 65280.
  t.is(ta.txBytes, 12 + 32 + 48 + 65280 + 16);
  t.is(tb.rxBytes, ta.txBytes);
  t.is(ta.rxBytes, 12 + 32 + 65280 + 16);

  // Both ways at once, many maximal payloads, each numbered and checksummed.
  const N = 150;
  const payloadFor = (side: string, i: number) => {
    const p = new Uint8Array(i % 3 === 0 ? SP_MAX_PAYLOAD : 1 + ((i * 7919) % SP_MAX_PAYLOAD));
    p.set(createHash('sha256').update(`${side}${i}`).digest());
    return p;
  };
  const pump = async (tx: SpTransport, side: string) => {
    for (let i = 0; i < N; i++) await tx.send(payloadFor(side, i));
  };
  const drain = async (rx: SpTransport, side: string) => {
    for (let i = 0; i < N; i++) {
      const got = await within(rx.receive(), 10_000, `payload ${i} from ${side}`);
      const want = payloadFor(side, i);
      if (got === null || hex(got) !== hex(want)) return t.fail(`payload ${i} from ${side} differs`);
    }
    t.pass();
  };
  await Promise.all([pump(ta, 'a'), pump(tb, 'b'), drain(tb, 'a'), drain(ta, 'b')]);
  await t.throwsAsync(ta.send(new Uint8Array(SP_MAX_PAYLOAD + 1)), { instanceOf: RangeError });

  // Closing flushes what was sent, then the peer sees the end of the link.
  const last = new Uint8Array(randomBytes(SP_MAX_PAYLOAD));
  const sent = tb.send(last);
  tb.close();
  await within(sent, 5000, 'the last send');
  t.is(hex((await within(ta.receive(), 5000, 'the last payload'))!), hex(last));
  t.is(await within(ta.receive(), 5000, 'end of link'), null);
  t.is(await tb.receive(), null);
  await t.throwsAsync(tb.send(new Uint8Array(4)), { instanceOf: PigeonError });
  // A receive waiting when we close our end gives null at once.
  const [pa, pb] = pipePair();
  const [xa] = await Promise.all([
    spInitiate(pa, a, bAsSeenByA, new Uint8Array(0)),
    spRespond(pb, b, noisePubLookup([aAsSeenByB]), () => new Uint8Array(0)),
  ]);
  const pending = xa.receive();
  xa.close();
  t.is(await within(pending, 1000, 'receive() to end on close()'), null);
});

test('a stranger is refused before anything is sent: no lookup match, no first payload built, zero bytes back', async (t) => {
  const { a, b, bAsSeenByA } = memNodes();
  const [cs, ss] = await socketPair(t);
  // The stranger speaks raw, so we can count every byte that comes back.
  const hs = new HandshakeState({ pattern: 'IK', initiator: true, s: { prv: a.noisePrv, pub: a.noisePub }, rs: bAsSeenByA.noisePub });
  const received: Buffer[] = [];
  cs.on('data', (d: Buffer) => received.push(d));
  const closed = new Promise<void>((resolve) => cs.once('close', () => resolve()));
  cs.write(encodeFrame(hs.writeMessage(padWithHalts(new Uint8Array(0)))));
  let built = false;
  const err = await t.throwsAsync(
    spRespond(sockConn(ss), b, () => undefined, () => {
      built = true;
      return new Uint8Array(0);
    }),
    { instanceOf: UnknownPeerError },
  );
  t.is(err!.code, 'EAUTH');
  t.is((err as UnknownPeerError).peerId, base32Encode(a.noisePub));
  t.regex(err!.message, new RegExp(`^peer 127\\.0\\.0\\.1:\\d+: unknown peer ${base32Encode(a.noisePub)}: `));
  t.false(built);
  await within(closed, 5000, 'the stranger to be disconnected');
  t.is(Buffer.concat(received).length, 0);
});

test('calling with the wrong noisepub for the responder: it cannot read us, answers nothing; we fail cleanly', async (t) => {
  const { a, b, bAsSeenByA, aAsSeenByB } = memNodes();
  const [cs, ss] = await socketPair(t);
  const wrong = { ...bAsSeenByA, noisePub: x25519Keypair().pub };
  let looked = false;
  const [ri, rr] = await Promise.allSettled([
    spInitiate(sockConn(cs), a, wrong, new Uint8Array(0), { deadlineMs: 5000 }),
    spRespond(sockConn(ss), b, (pub) => {
      looked = true;
      return noisePubLookup([aAsSeenByB])(pub);
    }, () => new Uint8Array(0)),
  ]);
  t.is(rr.status, 'rejected');
  t.true((rr as PromiseRejectedResult).reason instanceof AuthError);
  t.regex((rr as PromiseRejectedResult).reason.message, /first handshake message does not authenticate/);
  t.false(looked);
  t.is(ri.status, 'rejected');
  t.regex((ri as PromiseRejectedResult).reason.message, /^node bob: the connection closed before the handshake reply/);
});

test('handshake reads are bounded by the deadline, on both sides', async (t) => {
  const { a, b, bAsSeenByA } = memNodes();
  {
    const [, ss] = await socketPair(t); // a client that never speaks
    const started = Date.now();
    await t.throwsAsync(spRespond(sockConn(ss), b, () => undefined, () => new Uint8Array(0), { deadlineMs: 300 }), {
      instanceOf: PigeonError,
      message: /no the first handshake message within 0\.3 s \(NNCPDEADLINE\)/,
    });
    t.true(Date.now() - started < 3000);
    t.true(ss.destroyed);
  }
  {
    const [cs, ss] = await socketPair(t); // a server that reads but never answers
    ss.resume();
    await t.throwsAsync(spInitiate(sockConn(cs), a, bAsSeenByA, new Uint8Array(0), { deadlineMs: 300 }), {
      message: /^node bob: no the handshake reply within 0\.3 s/,
    });
  }
  t.is(spDeadlineMs({}), 10_000);
  t.is(spDeadlineMs({ NNCPDEADLINE: '3' }), 3000);
  t.throws(() => spDeadlineMs({ NNCPDEADLINE: 'soon' }), { instanceOf: ConfigError });
});

test('garbage bytes and an oversize frame are refused with a named fault, and the link is dropped', async (t) => {
  const { b } = memNodes();
  {
    const [cs, ss] = await socketPair(t);
    cs.write('SSH-2.0-OpenSSH_9.2p1\r\n');
    await t.throwsAsync(spRespond(sockConn(ss), b, () => undefined, () => new Uint8Array(0), { deadlineMs: 5000 }), {
      instanceOf: PacketError,
      message: /^peer 127\.0\.0\.1:\d+: not an NNCP sync protocol frame/,
    });
  }
  {
    const [cs, ss] = await socketPair(t);
    const head = encodeFrame(new Uint8Array(0));
    new DataView(head.buffer).setUint32(8, 1 << 20);
    cs.write(head); // and no body: refused from the header alone
    await t.throwsAsync(spRespond(sockConn(ss), b, () => undefined, () => new Uint8Array(0), { deadlineMs: 5000 }), {
      instanceOf: PacketError,
      message: /frame of 1048576 bytes exceeds the limit of 65535 bytes/,
    });
    await within(new Promise((resolve) => (cs.destroyed ? resolve(null) : cs.once('close', resolve))), 5000, 'disconnect');
  }
});

test('a tampered transport message fails authentication and ends the transport', async (t) => {
  const { a, b, aAsSeenByB, bAsSeenByA } = memNodes();
  let frames = 0;
  const [ca, cb] = pipePair((chunk) => {
    // Writes arrive whole here: frame 1 is the handshake, frame 3 gets a flipped bit.
    frames++;
    if (frames === 3) {
      const c = Buffer.from(chunk);
      c[c.length - 1] ^= 1;
      return c;
    }
    return chunk;
  });
  const [ta, tb] = await Promise.all([
    spInitiate(ca, a, bAsSeenByA, new Uint8Array(0)),
    spRespond(cb, b, noisePubLookup([aAsSeenByB]), () => new Uint8Array(0)),
  ]);
  await ta.send(encodeSpPackets([{ t: 'ping' }]));
  t.deepEqual(decodeSpPackets((await tb.receive())!), [{ t: 'ping' }]);
  await ta.send(encodeSpPackets([{ t: 'done', hash: H(5) }]));
  await t.throwsAsync(tb.receive(), { instanceOf: AuthError, message: /^peer \(node alice\): a transport message does not authenticate/ });
  t.is(await tb.receive(), null);
});

test('noisePubLookup matches whole keys only and skips neighbours without one', (t) => {
  const { aAsSeenByB, bAsSeenByA } = memNodes();
  const bare = { ...bAsSeenByA, name: 'nokey', noisePub: undefined };
  const find = noisePubLookup([bare, aAsSeenByB, bAsSeenByA]);
  t.is(find(aAsSeenByB.noisePub!)?.name, 'alice');
  t.is(find(bAsSeenByA.noisePub!)?.name, 'bob');
  const near = Uint8Array.from(aAsSeenByB.noisePub!);
  near[31] ^= 1;
  t.is(find(near), undefined);
  t.is(find(aAsSeenByB.noisePub!.subarray(0, 31)), undefined);
});

// ------------------------------------------------------------- interop

/**
 * The length of the reference's first payload, observed: NNCP 8.8.2 re-reads
 * the payload's growing length in its padding loop's bound, so it stops
 * adding HALTs about half way to 65280 bytes (3 INFOs: 32712 bytes, not
 * 65280). Pigeon pads fully, as the manual says; either is accepted by both.
 */
function referencePadded(len: number): number {
  let i = 0;
  while (i < Math.floor((SP_MAX_PAYLOAD - len) / 4)) {
    len += 4;
    i++;
  }
  return len;
}

/** A connection to the daemon on `port` once it listens (destroyed at teardown). */
async function connectWhenUp(t: ExecutionContext, port: number, stderr: () => string): Promise<net.Socket> {
  let sock: net.Socket | null = null;
  await until(async () => (sock = await connect(port).catch(() => null)) !== null, 10_000, () => `nncp-daemon to listen on ${port}: ${stderr()}`);
  const s = sock as unknown as net.Socket;
  s.on('error', () => {});
  t.teardown(() => void s.destroy());
  return s;
}

async function loadCfg(node: TestNode): Promise<Config> {
  return parseConfigText(await readFile(node.cfgPath, 'utf8'), node.cfgPath, { env: {}, needSelf: true });
}

/** Queue files with the reference: one packet per niceness, sent from `from` to `to`. */
async function queueFiles(t: ExecutionContext, from: TestNode, to: TestNode, nices: number[]): Promise<void> {
  for (const [i, nice] of nices.entries()) {
    const src = path.join(from.dir, `payload-${i}`);
    await writeFile(src, randomBytes(1000 + i * 3000));
    const r = await runNncp('file', ['-cfg', from.cfgPath, '-quiet', '-nice', String(nice), src, `${to.name}:f${i}`]);
    t.is(r.code, 0, r.stderr);
  }
}

/** What the reference queued in FROM's spool for TO: name, size and niceness (from the header) of each packet. */
async function queued(from: TestNode, to: TestNode): Promise<{ hash: string; size: bigint; nice: number }[]> {
  const dir = path.join(from.spool, to.idB32, 'tx');
  const out = [];
  for (const name of await readdir(dir)) {
    if (!/^[A-Z2-7]{52}$/.test(name)) continue;
    const data = await readFile(path.join(dir, name));
    const hdr = decodeEncHeader(data.subarray(0, ENC_HEADER_SIZE));
    out.push({ hash: name, size: BigInt((await stat(path.join(dir, name))).size), nice: hdr.nice });
  }
  return out.sort((x, y) => x.nice - y.nice || x.hash.localeCompare(y.hash));
}

test('interop: pigeon calls nncp-daemon — handshake, its INFOs for our queue, transport both ways', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: 'pigeon', bob: 'nncp' } });
  const { alice, bob } = nodes;
  await queueFiles(t, bob, alice, [200, 64, 128]);
  const want = await queued(bob, alice);
  t.is(want.length, 3);

  const port = await freePort();
  const d = startNncp(t, 'nncp-daemon', ['-cfg', bob.cfgPath, '-bind', `127.0.0.1:${port}`]);
  const sock = await connectWhenUp(t, port, d.stderr);
  const bobAsSeen = (await loadCfg(alice)).byName.get('bob')!;
  const ours = encodeSpPackets([info(H(0xa1), 1, 5000)]);
  const tr = await spInitiate(sockConn(sock), alice.keys, bobAsSeen, ours);
  t.teardown(() => tr.close());
  t.is(tr.peer.name, 'bob');
  const pkts = decodeSpPackets(tr.peerFirstPayload);
  const infos = infosOf(tr.peerFirstPayload);
  // INFOs first (the reference sorts them by niceness), then only HALTs…
  t.deepEqual(infos, want);
  t.true(pkts.slice(infos.length).every((p) => p.t === 'halt'));
  // …about half as many as the manual's 65280 bytes would take (see referencePadded).
  t.is(tr.peerFirstPayload.length, referencePadded(48 * infos.length));

  // The daemon read our INFO and asks for the packet in a transport message…
  t.deepEqual(await nextPackets(tr), [{ t: 'freq', hash: H(0xa1), offset: 0n }]);
  // …and reads our transport messages too.
  await tr.send(encodeSpPackets([info(H(0xa2), 2, 7000)]));
  t.deepEqual(await nextPackets(tr), [{ t: 'freq', hash: H(0xa2), offset: 0n }]);
});

test('interop: nncp-call calls a pigeon responder — peer found by noisepub, its INFOs decoded, transport both ways', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: 'nncp', bob: 'pigeon' } });
  const { alice, bob } = nodes;
  await queueFiles(t, alice, bob, [32, 250]);
  const want = await queued(alice, bob);
  t.is(want.length, 2);

  const bobCfg = await loadCfg(bob);
  const server = net.createServer();
  t.teardown(() => void server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const call = runNncp('call', ['-cfg', alice.cfgPath, '-onlinedeadline', '30', 'bob', `127.0.0.1:${port}`], { timeout: 30_000 });
  const sock = await within(accepted, 15_000, 'nncp-call to connect');
  sock.on('error', () => {});
  t.teardown(() => void sock.destroy());

  let built: string | undefined;
  const tr = await spRespond(sockConn(sock), bobCfg.self!, noisePubLookup(bobCfg.neighbours.values()), (peer) => {
    built = peer.name;
    return encodeSpPackets([info(H(0xb1), 1, 4000)]);
  });
  t.is(built, 'alice');
  t.is(tr.peer.name, 'alice');
  t.is(tr.peerFirstPayload.length, referencePadded(48 * want.length));
  t.deepEqual(infosOf(tr.peerFirstPayload), want);

  t.deepEqual(await nextPackets(tr), [{ t: 'freq', hash: H(0xb1), offset: 0n }]);
  await tr.send(encodeSpPackets([info(H(0xb2), 3, 9000)]));
  t.deepEqual(await nextPackets(tr), [{ t: 'freq', hash: H(0xb2), offset: 0n }]);
  tr.close();
  const r = await call;
  t.false(r.stderr.includes('[killed by'), `nncp-call did not end when we closed the link: ${r.stderr}`);
});

test('interop: a stranger nncp-call (its key in no neigh) is refused by spRespond, which names its key', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const { bob, carol } = await makeNodes(dir, ['bob', 'carol'], { generator: { bob: 'pigeon', carol: 'nncp' } });
  const bobCfg = await loadCfg(bob);
  const known = [...bobCfg.neighbours.values()].filter((n) => n.name !== 'carol');
  const server = net.createServer();
  t.teardown(() => void server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const call = runNncp('call', ['-cfg', carol.cfgPath, 'bob', `127.0.0.1:${port}`], { timeout: 30_000 });
  const sock = await within(accepted, 15_000, 'nncp-call to connect');
  sock.on('error', () => {});
  let sent = 0;
  const write = sock.write.bind(sock);
  sock.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
    sent += chunk.length;
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof sock.write;
  const err = await t.throwsAsync(spRespond(sockConn(sock), bobCfg.self!, noisePubLookup(known), () => new Uint8Array(0)), { instanceOf: UnknownPeerError });
  t.is((err as UnknownPeerError).peerId, base32Encode(carol.keys.noisePub));
  t.is(sent, 0);
  const r = await call;
  t.false(r.stderr.includes('[killed by'), 'nncp-call noticed the refusal');
  const log = await readFile(carol.log, 'utf8');
  t.regex(log, /Who: sp-startI-read/, 'the caller logged that the handshake reply never came');
});
