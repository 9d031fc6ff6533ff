/**
 * Issue 9 remainder: a packet id already in rx/quarantine/ (it failed
 * verification here before; a packet's name is its checksum, so a new copy
 * is the same bytes) is not received again: `xfer -rx` skips it (removing
 * it from the medium unless -keep, as for a seen packet) and an online
 * session answers its INFO with DONE instead of fetching it.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { callNode } from '../src/sp/call.js';
import { listenDaemon } from '../src/sp/daemon.js';
import { quarantinePacket } from '../src/spool/quarantine.js';
import { xferRx, xferTx } from '../src/xfer/xfer.js';
import { lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { callOptions } from './helpers/sp.js';
import { logRecords, tmpDir } from './helpers/util.js';

test('xfer -rx skips a packet whose id is in quarantine: not back in rx/, off the medium, logged', async (t) => {
  const { nodes, ctx } = await lab(t, ['alice', 'bob']);
  const { alice, bob } = nodes;
  const stick = await tmpDir(t);
  const pkt = await queueFile(ctx.alice, 'bob', 'x.bin', 5000);
  // first trip: received, then (as toss would on a failed block) quarantined
  t.true((await xferTx(ctx.alice, { dir: stick, mkdir: true, keep: true })).ok);
  t.true((await xferRx(ctx.bob, { dir: stick })).ok);
  await quarantinePacket(ctx.bob.spool, alice.idB32, pkt.id);
  // the same packet comes again (the sender kept it)
  t.true((await xferTx(ctx.alice, { dir: stick, mkdir: true, keep: true })).ok);
  const onStick = path.join(stick, bob.idB32, alice.idB32, pkt.id);
  t.true(fs.existsSync(onStick));
  const kept = await xferRx(ctx.bob, { dir: stick, keep: true });
  t.true(kept.ok);
  t.true(fs.existsSync(onStick), '-keep leaves it on the medium');
  const res = await xferRx(ctx.bob, { dir: stick });
  t.true(res.ok);
  t.deepEqual(res.packets, []);
  t.false(fs.existsSync(path.join(bob.spool, alice.idB32, 'rx', pkt.id)), 'not received again');
  t.false(fs.existsSync(onStick), 'removed from the medium, as a seen packet is');
  t.true(fs.existsSync(ctx.bob.spool.quarantinePath(alice.idB32, pkt.id)), 'the quarantined copy stays for a person');
  const recs = logRecords(bob.log).filter((r) => r.who === 'xfer-rx-quarantined');
  t.is(recs.length, 2);
  t.is(recs[0].fields.get('Pkt') ?? path.basename(recs[0].fields.get('File')!), pkt.id);
  t.regex(recs[0].fields.get('Msg')!, /in quarantine.*rm -quarantine/);
});

test('an online session answers the INFO of a quarantined id with DONE and does not fetch it again', async (t) => {
  const { nodes, ctx } = await lab(t, ['alice', 'bob'], { neighExtra: () => ({ onlinedeadline: 10 }) });
  const { alice, bob } = nodes;
  const daemon = await listenDaemon(ctx.bob, { bind: '127.0.0.1:0', maxConn: 4, nice: 255, noCK: false });
  t.teardown(() => daemon.close());
  const pkt = await queueFile(ctx.alice, 'bob', 'q.bin', 20_000);
  // bob already holds this id in quarantine (copy it there as a failed toss would leave it)
  const rx = path.join(bob.spool, alice.idB32, 'rx');
  fs.mkdirSync(rx, { recursive: true });
  fs.copyFileSync(path.join(alice.spool, bob.idB32, 'tx', pkt.id), path.join(rx, pkt.id));
  await quarantinePacket(ctx.bob.spool, alice.idB32, pkt.id);
  const res = await callNode(ctx.alice, callOptions(ctx.alice, 'bob', `127.0.0.1:${daemon.address.port}`));
  await daemon.checksIdle();
  t.true(res.ok);
  t.false(fs.existsSync(path.join(rx, pkt.id)), 'not fetched into rx/');
  t.false(fs.existsSync(path.join(rx, pkt.id + '.part')), 'no .part either');
  t.false(fs.existsSync(path.join(alice.spool, bob.idB32, 'tx', pkt.id)), 'DONE freed the sender copy');
  t.true(fs.existsSync(ctx.bob.spool.quarantinePath(alice.idB32, pkt.id)));
  t.is(logRecords(bob.log).filter((r) => r.who === 'sp-info-quarantined' && r.fields.get('Pkt') === pkt.id).length, 1);
  t.is(logRecords(bob.log).filter((r) => r.who === 'sp-file-done').length, 0);
});
