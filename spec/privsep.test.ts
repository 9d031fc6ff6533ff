/**
 * The privilege-separated daemon (src/privsep): a parent that holds the
 * configuration and the packet keys, a network child under Node's
 * permission model that parses everything the peer sends.
 *
 *   - the messages: what the child is told carries no exchprv/signprv, and
 *     the running child's memory holds neither (its Noise key, yes);
 *     malformed messages are refused on both sides;
 *   - the runtime refuses the child's flags anything beyond the spool
 *     directories it serves: reading the configuration, writing outside
 *     the spool, starting a process (ERR_ACCESS_DENIED);
 *   - a child killed with SIGKILL is replaced and the daemon keeps serving;
 *   - full sessions both ways with pigeon call and with nncp-call;
 *   - started as root with -user, the child runs as that user;
 *   - -noprivsep keeps the one-process daemon.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { base32Encode } from '../src/codec/base32.js';
import { parseToChild, parseToParent } from '../src/privsep/messages.js';
import { childInit } from '../src/privsep/parent.js';
import { childExecArgv, childScript, childSpoolDirs } from '../src/privsep/sandbox.js';
import { makeNodes, nodeContext, type TestNode } from './helpers/nncp.js';
import { childrenOf, found, memoryOf } from './helpers/proc.js';
import { freePort, listening, logRecords, poll, requireNncp, runImpl, startPigeon, tmpDir, until, type Started } from './helpers/util.js';

async function pair(t: ExecutionContext, gen: { alice: 'pigeon' | 'nncp'; bob: 'pigeon' } = { alice: 'pigeon', bob: 'pigeon' }): Promise<{ dir: string; alice: TestNode; bob: TestNode }> {
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: gen });
  return { dir, alice, bob };
}

/** bob's privsep daemon on a fresh loopback port. */
async function daemon(t: ExecutionContext, bob: TestNode, extra: string[] = []): Promise<{ d: Started; addr: string }> {
  const port = await freePort();
  const d = startPigeon(t, ['daemon', '-cfg', bob.cfgPath, '-quiet', '-bind', `127.0.0.1:${port}`, ...extra]);
  await listening(port, 15_000, () => `the daemon (${d.stderr()})`);
  return { d, addr: `127.0.0.1:${port}` };
}

async function networkChild(d: Started): Promise<number> {
  let pid = 0;
  await until(() => (pid = childrenOf(d.child.pid!)[0] ?? 0) !== 0, 15_000, 'the network child');
  return pid;
}

function queued(from: TestNode, to: TestNode, xx: 'tx' | 'rx' = 'tx'): string[] {
  const dir = path.join(from.spool, to.idB32, xx);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.length === 52) : [];
}

async function sendFile(from: TestNode, to: TestNode, name: string, data: Uint8Array): Promise<void> {
  const src = path.join(from.dir, `src-${name}`);
  fs.writeFileSync(src, data);
  const r = await runImpl(from.generator, 'file', ['-cfg', from.cfgPath, '-quiet', src, `${to.name}:${name}`]);
  if (r.code !== 0) throw new Error(`${from.generator} file: ${r.stderr}`);
}

function call(caller: TestNode, callee: TestNode, addr: string) {
  return runImpl(caller.generator, 'call', ['-cfg', caller.cfgPath, '-quiet', '-onlinedeadline', '1', callee.name, addr], { timeout: 60_000 });
}

/** A file each way through bob's daemon, tossed on both sides: what arrived is what was sent. */
async function exchange(t: ExecutionContext, alice: TestNode, bob: TestNode, addr: string, size = 300_000): Promise<void> {
  const toBob = randomBytes(size);
  const toAlice = randomBytes(size >> 1);
  await sendFile(alice, bob, 'to-bob.bin', toBob);
  await sendFile(bob, alice, 'to-alice.bin', toAlice);
  const r = await call(alice, bob, addr);
  t.is(r.code, 0, r.stderr);
  await until(() => queued(bob, alice).length === 0 && queued(bob, alice, 'rx').length === 1, 10_000, 'DONE at the daemon');
  t.deepEqual(queued(alice, bob), []);
  for (const n of [alice, bob]) {
    const tr = await runImpl(n.generator, 'toss', ['-cfg', n.cfgPath, '-quiet']);
    t.is(tr.code, 0, tr.stderr);
  }
  t.deepEqual(fs.readFileSync(path.join(bob.incoming, 'to-bob.bin')), toBob);
  t.deepEqual(fs.readFileSync(path.join(alice.incoming, 'to-alice.bin')), toAlice);
}

test('what the child is told carries the Noise key and no packet private key', async (t) => {
  const { bob } = await pair(t);
  const ctx = await nodeContext(bob);
  const self = ctx.cfg.self!;
  const init = childInit(ctx, { nice: 255, noCK: false });
  const wire = v8.serialize(init);
  t.true(wire.includes(Buffer.from(self.noisePrv)), 'the Noise private key is there (the search works)');
  for (const [name, key] of [['exchprv', self.exchPrv], ['signprv seed', self.signPrv.subarray(0, 32)], ['signprv', self.signPrv]] as const) {
    t.false(wire.includes(Buffer.from(key)), `${name} is not sent`);
    t.false(wire.includes(base32Encode(key)), `${name} (Base32) is not sent`);
  }
  t.false(wire.includes(Buffer.from(bob.incoming)), 'nor incoming paths');
  // what it was told reads back through the child's own validation
  t.deepEqual(parseToChild(v8.deserialize(wire)), init);
});

test('messages are validated on receipt: unknown types, ill-typed or oversized fields are refused', (t) => {
  t.throws(() => parseToParent({ t: 'exec', cmd: 'sh' }), { message: /unknown message type/ });
  t.throws(() => parseToParent({ t: 'log', level: 'info', who: 'x\nWho: forged', fields: [], human: '' }), { message: /log.who/ });
  t.throws(() => parseToParent({ t: 'log', level: 'info', who: 'x', fields: [['A\nB', 1]], human: '' }), { message: /log.fields/ });
  t.throws(() => parseToParent({ t: 'log', level: 'info', who: 'x', fields: [], human: 'x'.repeat(70_000) }), { message: /log.human/ });
  t.throws(() => parseToParent({ t: 'session', conn: 1, node: '../../etc' }), { message: /node id/ });
  t.throws(() => parseToParent({ t: 'end', conn: -1 }), { message: /conn/ });
  t.throws(() => parseToParent(null), { message: /not an object/ });
  t.deepEqual(parseToParent({ t: 'log', level: 'error', who: 'sp-startR-unknown', fields: [['Nice', 255]], human: 'h', err: 'e' }), {
    t: 'log',
    level: 'error',
    who: 'sp-startR-unknown',
    fields: [['Nice', 255]],
    human: 'h',
    err: 'e',
  });
  t.throws(() => parseToChild({ t: 'conn', conn: 1 }), { message: /conn.addr/ });
  t.throws(() => parseToChild({ t: 'init' }), { message: /init/ });
});

test('the runtime refuses the child anything beyond its spool directories (ERR_ACCESS_DENIED)', async (t) => {
  const { bob, alice } = await pair(t);
  const dirs = childSpoolDirs(bob.spool, [alice.idB32]);
  for (const d of dirs) fs.mkdirSync(d, { recursive: true });
  const inside = path.join(dirs[0], 'probe');
  const probe = `
    import fs from 'node:fs';
    import cp from 'node:child_process';
    const tryIt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code ?? e.message; } };
    const out = {
      readCfg: tryIt(() => fs.readFileSync(${JSON.stringify(bob.cfgPath)})),
      readLog: tryIt(() => fs.readFileSync(${JSON.stringify(bob.log)})),
      writeIncoming: tryIt(() => fs.writeFileSync(${JSON.stringify(path.join(bob.incoming, 'x'))}, 'x')),
      writeSpoolRoot: tryIt(() => fs.writeFileSync(${JSON.stringify(path.join(bob.spool, 'x'))}, 'x')),
      writeEtc: tryIt(() => fs.writeFileSync('/etc/pigeon-privsep-probe', 'x')),
      symlinkOut: tryIt(() => fs.symlinkSync(${JSON.stringify(bob.cfgPath)}, ${JSON.stringify(inside + '.lnk')})),
      spawn: tryIt(() => cp.spawnSync('/bin/true')),
      writeInside: tryIt(() => fs.writeFileSync(${JSON.stringify(inside)}, 'x')),
      readInside: tryIt(() => fs.readFileSync(${JSON.stringify(inside)})),
    };
    process.stdout.write(JSON.stringify(out));
  `;
  const out = execFileSync(process.execPath, [...childExecArgv(dirs), '--input-type=module', '-e', probe], { encoding: 'utf8', env: {} });
  const r = JSON.parse(out) as Record<string, string>;
  for (const k of ['readCfg', 'readLog', 'writeIncoming', 'writeSpoolRoot', 'writeEtc', 'symlinkOut', 'spawn']) t.is(r[k], 'ERR_ACCESS_DENIED', k);
  t.is(r.writeInside, 'ok');
  t.is(r.readInside, 'ok');
  t.false(fs.existsSync(path.join(bob.incoming, 'x')));
});

test('a full session through the privsep daemon, pigeon call both ways; the child runs with exactly those flags and holds no packet key', async (t) => {
  const { alice, bob } = await pair(t);
  const { d, addr } = await daemon(t, bob);
  const child = await networkChild(d);
  const argv = fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').slice(0, -1);
  const ctx = await nodeContext(bob);
  const ids = [...ctx.cfg.neighbours.values()].filter((n) => n.noisePub).map((n) => n.idB32);
  t.deepEqual(argv.slice(1), [...childExecArgv(childSpoolDirs(bob.spool, ids)), childScript()]);
  await exchange(t, alice, bob, addr);
  // after a handshake and a session: the child's memory has the Noise key, never the packet keys
  const self = ctx.cfg.self!;
  const mem = memoryOf(child);
  t.true(found(mem, self.noisePrv), 'the Noise private key is in the child (the scan works)');
  t.false(found(mem, self.exchPrv), 'exchprv is not in the child');
  t.false(found(mem, self.signPrv.subarray(0, 32)), 'signprv is not in the child');
  t.false(found(mem, base32Encode(self.exchPrv)), 'exchprv (Base32) is not in the child');
  t.false(found(mem, base32Encode(self.signPrv)), 'signprv (Base32) is not in the child');
  // the parent wrote the child's records into the log
  t.true(logRecords(bob.log).some((r) => r.who === 'sp-file-done'));
  t.true(logRecords(bob.log).some((r) => r.who === 'call-finished'));
});

test('a child killed with SIGKILL is replaced; the daemon keeps serving', async (t) => {
  const { alice, bob } = await pair(t);
  const { d, addr } = await daemon(t, bob);
  const first = await networkChild(d);
  process.kill(first, 'SIGKILL');
  let second = 0;
  await until(() => (second = childrenOf(d.child.pid!).find((p) => p !== first) ?? 0) !== 0, 15_000, 'a new network child');
  t.is(d.child.exitCode, null, 'the daemon is still running');
  await exchange(t, alice, bob, addr);
  const rec = logRecords(bob.log).find((r) => r.who === 'privsep');
  t.is(rec?.fields.get('Err'), 'SIGKILL');
  t.is(rec?.fields.get('Msg'), 'Network child died: starting a new one');
  // SIGTERM stops parent and child
  d.child.kill('SIGTERM');
  t.is(await d.exited, 0);
  t.true(await poll(() => !fs.existsSync(`/proc/${second}`), 10_000), 'the child is gone with its parent');
});

test('a parent killed with SIGKILL takes its child along', async (t) => {
  const { bob } = await pair(t);
  const { d } = await daemon(t, bob);
  const child = await networkChild(d);
  d.child.kill('SIGKILL');
  await d.exited;
  t.true(await poll(() => !fs.existsSync(`/proc/${child}`) || fs.readFileSync(`/proc/${child}/stat`, 'utf8').includes(') Z'), 10_000));
});

for (const autotoss of [false, true]) {
  test(`interop: nncp-call → privsep daemon${autotoss ? ' -autotoss (the parent tosses)' : ', packets both ways'}`, async (t) => {
    if (!requireNncp(t)) return;
    const { alice, bob } = await pair(t, { alice: 'nncp', bob: 'pigeon' });
    const { addr } = await daemon(t, bob, autotoss ? ['-autotoss'] : []);
    if (!autotoss) return exchange(t, alice, bob, addr);
    const data = randomBytes(200_000);
    await sendFile(alice, bob, 'auto.bin', data);
    const r = await call(alice, bob, addr);
    t.is(r.code, 0, r.stderr);
    // the parent tossed it: the child could not (it has no exchprv, no incoming/)
    await until(() => fs.existsSync(path.join(bob.incoming, 'auto.bin')), 15_000, 'the auto-tossed file');
    t.deepEqual(fs.readFileSync(path.join(bob.incoming, 'auto.bin')), data);
  });
}

test('pigeon call ↔ privsep daemon, large packets both ways (resumable, checked)', async (t) => {
  const { alice, bob } = await pair(t);
  const { addr } = await daemon(t, bob);
  await exchange(t, alice, bob, addr, 8 << 20);
});

test('-noprivsep: one process, no network child', async (t) => {
  const { alice, bob } = await pair(t);
  const { d, addr } = await daemon(t, bob, ['-noprivsep']);
  await exchange(t, alice, bob, addr);
  t.deepEqual(childrenOf(d.child.pid!), []);
});

const TEST_USER = 'pigeon-privsep-test';

test.serial('as root with -user: the child runs as that user and cannot read the root-only configuration', async (t) => {
  if (process.getuid?.() !== 0) return t.log('SKIPPED LOUDLY: not root, -user cannot be tested here');
  try {
    execFileSync('getent', ['passwd', TEST_USER], { stdio: 'ignore' });
  } catch {
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', TEST_USER], { stdio: 'ignore' });
    } catch {
      return t.log('SKIPPED LOUDLY: useradd is not available, -user cannot be tested here');
    }
    t.teardown(() => void spawn('userdel', [TEST_USER], { stdio: 'ignore' }));
  }
  const uid = Number(execFileSync('id', ['-u', TEST_USER], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', TEST_USER], { encoding: 'utf8' }).trim());
  const { dir, alice, bob } = await pair(t);
  // the child's user owns bob's spool (as the nncp user owns the spool in packages); the rest stays root's
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(bob.dir, 0o755);
  execFileSync('chown', ['-R', `${TEST_USER}:`, bob.spool]);
  fs.chmodSync(bob.cfgPath, 0o600);
  const { d, addr } = await daemon(t, bob, ['-user', TEST_USER]);
  const child = await networkChild(d);
  const status = fs.readFileSync(`/proc/${child}/status`, 'utf8');
  t.regex(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
  t.regex(status, new RegExp(`^Gid:\\s+${gid}\\s+${gid}\\s+${gid}\\s+${gid}$`, 'm'));
  t.regex(status, /^Groups:\s*$/m, 'no supplementary groups');
  await exchange(t, alice, bob, addr);
  // even outside Node's permission model, that user cannot read the configuration
  const r = spawn('cat', [bob.cfgPath], { uid, gid, stdio: 'ignore' });
  t.not(await new Promise((resolve) => r.on('exit', resolve)), 0);
});

test('-user without root, or with -noprivsep, is refused in one line', async (t) => {
  const { bob } = await pair(t);
  const r = await runImpl('pigeon', 'daemon', ['-cfg', bob.cfgPath, '-noprivsep', '-user', 'nobody', '-bind', '127.0.0.1:0']);
  t.is(r.code, 1, r.stderr);
  t.is(r.stderr, "pigeon daemon: -user: names the network child's user; it cannot go with -noprivsep\n");
});
