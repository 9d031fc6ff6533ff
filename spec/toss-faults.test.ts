/**
 * pigeon toss when things go wrong: a full disk (a real tiny tmpfs when we
 * may mount one, an injected ENOSPC otherwise), two tosses at once (pigeon
 * and the reference, both ways), an exec handle that fails and then
 * succeeds, exec arguments at and beyond the 255-byte limit, and a toss
 * stopped by a signal. Each time: the packet stays queued, nothing
 * half-written appears, the spool stays consistent.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { findNode, type SelfNode } from '../src/config/types.js';
import { makeContext, type Context } from '../src/context.js';
import { generateNodeKeys } from '../src/crypto/keys.js';
import { PacketError } from '../src/errors.js';
import { parseLog, type LogRecord } from '../src/log/log.js';
import { PktType, type PlainHeader } from '../src/packet/header.js';
import { TmpFile } from '../src/spool/atomic.js';
import { tossAll } from '../src/toss/toss.js';
import { txPacket } from '../src/tx/send.js';
import { haveNncp, PIGEON_JS, requireNncp, runNncp, runPigeon, startNncp, tmpDir } from './helpers/nncp.js';

const enc = new TextEncoder();

interface Node {
  name: string;
  dir: string;
  cfgPath: string;
  spool: string;
  log: string;
  incoming: string;
  idB32: string;
  raw: Record<string, any>;
}

interface Lab {
  dir: string;
  nodes: Record<string, Node>;
  ctx: Record<string, Context>;
}

/** Nodes that all know each other, keys made in-process; `edit` may change their configs. */
async function lab(t: ExecutionContext, names: string[], edit?: (nodes: Record<string, Node>) => void): Promise<Lab> {
  const dir = await tmpDir(t);
  const keys = Object.fromEntries(names.map((n) => [n, generateNodeKeys()]));
  const pub = (k: SelfNode) => ({ id: k.idB32, exchpub: base32Encode(k.exchPub), signpub: base32Encode(k.signPub), noisepub: base32Encode(k.noisePub) });
  const exec = { sh: ['/bin/sh', '-c'] };
  const nodes: Record<string, Node> = {};
  for (const name of names) {
    const d = path.join(dir, name);
    const n: Node = { name, dir: d, cfgPath: path.join(d, 'cfg.hjson'), spool: path.join(d, 'spool'), log: path.join(d, 'log'), incoming: path.join(d, 'incoming'), idB32: keys[name].idB32, raw: {} };
    fs.mkdirSync(n.spool, { recursive: true });
    fs.mkdirSync(n.incoming, { recursive: true });
    const k = keys[name];
    const neigh: Record<string, unknown> = { self: { ...pub(k), exec } };
    for (const other of names) if (other !== name) neigh[other] = { ...pub(keys[other]), incoming: n.incoming, exec };
    n.raw = { spool: n.spool, log: n.log, self: { ...pub(k), exchprv: base32Encode(k.exchPrv), signprv: base32Encode(k.signPrv), noiseprv: base32Encode(k.noisePrv) }, neigh };
    nodes[name] = n;
  }
  edit?.(nodes);
  for (const n of Object.values(nodes)) fs.writeFileSync(n.cfgPath, JSON.stringify(n.raw, null, 2));
  const ctx: Record<string, Context> = {};
  for (const n of names) ctx[n] = await makeContext({ cfg: nodes[n].cfgPath, quiet: true });
  return { dir, nodes, ctx };
}

async function* chunks(data: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += 100_000) yield data.slice(i, i + 100_000);
}

function plainOf(type: PktType, p: string | Uint8Array, nice = 100): PlainHeader {
  return { type, nice, path: typeof p === 'string' ? enc.encode(p) : p };
}

/** Queue from `from` to `to` and move the packet into `to`'s rx queue. */
async function send(l: Lab, from: string, to: string, plain: PlainHeader, payload: Uint8Array = new Uint8Array(0)): Promise<{ id: string; rxPath: string }> {
  const res = await txPacket(l.ctx[from], { to: findNode(l.ctx[from].cfg, to), plain, nice: 96, payload: chunks(payload) });
  const src = l.ctx[from].spool.packetPath(res.hop.idB32, 'tx', res.pktId);
  const dst = l.ctx[to].spool.packetPath(l.nodes[from].idB32, 'rx', res.pktId);
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.renameSync(src, dst);
  return { id: res.pktId, rxPath: dst };
}

function recordsAbout(node: Node, id: string): LogRecord[] {
  if (!fs.existsSync(node.log)) return [];
  return parseLog(fs.readFileSync(node.log, 'utf8')).filter((r) => r.fields.get('Pkt') === id);
}

function allFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** Mount a tmpfs of `size` on `dir` (root only); false when we may not. Unmounted when the test ends. */
function mountTmpfs(t: ExecutionContext, dir: string, size: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  if (r.status !== 0) return false;
  t.teardown(() => {
    spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
  });
  return true;
}

// ---------------------------------------------------------------- full disk

test.serial('ENOSPC in incoming (real tmpfs): the packet stays, no partial file, error logged; it goes through once there is room', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const inc = l.nodes.bob.incoming;
  if (!mountTmpfs(t, inc, '256k')) {
    t.log('SKIP: cannot mount a tmpfs here (not root?); the injected-ENOSPC test below covers the logic');
    t.pass();
    return;
  }
  const big = randomBytes(1 << 20);
  const p = await send(l, 'alice', 'bob', plainOf(PktType.File, 'big.bin'), big);
  const small = await send(l, 'alice', 'bob', plainOf(PktType.File, 'small.txt'), enc.encode('small'));
  const r = await tossAll(l.ctx.bob);
  t.false(r.ok);
  t.true(fs.existsSync(p.rxPath), 'packet kept');
  t.false(fs.existsSync(small.rxPath), 'the rest of the queue went on');
  t.deepEqual(allFiles(inc), ['small.txt'], 'no partial file, no temporary file');
  const rec = recordsAbout(l.nodes.bob, p.id)[0];
  t.is(rec.who, 'rx-copy');
  t.regex(rec.fields.get('Err')!, /ENOSPC|no space/);
  // more room: the next toss delivers it
  t.is(spawnSync('mount', ['-o', 'remount,size=4m', inc]).status, 0);
  t.true((await tossAll(l.ctx.bob)).ok);
  t.deepEqual(fs.readFileSync(path.join(inc, 'big.bin')), big);
  t.false(fs.existsSync(p.rxPath));
});

test.serial('ENOSPC in the spool while relaying (real tmpfs): the transit packet stays in rx, nothing half-queued, tmp/ clean', async (t) => {
  const l = await lab(t, ['alice', 'bob', 'carol'], (n) => {
    n.alice.raw.neigh.carol.via = [n.bob.idB32];
  });
  const spool = l.nodes.bob.spool;
  if (!mountTmpfs(t, spool, '512k')) {
    t.log('SKIP: cannot mount a tmpfs here (not root?)');
    t.pass();
    return;
  }
  const res = await txPacket(l.ctx.alice, { to: findNode(l.ctx.alice.cfg, 'carol'), plain: plainOf(PktType.File, 'r.bin'), nice: 96, payload: chunks(randomBytes(300_000)) });
  const rxPath = l.ctx.bob.spool.packetPath(l.nodes.alice.idB32, 'rx', res.pktId);
  fs.mkdirSync(path.dirname(rxPath), { recursive: true });
  fs.copyFileSync(l.ctx.alice.spool.packetPath(l.nodes.bob.idB32, 'tx', res.pktId), rxPath);
  const r = await tossAll(l.ctx.bob);
  t.false(r.ok);
  t.true(fs.existsSync(rxPath));
  const carolTx = l.ctx.bob.spool.queueDir(l.nodes.carol.idB32, 'tx');
  t.deepEqual(fs.existsSync(carolTx) ? fs.readdirSync(carolTx).filter((n) => n !== 'hdr') : [], []);
  t.deepEqual(fs.existsSync(l.ctx.bob.spool.tmpDir()) ? fs.readdirSync(l.ctx.bob.spool.tmpDir()) : [], []);
  const rec = recordsAbout(l.nodes.bob, res.pktId).find((x) => x.who === 'rx')!;
  t.regex(rec.fields.get('Err')!, /no space|ENOSPC/);
});

test.serial('ENOSPC injected into the writer: same outcome on any machine', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const p = await send(l, 'alice', 'bob', plainOf(PktType.File, 'big.bin'), randomBytes(3 << 20));
  // Both ways into a temporary file (owned and borrowed chunks) fail once 1 MiB has gone in.
  const original = { write: TmpFile.prototype.write, writeBorrowed: TmpFile.prototype.writeBorrowed };
  let written = 0;
  for (const name of ['write', 'writeBorrowed'] as const) {
    TmpFile.prototype[name] = async function (this: TmpFile, chunk: Uint8Array) {
      written += chunk.length;
      if (written > 1 << 20) {
        const err = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
        err.code = 'ENOSPC';
        err.syscall = 'write';
        throw err;
      }
      return original[name].call(this, chunk);
    };
  }
  let r;
  try {
    r = await tossAll(l.ctx.bob);
  } finally {
    Object.assign(TmpFile.prototype, original);
  }
  t.true(written > 1 << 20, 'the toss wrote through TmpFile');
  t.false(r.ok);
  t.true(fs.existsSync(p.rxPath));
  t.deepEqual(allFiles(l.nodes.bob.incoming), []);
  const rec = recordsAbout(l.nodes.bob, p.id)[0];
  t.is(rec.who, 'rx-copy');
  t.regex(rec.fields.get('Err')!, /ENOSPC/);
  t.true((await tossAll(l.ctx.bob)).ok);
  t.false(fs.existsSync(p.rxPath));
});

// ---------------------------------------------------------------- two tosses at once

/** Wait until `p` exists (or, with present = false, is gone). */
async function waitFor(p: string, ms = 10_000, present = true): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fs.existsSync(p) === present) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

test.serial('two tosses at once: the second gets the lock error, logged, exit 1; the packet is left to the first', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const p = await send(l, 'alice', 'bob', plainOf(PktType.File, 'f.txt'), enc.encode('x'));
  const lock = await l.ctx.bob.spool.lock(l.nodes.alice.idB32, 'toss');
  let r;
  try {
    r = await runPigeon(['toss', '-cfg', l.nodes.bob.cfgPath]);
  } finally {
    lock.release();
  }
  t.is(r.code, 1);
  t.regex(r.stderr, /ERROR Locking directory: locking .*toss\.lock: resource temporarily unavailable/);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.true(fs.existsSync(p.rxPath));
  const rec = parseLog(fs.readFileSync(l.nodes.bob.log, 'utf8')).find((x) => x.who === 'lockdir-flock');
  t.is(rec?.fields.get('Path'), l.ctx.bob.spool.lockPath(l.nodes.alice.idB32, 'toss'));
  t.true((await tossAll(l.ctx.bob)).ok);
});

test.serial('pigeon and nncp-toss exclude each other through the same lock, both ways', async (t) => {
  if (!requireNncp(t)) return;
  const l = await lab(t, ['alice', 'bob']);
  const started = path.join(l.dir, 'started');
  // a handle that holds the toss for a while
  await send(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${started}; sleep 2`), enc.encode(''));
  const other = await send(l, 'alice', 'bob', plainOf(PktType.File, 'other.txt'), enc.encode('x'));
  const ref = startNncp(t, 'nncp-toss', ['-quiet', '-cfg', l.nodes.bob.cfgPath]);
  t.true(await waitFor(started), ref.stderr());
  const r = await runPigeon(['toss', '-cfg', l.nodes.bob.cfgPath]);
  t.is(r.code, 1);
  t.regex(r.stderr, /Locking directory/);
  await new Promise((res) => ref.child.once('exit', res));
  t.false(fs.existsSync(other.rxPath), 'the reference tossed the rest');

  // and the other way round
  fs.rmSync(started);
  await send(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${started}; sleep 2`), enc.encode(''));
  const child = spawn(process.execPath, [PIGEON_JS, 'toss', '-quiet', '-cfg', l.nodes.bob.cfgPath], { stdio: 'ignore' });
  const exited = new Promise((res) => child.once('exit', res));
  t.true(await waitFor(started));
  const n = await runNncp('nncp-toss', ['-cfg', l.nodes.bob.cfgPath]);
  t.regex(n.stderr, /Locking directory: locking .*toss\.lock: resource temporarily unavailable/);
  await exited;
});

// ---------------------------------------------------------------- exec handle failing, then succeeding

test.serial('an exec handle that fails keeps the packet; a later toss runs it again and it succeeds', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const flag = path.join(l.dir, 'ready');
  const out = path.join(l.dir, 'out');
  const body = randomBytes(100_000);
  const p = await send(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0test -e ${flag} || { echo not ready; exit 75; }; cat > ${out}`), body);
  let r = await tossAll(l.ctx.bob);
  t.false(r.ok);
  t.true(fs.existsSync(p.rxPath));
  t.false(fs.existsSync(out));
  const failed = recordsAbout(l.nodes.bob, p.id)[0];
  t.is(failed.who, 'rx-handle');
  t.is(failed.fields.get('Err'), 'exit status 75');
  t.is(failed.fields.get('Output'), 'not ready');
  fs.writeFileSync(flag, '');
  r = await tossAll(l.ctx.bob);
  t.true(r.ok);
  t.deepEqual(fs.readFileSync(out), body);
  t.false(fs.existsSync(p.rxPath));
});

// ---------------------------------------------------------------- exec arguments at and past the limit

test.serial('exec arguments filling the whole 255-byte path arrive intact; 256 bytes cannot be queued; a forged longer path is refused', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const out = path.join(l.dir, 'args');
  const script = `printf '%s\\n' "$0" "$@" > ${out}`;
  const head = `sh\0${script}\0`;
  const args: string[] = [];
  let left = 255 - Buffer.byteLength(head); // for the arguments and their separators
  while (left > 21) {
    args.push('x'.repeat(20));
    left -= 21;
  }
  args.push('y'.repeat(left));
  const p = head + args.join('\0');
  t.is(Buffer.byteLength(p), 255);
  await send(l, 'alice', 'bob', plainOf(PktType.ExecFat, p), enc.encode(''));
  t.true((await tossAll(l.ctx.bob)).ok);
  t.deepEqual(fs.readFileSync(out, 'utf8').trim().split('\n'), args);

  // the sender side cannot make a longer one: nothing is queued
  const before = fs.readdirSync(l.ctx.alice.spool.root);
  const err = await t.throwsAsync(txPacket(l.ctx.alice, { to: findNode(l.ctx.alice.cfg, 'bob'), plain: plainOf(PktType.ExecFat, p + 'y'), nice: 96, payload: chunks(enc.encode('')) }));
  t.true(err instanceof PacketError);
  t.deepEqual(fs.readdirSync(l.ctx.alice.spool.root), before);

  // a forged plain header claiming a 300-byte path (its length field is read twice by the encoder: lie the second time)
  const forged = new Uint8Array(10).fill(0x41);
  let reads = 0;
  Object.defineProperty(forged, 'length', { get: () => (reads++ === 1 ? 300 : 10) });
  const bad = await send(l, 'alice', 'bob', { type: PktType.ExecFat, nice: 1, path: forged }, enc.encode(''));
  t.false((await tossAll(l.ctx.bob)).ok);
  const rec = recordsAbout(l.nodes.bob, bad.id)[0];
  t.is(rec.who, 'rx-unmarshal');
  t.regex(rec.fields.get('Err')!, /out of range/);
  t.true(fs.existsSync(bad.rxPath));
  if (haveNncp()) {
    // the reference refuses it too, and keeps it
    const n = await runNncp('nncp-toss', ['-quiet', '-cfg', l.nodes.bob.cfgPath]);
    t.is(n.code, 1);
    t.true(fs.existsSync(bad.rxPath));
  }
});

// ---------------------------------------------------------------- signals, -cycle

test.serial('a toss stopped by SIGTERM kills the running handle, keeps the packet and exits 1', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const started = path.join(l.dir, 'started');
  const p = await send(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${started}; exec sleep 30`), randomBytes(1 << 20));
  const child = spawn(process.execPath, [PIGEON_JS, 'toss', '-quiet', '-cfg', l.nodes.bob.cfgPath], { stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  t.true(await waitFor(started));
  const t0 = Date.now();
  child.kill('SIGTERM');
  t.is(await exited, 1);
  t.true(Date.now() - t0 < 5000, 'did not wait for the handle');
  t.true(fs.existsSync(p.rxPath));
  const rec = recordsAbout(l.nodes.bob, p.id)[0];
  t.is(rec.who, 'rx-handle');
  t.is(rec.fields.get('Err'), 'interrupted');
});

test.serial('-cycle tosses what arrives until stopped', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const child = spawn(process.execPath, [PIGEON_JS, 'toss', '-quiet', '-cycle', '1', '-cfg', l.nodes.bob.cfgPath], { stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await new Promise((r) => setTimeout(r, 300));
  const p = await send(l, 'alice', 'bob', plainOf(PktType.File, 'later.txt'), enc.encode('later'));
  t.true(await waitFor(path.join(l.nodes.bob.incoming, 'later.txt'), 8000));
  t.true(await waitFor(p.rxPath, 5000, false), 'and removed from rx');
  child.kill('SIGTERM');
  t.is(await exited, 0);
});
