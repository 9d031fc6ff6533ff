/**
 * Privilege separation for the calling side (issue 9, item 18): `pigeon
 * call` and `pigeon caller` dial in the parent, which holds the packet keys,
 * and hand each TCP socket to a network child that runs the session under
 * the permission model (the daemon's design, src/privsep/).
 *
 *   - in the library: a call through the child moves packets both ways,
 *     its records reach the parent's log, and the child's memory holds the
 *     Noise key and neither packet private key;
 *   - the command: `pigeon call` (privsep by default) against the
 *     reference's daemon, both ways, then with -noprivsep;
 *   - a call message from the parent is validated like the others.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { parseToChild, parseToParent } from '../src/privsep/messages.js';
import { startCallChild } from '../src/privsep/parent.js';
import { callNode } from '../src/sp/call.js';
import { listenDaemon } from '../src/sp/daemon.js';
import { tossAll } from '../src/toss/toss.js';
import { lab, makeNodes, type TestNode } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { callOptions } from './helpers/sp.js';
import { found, memoryOf } from './helpers/proc.js';
import { freePort, listening, logRecords, requireNncp, runImpl, startNncp, tmpDir, until } from './helpers/util.js';

test('a call through the network child: packets both ways, records in the parent\'s log, no packet key in the child', async (t) => {
  const { nodes, ctx } = await lab(t, ['alice', 'bob'], { neighExtra: () => ({ onlinedeadline: 10 }) });
  const daemon = await listenDaemon(ctx.bob, { bind: '127.0.0.1:0', maxConn: 4, nice: 255, noCK: false });
  t.teardown(() => daemon.close());
  const fa = await queueFile(ctx.alice, 'bob', 'from-alice.bin', 150_000);
  const fb = await queueFile(ctx.bob, 'alice', 'from-bob.bin', 70_000);
  const runner = await startCallChild(ctx.alice);
  t.teardown(() => runner.stop());
  const pid = runner.pid!;
  t.true(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--experimental-permission'), 'the child runs under the permission model');
  const res = await callNode(ctx.alice, callOptions(ctx.alice, 'bob', `127.0.0.1:${daemon.address.port}`, { runner }));
  await daemon.checksIdle();
  t.true(res.ok);
  // the child (not the parent) ran the session: the parent's log has its records
  const recs = logRecords(nodes.alice.log);
  t.is(recs.filter((r) => r.who === 'call-started').length, 1);
  t.is(recs.filter((r) => r.who === 'call-finished').length, 1);
  t.is(recs.find((r) => r.who === 'sp-file-done')?.fields.get('Pkt'), fb.id);
  t.is(recs.find((r) => r.who === 'sp-done')?.fields.get('Pkt'), fa.id);
  // after a session: the Noise key is in the child's memory, the packet keys are not
  const self = ctx.alice.cfg.self!;
  const mem = memoryOf(pid);
  t.true(found(mem, self.noisePrv), 'the Noise private key is in the child (the scan works)');
  t.false(found(mem, self.exchPrv), 'exchprv is not in the child');
  t.false(found(mem, self.signPrv.subarray(0, 32)), 'signprv is not in the child');
  t.false(found(mem, base32Encode(self.exchPrv)), 'exchprv (Base32) is not in the child');
  // what arrived is what was sent
  t.true((await tossAll(ctx.alice)).ok);
  t.true((await tossAll(ctx.bob)).ok);
  t.deepEqual(fs.readFileSync(path.join(nodes.bob.incoming, 'from-alice.bin')), fa.data);
  t.deepEqual(fs.readFileSync(path.join(nodes.alice.incoming, 'from-bob.bin')), fb.data);
  await runner.stop();
  t.false(fs.existsSync(`/proc/${pid}`) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), 'the child is gone after stop()');
});

test('call messages are validated: wrong types or values are refused', (t) => {
  const good = { t: 'call', conn: 1, node: 'A'.repeat(52), addr: '127.0.0.1:1', nice: 255, listOnly: false, noCK: false, rxRate: 0, txRate: 0, onlineDeadline: 10, maxOnlineTime: 0 };
  t.deepEqual(parseToChild(good), good);
  t.deepEqual(parseToChild({ ...good, xx: 'rx', pkts: ['B'.repeat(52)] }), { ...good, xx: 'rx', pkts: ['B'.repeat(52)] });
  for (const bad of [{ nice: 256 }, { node: 'alice' }, { xx: 'both' }, { pkts: 'x' }, { listOnly: 'no' }, { rxRate: -1 }]) {
    t.throws(() => parseToChild({ ...good, ...bad }), undefined, JSON.stringify(bad));
  }
  t.deepEqual(parseToParent({ t: 'called', conn: 3, started: true, ok: false }), { t: 'called', conn: 3, started: true, ok: false });
  t.throws(() => parseToParent({ t: 'called', conn: 3, started: 1, ok: false }));
});

async function sendFile(from: TestNode, to: TestNode, name: string, data: Uint8Array): Promise<void> {
  const src = path.join(from.dir, `src-${name}`);
  fs.writeFileSync(src, data);
  const r = await runImpl(from.generator, 'file', ['-cfg', from.cfgPath, '-quiet', src, `${to.name}:${name}`]);
  if (r.code !== 0) throw new Error(`${from.generator} file: ${r.stderr}`);
}

for (const flags of [[], ['-noprivsep']]) {
  test(`interop: pigeon call ${flags.join(' ') || '(privsep, the default)'} → nncp-daemon, packets both ways`, async (t) => {
    if (!requireNncp(t)) return;
    const dir = await tmpDir(t);
    const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: 'pigeon', bob: 'nncp' } });
    const port = await freePort();
    startNncp(t, 'nncp-daemon', ['-cfg', bob.cfgPath, '-quiet', '-bind', `127.0.0.1:${port}`]);
    await listening(port, 15_000, () => 'nncp-daemon');
    const toBob = randomBytes(200_000);
    const toAlice = randomBytes(90_000);
    await sendFile(alice, bob, 'to-bob.bin', toBob);
    await sendFile(bob, alice, 'to-alice.bin', toAlice);
    const r = await runImpl('pigeon', 'call', ['-cfg', alice.cfgPath, '-quiet', '-onlinedeadline', '1', ...flags, 'bob', `127.0.0.1:${port}`], { timeout: 60_000 });
    t.is(r.code, 0, r.stderr);
    const txOf = (n: TestNode, to: TestNode) => path.join(n.spool, to.idB32, 'tx');
    await until(() => fs.readdirSync(txOf(bob, alice)).filter((x) => x.length === 52).length === 0, 10_000, 'DONE at nncp-daemon');
    t.deepEqual(fs.readdirSync(txOf(alice, bob)).filter((x) => x.length === 52), []);
    for (const n of [alice, bob]) {
      const tr = await runImpl(n.generator, 'toss', ['-cfg', n.cfgPath, '-quiet']);
      t.is(tr.code, 0, tr.stderr);
    }
    t.deepEqual(fs.readFileSync(path.join(bob.incoming, 'to-bob.bin')), toBob);
    t.deepEqual(fs.readFileSync(path.join(alice.incoming, 'to-alice.bin')), toAlice);
    t.true(logRecords(alice.log).some((r) => r.who === 'call-finished'));
  });
}
