/**
 * -autotoss-gen-ack online: bob's daemon tosses what alice's call brings and
 * queues a (marked) ACK; the next call carries it back, alice's auto-toss
 * takes it, and bob's tx queue holds nothing more (its marker is swept).
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { callNode } from '../src/sp/call.js';
import { listenDaemon } from '../src/sp/daemon.js';
import { callOptions } from './helpers/sp.js';
import { lab } from './helpers/nncp.js';
import { queueFile } from './helpers/packets.js';
import { logRecords, packetIds, until } from './helpers/util.js';

test('daemon -autotoss -autotoss-gen-ack ACKs what a call brought; the next call takes the ACK back', async (t) => {
  const { nodes, ctx } = await lab(t, ['alice', 'bob'], { neighExtra: () => ({ onlinedeadline: 10 }) });
  const { alice, bob } = nodes;
  const daemon = await listenDaemon(ctx.bob, { bind: '127.0.0.1:0', maxConn: 8, nice: 255, noCK: false, autoToss: { doSeen: true, genAck: true } });
  t.teardown(() => daemon.close());
  // The first call only transmits (-tx): the ACK, made while it may still run, waits for the next one.
  const call = async (xx?: 'tx') => {
    const r = await callNode(ctx.alice, callOptions(ctx.alice, 'bob', `127.0.0.1:${daemon.address.port}`, { autoToss: { genAck: true }, xx }));
    await daemon.checksIdle();
    t.true(r.ok);
  };
  const f = await queueFile(ctx.alice, 'bob', 'online.bin', 3000);
  await call('tx');
  await until(() => fs.existsSync(path.join(bob.incoming, 'online.bin')), 10_000, 'the daemon to toss the file');
  const bobTx = path.join(bob.spool, alice.idB32, 'tx');
  await until(() => packetIds(bobTx).length === 1, 10_000, 'the ACK to be queued');
  const [ackId] = packetIds(bobTx);
  t.true(fs.existsSync(path.join(bobTx, 'ack', ackId)), 'marked as an automatic ACK');
  await call();
  t.deepEqual(packetIds(bobTx), [], 'sent by the second call');
  await until(() => logRecords(alice.log).some((r) => r.who === 'rx' && r.fields.get('Type') === 'ack' && r.fields.get('Pkt') === f.id), 10_000, "alice's auto-toss to take the ACK");
  t.deepEqual(packetIds(path.join(alice.spool, bob.idB32, 'tx')), []);
  t.false(logRecords(alice.log).some((r) => r.who === 'tx' && r.fields.get('Type') === 'ack'), 'no ACK of the ACK');
  t.deepEqual(await ctx.bob.spool.sweepAckMarks(alice.idB32, 0), [ackId], 'the marker of the ACK sent online is swept');
});
