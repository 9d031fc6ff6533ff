/**
 * pigeon toss when things go wrong: a full disk (a real tiny tmpfs when we
 * may mount one, an injected ENOSPC otherwise), two tosses at once (pigeon
 * and the reference, both ways), an exec handle that fails and then
 * succeeds, exec arguments at and beyond the 255-byte limit, and a toss
 * stopped by a signal. Each time: the packet stays queued, nothing
 * half-written appears, the spool stays consistent.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { findNode } from '../src/config/types.js';
import { PacketError } from '../src/errors.js';
import type { LogRecord } from '../src/log/log.js';
import { PktType } from '../src/packet/header.js';
import { TmpFile } from '../src/spool/atomic.js';
import { tossAll } from '../src/toss/toss.js';
import { txPacket } from '../src/tx/send.js';
import { lab as makeLab, type Lab, type TestNode } from './helpers/nncp.js';
import { chunks, plainOf, sendPacket } from './helpers/packets.js';
import { haveNncp, listFiles, logRecords, poll, requireNncp, runNncp, runPigeon, startNncp, startPigeon } from './helpers/util.js';

const enc = new TextEncoder();

/** Nodes that all know each other, keys made in-process, exec handle sh; `edit` may change their configs. */
const lab = (t: ExecutionContext, names: string[], edit?: (nodes: Record<string, TestNode>) => void): Promise<Lab> => makeLab(t, names, { exec: { sh: ['/bin/sh', '-c'] }, edit });

function recordsAbout(node: TestNode, id: string): LogRecord[] {
  return logRecords(node.log).filter((r) => r.fields.get('Pkt') === id);
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
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'big.bin'), big);
  const small = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'small.txt'), enc.encode('small'));
  const r = await tossAll(l.ctx.bob);
  t.false(r.ok);
  t.true(fs.existsSync(p.rxPath), 'packet kept');
  t.false(fs.existsSync(small.rxPath), 'the rest of the queue went on');
  t.deepEqual(listFiles(inc), ['small.txt'], 'no partial file, no temporary file');
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
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'big.bin'), randomBytes(3 << 20));
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
  t.deepEqual(listFiles(l.nodes.bob.incoming), []);
  const rec = recordsAbout(l.nodes.bob, p.id)[0];
  t.is(rec.who, 'rx-copy');
  t.regex(rec.fields.get('Err')!, /ENOSPC/);
  t.true((await tossAll(l.ctx.bob)).ok);
  t.false(fs.existsSync(p.rxPath));
});

// ---------------------------------------------------------------- two tosses at once

test.serial('two tosses at once: the second gets the lock error, logged, exit 0 (as nncp-toss); the packet is left to the first', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'f.txt'), enc.encode('x'));
  const lock = await l.ctx.bob.spool.lock(l.nodes.alice.idB32, 'toss');
  let r;
  try {
    r = await runPigeon(['toss', '-cfg', l.nodes.bob.cfgPath]);
  } finally {
    lock.release();
  }
  t.is(r.code, 0);
  t.regex(r.stderr, /ERROR Locking directory: locking .*toss\.lock: resource temporarily unavailable/);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.true(fs.existsSync(p.rxPath));
  const rec = logRecords(l.nodes.bob.log).find((x) => x.who === 'lockdir-flock');
  t.is(rec?.fields.get('Path'), l.ctx.bob.spool.lockPath(l.nodes.alice.idB32, 'toss'));
  t.true((await tossAll(l.ctx.bob)).ok);
});

test.serial('pigeon and nncp-toss exclude each other through the same lock, both ways', async (t) => {
  if (!requireNncp(t)) return;
  const l = await lab(t, ['alice', 'bob']);
  const started = path.join(l.dir, 'started');
  // a handle that holds the toss for a while
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${started}; sleep 2`), enc.encode(''));
  const other = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'other.txt'), enc.encode('x'));
  const ref = startNncp(t, 'nncp-toss', ['-quiet', '-cfg', l.nodes.bob.cfgPath]);
  t.true(await poll(() => fs.existsSync(started)), ref.stderr());
  const r = await runPigeon(['toss', '-cfg', l.nodes.bob.cfgPath]);
  t.is(r.code, 0);
  t.regex(r.stderr, /Locking directory/);
  await ref.exited;
  t.false(fs.existsSync(other.rxPath), 'the reference tossed the rest');

  // and the other way round
  fs.rmSync(started);
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${started}; sleep 2`), enc.encode(''));
  const { exited } = startPigeon(t, ['toss', '-quiet', '-cfg', l.nodes.bob.cfgPath]);
  t.true(await poll(() => fs.existsSync(started)));
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
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0test -e ${flag} || { echo not ready; exit 75; }; cat > ${out}`), body);
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
  await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, p), enc.encode(''));
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
  const bad = await sendPacket(l, 'alice', 'bob', { type: PktType.ExecFat, nice: 1, path: forged }, enc.encode(''));
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
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.ExecFat, `sh\0touch ${started}; exec sleep 30`), randomBytes(1 << 20));
  const { child, exited } = startPigeon(t, ['toss', '-quiet', '-cfg', l.nodes.bob.cfgPath]);
  t.true(await poll(() => fs.existsSync(started)));
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
  const { child, exited } = startPigeon(t, ['toss', '-quiet', '-cycle', '1', '-cfg', l.nodes.bob.cfgPath]);
  await new Promise((r) => setTimeout(r, 300));
  const p = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, 'later.txt'), enc.encode('later'));
  t.true(await poll(() => fs.existsSync(path.join(l.nodes.bob.incoming, 'later.txt')), 8000));
  t.true(await poll(() => !fs.existsSync(p.rxPath), 5000), 'and removed from rx');
  child.kill('SIGTERM');
  t.is(await exited, 0);
});
