/**
 * The sync protocol against the reference, over loopback TCP, with the
 * command-line programs on both sides:
 *   - `pigeon call` → `nncp-daemon` and `nncp-call` → `pigeon daemon`, with
 *     packets both ways in one session, delivered by toss afterwards;
 *   - resume after a caller killed mid-packet (the packet then arrives once,
 *     intact), with pigeon receiving as caller and as daemon, and pigeon
 *     sending from the offset the reference asks for;
 *   - a stranger (a node the daemon does not know) refused by each daemon.
 */
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { makeNodes, saveNode, type TestNode } from './helpers/nncp.js';
import { freePort, listening, logRecords, requireNncp, runImpl, runNncp, startNncp, startPigeon, tmpDir, until, type Started } from './helpers/util.js';

/** A daemon of either implementation for `node`, listening on a fresh loopback port. */
async function daemon(t: ExecutionContext, impl: 'nncp' | 'pigeon', node: TestNode): Promise<string> {
  const port = await freePort();
  const args = ['-cfg', node.cfgPath, '-quiet', '-bind', `127.0.0.1:${port}`];
  if (impl === 'nncp') startNncp(t, 'nncp-daemon', args);
  else startPigeon(t, ['daemon', ...args]);
  await listening(port);
  return `127.0.0.1:${port}`;
}

function queued(from: TestNode, to: TestNode, xx: 'tx' | 'rx' = 'tx', suffix = ''): string[] {
  const dir = path.join(from.spool, to.idB32, xx);
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((n) => n.length === 52 + suffix.length && n.endsWith(suffix));
}

/** Queue `data` as file `name` from `from` to `to` with its own implementation's `file` command. */
async function sendFile(from: TestNode, to: TestNode, name: string, data: Uint8Array): Promise<void> {
  const src = path.join(from.dir, `src-${name}`);
  fs.writeFileSync(src, data);
  const args = ['-cfg', from.cfgPath, '-quiet', src, `${to.name}:${name}`];
  const r = await runImpl(from.generator, 'file', args);
  if (r.code !== 0) throw new Error(`${from.generator} file failed: ${r.stderr}`);
}

async function toss(n: TestNode): Promise<void> {
  const args = ['-cfg', n.cfgPath, '-quiet'];
  const r = await runImpl(n.generator, 'toss', args);
  if (r.code !== 0) throw new Error(`${n.generator} toss failed: ${r.stderr}`);
}

function call(caller: TestNode, callee: TestNode, addr: string, extra: string[] = []) {
  const args = ['-cfg', caller.cfgPath, '-quiet', '-onlinedeadline', '1', ...extra, callee.name, addr];
  return runImpl(caller.generator, 'call', args, { timeout: 30_000 });
}

/** Start a call that will be killed: its process and the promise of its exit. */
function startCall(t: ExecutionContext, caller: TestNode, callee: TestNode, addr: string, extra: string[]): Started {
  const args = ['-cfg', caller.cfgPath, '-quiet', '-onlinedeadline', '5', ...extra, callee.name, addr];
  return caller.generator === 'pigeon' ? startPigeon(t, ['call', ...args]) : startNncp(t, 'nncp-call', args);
}

function partSize(at: TestNode, from: TestNode): number {
  const dir = path.join(at.spool, from.idB32, 'rx');
  if (!fs.existsSync(dir)) return 0;
  const part = fs.readdirSync(dir).find((n) => n.endsWith('.part'));
  return part ? fs.statSync(path.join(dir, part)).size : 0;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

for (const [callerImpl, daemonImpl] of [['pigeon', 'nncp'], ['nncp', 'pigeon']] as const) {
  test(`${callerImpl} call → ${daemonImpl} daemon: packets both ways in one session, tossed afterwards`, async (t) => {
    if (!requireNncp(t)) return;
    const dir = await tmpDir(t);
    const nodes = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: callerImpl, bob: daemonImpl } });
    const { alice, bob } = nodes;
    const toBob = randomBytes(100_000);
    const toAlice = randomBytes(5_000);
    await sendFile(alice, bob, 'to-bob.bin', toBob);
    await sendFile(bob, alice, 'to-alice.bin', toAlice);
    await sendFile(bob, alice, 'to-alice-2.txt', Buffer.from('second one\n'));
    const addr = await daemon(t, daemonImpl, bob);
    const r = await call(alice, bob, addr);
    t.is(r.code, 0, r.stderr);
    // the senders' copies are gone (DONE), the receivers hold the packets
    await until(() => queued(bob, alice).length === 0, 5000, 'DONE at the daemon');
    t.deepEqual(queued(alice, bob), []);
    t.is(queued(bob, alice, 'rx').length, 1);
    t.is(queued(alice, bob, 'rx').length, 2);
    const calls = logRecords(alice.log).filter((rec) => rec.who === 'call-started');
    t.is(calls.length, 1, 'one session');
    t.false(calls[0].fields.has('Err'));
    await toss(alice);
    await toss(bob);
    t.deepEqual(fs.readFileSync(path.join(bob.incoming, 'to-bob.bin')), toBob);
    t.deepEqual(fs.readFileSync(path.join(alice.incoming, 'to-alice.bin')), toAlice);
    t.is(fs.readFileSync(path.join(alice.incoming, 'to-alice-2.txt'), 'utf8'), 'second one\n');
    // the pigeon side's log reads the same through nncp-log
    const pigeonNode = callerImpl === 'pigeon' ? alice : bob;
    const shown = await runNncp('nncp-log', ['-cfg', pigeonNode.cfgPath]);
    t.is(shown.code, 0);
    t.regex(shown.stdout.toString(), callerImpl === 'pigeon' ? /Connection to bob \(127\.0\.0\.1:\d+\)/ : /Connection with alice \(127\.0\.0\.1:\d+\)/);
    t.regex(shown.stdout.toString(), /Finished call with/);
  });
}

/**
 * Kill a call while a 20 MB packet is in flight (rate-limited so the kill
 * lands mid-packet), call again: the packet resumes from the .part and
 * arrives once, intact.
 */
async function killAndResume(t: ExecutionContext, callerImpl: 'nncp' | 'pigeon', daemonImpl: 'nncp' | 'pigeon', direction: 'to-caller' | 'to-daemon'): Promise<void> {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: callerImpl, bob: daemonImpl } });
  const [sender, receiver] = direction === 'to-caller' ? [bob, alice] : [alice, bob];
  const data = randomBytes(20 << 20);
  await sendFile(sender, receiver, 'big.bin', data);
  const [pktId] = queued(sender, receiver);
  const addr = await daemon(t, daemonImpl, bob);
  // the caller limits the packets it receives (-rxrate) or sends (-txrate)
  const rate = direction === 'to-caller' ? ['-rxrate', '40'] : ['-txrate', '40'];
  const first = startCall(t, alice, bob, addr, rate);
  await until(() => partSize(receiver, sender) >= 2 << 20, 20_000, 'a part of the packet');
  first.child.kill('SIGKILL');
  await first.exited;
  const part = partSize(receiver, sender);
  t.true(part > 0 && part < data.length, `killed mid-packet (${part} bytes received)`);
  // the daemon notices the end of the first session; call again, at full speed
  await new Promise((r) => setTimeout(r, 300));
  const r = await call(alice, bob, addr, ['-onlinedeadline', '2']);
  t.is(r.code, 0, r.stderr);
  await until(() => queued(sender, receiver).length === 0, 10_000, 'DONE removing the sender copy');
  t.deepEqual(queued(receiver, sender, 'rx'), [pktId]);
  t.deepEqual(queued(receiver, sender, 'rx', '.part'), []);
  // the resumed request started where the first session stopped
  const infos = logRecords(receiver.log).filter((rec) => rec.who === 'sp-info' && rec.fields.get('Pkt') === pktId);
  t.true(infos.some((rec) => Number(rec.fields.get('Offset')) >= part - (1 << 20) && Number(rec.fields.get('Offset')) > 0), 'resumed from the .part');
  await toss(receiver);
  const got = fs.readdirSync(receiver.incoming);
  t.deepEqual(got, ['big.bin'], 'arrived once');
  t.is(sha(fs.readFileSync(path.join(receiver.incoming, 'big.bin'))), sha(data), 'intact');
}

test('resume: pigeon call receiving from nncp-daemon, killed mid-packet', (t) => killAndResume(t, 'pigeon', 'nncp', 'to-caller'));
test('resume: pigeon daemon receiving from nncp-call, killed mid-packet', (t) => killAndResume(t, 'nncp', 'pigeon', 'to-daemon'));
test('resume: pigeon daemon sending to nncp-call from the offset it asks for', (t) => killAndResume(t, 'nncp', 'pigeon', 'to-caller'));

for (const daemonImpl of ['nncp', 'pigeon'] as const) {
  const callerImpl = daemonImpl === 'nncp' ? 'pigeon' : 'nncp';
  test(`a stranger calling a ${daemonImpl} daemon is refused`, async (t) => {
    if (!requireNncp(t)) return;
    const dir = await tmpDir(t);
    const { bob, carol } = await makeNodes(dir, ['bob', 'carol'], { generator: { bob: daemonImpl, carol: callerImpl } });
    // bob does not know carol (carol still knows bob)
    delete bob.raw.neigh.carol;
    await saveNode(bob);
    await sendFile(carol, bob, 'spam.txt', Buffer.from('spam'));
    const addr = await daemon(t, daemonImpl, bob);
    const r = await call(carol, bob, addr);
    t.not(r.code, 0);
    t.is(queued(carol, bob).length, 1, 'nothing was taken from the stranger');
    t.false(fs.existsSync(path.join(bob.spool, carol.idB32)), 'no spool directory for the stranger');
    const rec = logRecords(carol.log).find((x) => x.who === 'call-started');
    t.truthy(rec?.fields.get('Err'), 'the caller logs a failed call');
    // both daemons log the same refusal record
    await until(() => logRecords(bob.log).some((x) => x.who === 'sp-startR-unknown'), 5000, 'the refusal record');
    const refused = logRecords(bob.log).find((x) => x.who === 'sp-startR-unknown')!;
    t.is(refused.fields.get('Err'), `unknown peer: ${refused.fields.get('Peer')}`);
    t.is(refused.fields.get('Peer')!.length, 52);
    t.is(refused.fields.get('Nice'), '255');
  });
}
