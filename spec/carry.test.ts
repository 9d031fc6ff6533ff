/**
 * `pigeon carry DIR` between two pigeon nodes: a round trip delivers
 * exactly once and drains both tx queues; a lost stick (with packets, or
 * with ACKs) only delays; -dryrun changes nothing; -rx/-tx/-notoss/-node.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { ackMarks, carryCli, deliveredOnce, incoming, pair, visit, rxOf, sendFiles, stickFiles, txOf, type Pair } from './helpers/carry.js';
import { fileContents, ok, runPigeon } from './helpers/util.js';

function summary(r: { stdout: Buffer }): string {
  return r.stdout.toString('utf8').trim();
}

function wipe(p: Pair): void {
  for (const e of fs.readdirSync(p.stick)) fs.rmSync(path.join(p.stick, e), { recursive: true, force: true });
}

test('round trip: delivered once, ours kept until ACKed, ACKs never kept, both queues drain', async (t) => {
  const p = await pair(t);
  const { alice, bob } = p;
  const files = await sendFiles(alice, bob, [0, 100_000, 17]);
  const sent = txOf(alice, bob);
  t.is(sent.length, 3);

  let r = await carryCli(p, alice);
  ok(t, 'alice carry', r);
  t.is(summary(r), 'carry: in 0, out 3, acknowledged 0, freed 0');
  t.deepEqual(txOf(alice, bob), sent, 'kept in tx until ACKed');

  r = await carryCli(p, bob);
  ok(t, 'bob carry', r);
  t.is(summary(r), 'carry: in 3, out 3, acknowledged 3, freed 0');
  deliveredOnce(t, bob, files);
  t.deepEqual(txOf(bob, alice), [], 'ACKs dequeued once on the stick');
  t.deepEqual(ackMarks(bob, alice), [], 'and their markers');
  t.true(fs.existsSync(path.join(bob.spool, alice.idB32, 'rx', 'seen', sent[0])), 'tossed with -seen');

  r = await carryCli(p, alice);
  ok(t, 'alice carry 2', r);
  t.is(summary(r), 'carry: in 3, out 0, acknowledged 0, freed 3');
  t.deepEqual(txOf(alice, bob), [], "alice's queue drained by the ACKs");
  t.deepEqual(stickFiles(p), [], 'nothing left on the stick');
  t.deepEqual(rxOf(alice, bob), []);
});

test('a stick lost with packets on it only delays', async (t) => {
  const p = await pair(t);
  const { alice, bob } = p;
  const files = await sendFiles(alice, bob, [5000, 7]);
  await visit(t, p, alice);
  wipe(p); // lost on the way
  await visit(t, p, bob);
  t.deepEqual(incoming(bob), []);
  await visit(t, p, alice);
  await visit(t, p, bob);
  await visit(t, p, alice);
  deliveredOnce(t, bob, files);
  t.deepEqual(txOf(alice, bob), []);
  t.deepEqual(txOf(bob, alice), []);
  t.deepEqual(stickFiles(p), []);
});

test('a stick lost with ACKs on it: the packets come again, are ACKed again (not delivered again), and the queues drain', async (t) => {
  const p = await pair(t);
  const { alice, bob } = p;
  const files = await sendFiles(alice, bob, [3000, 1]);
  await visit(t, p, alice);
  await visit(t, p, bob);
  deliveredOnce(t, bob, files);
  wipe(p); // the ACKs are lost
  t.is(await visit(t, p, alice), 'carry: in 0, out 2, acknowledged 0, freed 0', 'nothing freed, packets written again');
  t.is(await visit(t, p, bob), 'carry: in 0, out 2, acknowledged 2, freed 0', 'seen before: ACKed again, not delivered again');
  deliveredOnce(t, bob, files);
  t.is(await visit(t, p, alice), 'carry: in 2, out 0, acknowledged 0, freed 2');
  t.deepEqual(txOf(alice, bob), []);
  t.deepEqual(txOf(bob, alice), []);
  t.deepEqual(stickFiles(p), []);
});

test('both ways at once, and packets on the stick for other nodes are left alone', async (t) => {
  const p = await pair(t);
  const { alice, bob } = p;
  const toBob = await sendFiles(alice, bob, [10, 20]);
  const toAlice = await sendFiles(bob, alice, [30]);
  const foreign = path.join(p.stick, 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', alice.idB32, 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB');
  fs.mkdirSync(path.dirname(foreign), { recursive: true });
  fs.writeFileSync(foreign, 'not ours');
  for (let i = 0; i < 3; i++) {
    await visit(t, p, alice);
    await visit(t, p, bob);
  }
  deliveredOnce(t, bob, toBob);
  deliveredOnce(t, alice, toAlice);
  t.deepEqual(txOf(alice, bob), []);
  t.deepEqual(txOf(bob, alice), []);
  t.deepEqual(stickFiles(p), [path.relative(p.stick, foreign)], 'only the foreign packet remains');
});

test('-dryrun changes nothing and says what would be done', async (t) => {
  const p = await pair(t);
  const { alice, bob } = p;
  await sendFiles(alice, bob, [10, 20]);
  await visit(t, p, alice);
  await sendFiles(bob, alice, [5]);
  const before = [fileContents(p.dir, /(^|\/)log$/)];
  const r = await carryCli(p, bob, ['-dryrun']);
  ok(t, 'bob carry -dryrun', r);
  t.is(summary(r), 'carry (dry run): would take in 2, write out 1; 0 seen before (ACKed again unless ACKs)');
  t.deepEqual(fileContents(p.dir, /(^|\/)log$/), before[0], 'no file changed, none added');
});

test('-rx, -tx, -notoss, -node', async (t) => {
  const p = await pair(t);
  const { alice, bob } = p;
  const files = await sendFiles(alice, bob, [10, 20]);
  let r = await carryCli(p, alice, ['-rx']);
  t.is(summary(r), 'carry: in 0, out 0, acknowledged 0, freed 0');
  r = await carryCli(p, alice, ['-tx', '-node', 'bob']);
  t.is(summary(r), 'carry: in 0, out 2, acknowledged 0, freed 0');
  r = await carryCli(p, bob, ['-notoss']);
  t.is(summary(r), 'carry: in 2, out 2, acknowledged 2, freed 0');
  t.is(rxOf(bob, alice).length, 2, '-notoss: left in rx');
  t.deepEqual(incoming(bob), []);
  ok(t, 'pigeon toss', await runPigeonToss(bob.cfgPath));
  deliveredOnce(t, bob, files);
  r = await carryCli(p, alice);
  t.is(summary(r), 'carry: in 2, out 0, acknowledged 0, freed 2');
  t.deepEqual(txOf(alice, bob), []);
  r = await carryCli(p, alice, ['-rx', '-tx']);
  t.not(r.code, 0);
  t.regex(r.stderr, /-rx and -tx/);
  r = await carryCli(p, alice, ['-node', 'carol']);
  t.not(r.code, 0);
  t.regex(r.stderr, /carol/);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
});

function runPigeonToss(cfg: string) {
  return runPigeon(['toss', '-cfg', cfg, '-quiet'], { env: { NNCPNOSYNC: '1' } });
}
