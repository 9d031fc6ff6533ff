/**
 * -json on stat, log, check and pkt: one JSON object per line, with the
 * field names README documents ("Output for scripts"), run through the
 * `pigeon` executable on a spool built in-process.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spoolStatus } from '../src/admin/status.js';
import { lab } from './helpers/nncp.js';
import { fakePacket, queueFile } from './helpers/packets.js';
import { runPigeon } from './helpers/util.js';

function jsonLines(out: Buffer): any[] {
  const text = out.toString('utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => JSON.parse(l));
}

/** me with a file queued for alice, a bad packet in rx/ from bob, a last call and an error in the log. */
async function world(t: any) {
  const l = await lab(t, ['me', 'alice', 'bob']);
  const me = l.ctx.me;
  const { id: txId } = await queueFile(me, 'alice', 'report.txt', 5000, 96);
  const bad = fakePacket(l.nodes.bob.idB32, l.nodes.me.idB32, 160);
  const badId = 'A'.repeat(52); // not its MTH: check finds it bad
  const rxDir = me.spool.queueDir(l.nodes.bob.idB32, 'rx');
  fs.mkdirSync(rxDir, { recursive: true });
  fs.writeFileSync(path.join(rxDir, badId), bad.data);
  me.log.info('call-finished', [['Node', l.nodes.alice.idB32], ['Duration', 3]], 'Finished call with alice');
  me.log.error('rx', [['Node', l.nodes.bob.idB32], ['Pkt', badId]], new Error('something broke'), 'Tossing bob');
  return { l, txId, badId, badSize: bad.data.length };
}

test('stat -json: one object per neighbour, queues, niceness, oldest, last call, errors; -pkt lists packets', async (t) => {
  const { l, txId, badId, badSize } = await world(t);
  const cfg = l.nodes.me.cfgPath;
  const r = await runPigeon(['stat', '-json', '-cfg', cfg]);
  t.is(r.code, 0, r.stderr);
  const rows = jsonLines(r.stdout);
  t.deepEqual(rows.map((x) => x.node), ['alice', 'bob', 'self']); // self too, as nncp-stat lists it
  const [alice, bob] = rows;
  t.is(alice.id, l.nodes.alice.idB32);
  t.is(alice.tx.pkts, 1);
  t.true(alice.tx.bytes > 5000);
  t.deepEqual(alice.rx, { pkts: 0, bytes: 0 });
  t.deepEqual(alice.nice.map((n: any) => [n.nice, n.niceName, n.tx.pkts]), [[96, 'P', 1]]);
  t.regex(alice.oldest, /^\d{4}-\d\d-\d\dT/);
  t.is(alice.lastCall.who, 'call-finished');
  t.is(alice.lastCall.msg, 'Finished call with alice');
  t.deepEqual(alice.errors, []);
  t.false('packets' in alice);
  t.deepEqual(bob.rx, { pkts: 1, bytes: badSize });
  t.is(bob.lastCall, null);
  t.is(bob.errors.length, 1);
  t.is(bob.errors[0].who, 'rx');
  t.regex(bob.errors[0].err, /something broke/);

  const p = await runPigeon(['stat', '-json', '-pkt', '-node', 'alice', '-cfg', cfg]);
  t.is(p.code, 0, p.stderr);
  const [only] = jsonLines(p.stdout);
  t.is(jsonLines(p.stdout).length, 1);
  t.deepEqual(
    only.packets.map((x: any) => [x.queue, x.id, x.name, x.nice, x.niceName]),
    [['tx', txId, txId, 96, 'P']],
  );
  t.not(badId, txId);
  // the library call gives the same objects
  const lib = await spoolStatus(l.ctx.me, { pkt: true });
  t.deepEqual(lib[0].packets, only.packets);
});

test('stat -json and -html together are refused in one line', async (t) => {
  const { l } = await world(t);
  const r = await runPigeon(['stat', '-json', '-html', '-cfg', l.nodes.me.cfgPath]);
  t.not(r.code, 0);
  t.regex(r.stderr, /^pigeon stat: -json and -html: pick one\n$/);
});

test('check -json: one object per checked packet, bad ones with ok false and why; exit code as without -json', async (t) => {
  const { l, txId, badId } = await world(t);
  const r = await runPigeon(['check', '-json', '-cfg', l.nodes.me.cfgPath]);
  t.is(r.code, 1);
  const rows = jsonLines(r.stdout).sort((a, b) => (a.node < b.node ? -1 : 1));
  t.is(rows.length, 2);
  t.like(rows[0], { node: 'alice', id: l.nodes.alice.idB32, queue: 'tx', pkt: txId, ok: true });
  t.false('error' in rows[0]);
  t.like(rows[1], { node: 'bob', queue: 'rx', pkt: badId, ok: false, error: 'checksum mismatch' });
  t.true(rows[1].path.endsWith(badId));
  t.is(typeof rows[1].size, 'number');
});

test('pkt -json: encrypted header, then the dumped plain packet; -overheads', async (t) => {
  const { l, txId } = await world(t);
  const txPath = l.ctx.me.spool.packetPath(l.nodes.alice.idB32, 'tx', txId);
  const enc = await runPigeon(['pkt', '-json', '-cfg', l.nodes.me.cfgPath], { stdinFile: txPath });
  t.is(enc.code, 0, enc.stderr);
  t.deepEqual(jsonLines(enc.stdout), [
    { packet: 'encrypted', nice: 96, niceName: 'P', sender: l.nodes.me.idB32, senderName: 'self', recipient: l.nodes.alice.idB32, recipientName: 'alice', area: null },
  ]);
  const dumped = await runPigeon(['pkt', '-dump', '-cfg', l.nodes.alice.cfgPath], { stdinFile: txPath });
  t.is(dumped.code, 0, dumped.stderr);
  const plain = await runPigeon(['pkt', '-json', '-cfg', l.nodes.alice.cfgPath], { input: dumped.stdout });
  t.is(plain.code, 0, plain.stderr);
  t.deepEqual(jsonLines(plain.stdout), [{ packet: 'plain', payload: 'file', nice: 96, niceName: 'P', path: 'report.txt', pathName: null }]);
  const o = await runPigeon(['pkt', '-overheads', '-json', '-cfg', l.nodes.me.cfgPath]);
  t.deepEqual(jsonLines(o.stdout), [{ plain: 276, encrypted: 172, size: 16 }]);
});

test('log -json: one object per record, with when, who, msg, err and every field', async (t) => {
  const { l, badId } = await world(t);
  const r = await runPigeon(['log', '-json', '-cfg', l.nodes.me.cfgPath]);
  t.is(r.code, 0, r.stderr);
  const recs = jsonLines(r.stdout);
  const human = await runPigeon(['log', '-cfg', l.nodes.me.cfgPath]);
  t.is(recs.length, human.stdout.toString().trim().split('\n').length);
  const fin = recs.find((x) => x.who === 'call-finished');
  t.like(fin, { msg: 'Finished call with alice' });
  t.regex(fin.when, /^\d{4}-\d\d-\d\dT/);
  t.is(fin.fields.Node, l.nodes.alice.idB32);
  t.is(fin.fields.Duration, '3');
  t.false('err' in fin);
  const err = recs.find((x) => x.who === 'rx');
  t.regex(err.err, /something broke/);
  t.is(err.fields.Pkt, badId);
});
