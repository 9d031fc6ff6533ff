/**
 * `pigeon carry` killed (kill -9, PIGEON_KILLPOINT) at each named point of
 * its run, then run again, and the trips continued: every file delivered
 * exactly once, both tx queues drained, the stick empty, no temporary file
 * left on the stick or in the spool.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { ackMarks, carryCli, deliveredOnce, pair, sendFiles, stickFiles, txOf, visit as visitIn, type Pair } from './helpers/carry.js';
import { age, listFiles } from './helpers/util.js';

type Who = 'alice' | 'bob';

/**
 * Kill points, who is killed, and on which trip: 'first' = bob's first
 * visit (takes in, tosses, ACKs, writes the ACKs); 'again' = bob's visit
 * after the stick with his ACKs was lost (the packets come again, seen
 * before); 'acks' = alice's visit that takes the ACKs in.
 */
const POINTS: [string, Who, 'first' | 'again' | 'acks'][] = [
  ['carry-received', 'bob', 'first'],
  ['toss-handled', 'bob', 'first'],
  ['toss-delivered', 'bob', 'first'],
  ['toss-acked', 'bob', 'first'],
  ['toss-seen', 'bob', 'first'],
  ['toss-removed', 'bob', 'first'],
  ['carry-tossed', 'bob', 'first'],
  ['xfer-tx-written', 'bob', 'first'],
  ['xfer-tx-renamed', 'bob', 'first'],
  ['xfer-tx-dequeue', 'bob', 'first'],
  ['xfer-tx-ack-dequeued', 'bob', 'first'],
  ['xfer-rx-reacked', 'bob', 'again'],
  ['carry-received', 'alice', 'acks'],
  ['toss-handled', 'alice', 'acks'],
  ['carry-tossed', 'alice', 'acks'],
];

function wipe(p: Pair): void {
  for (const e of fs.readdirSync(p.stick)) fs.rmSync(path.join(p.stick, e), { recursive: true, force: true });
}

async function killed(t: ExecutionContext, p: Pair, who: Who, point: string): Promise<void> {
  const r = await carryCli(p, p[who], ['-quiet'], { PIGEON_KILLPOINT: point });
  t.regex(r.stderr, /killed by SIGKILL/, `${who} carry reached ${point} and died there: ${r.stderr}`);
  await visitIn(t, p, p[who]);
}

for (const [point, who, trip] of POINTS) {
  test(`kill -9 at ${point} (${who}, ${trip} trip), rerun: delivered once, queues drain, no debris`, async (t) => {
    const p = await pair(t);
    const { alice, bob } = p;
    const files = await sendFiles(alice, bob, [70_000, 3]);
    const visit = async (n: Who) => void (await visitIn(t, p, p[n]));
    await visit('alice');
    if (trip === 'first') await killed(t, p, 'bob', point);
    else await visit('bob');
    if (trip === 'again') {
      wipe(p);
      await visit('alice');
      await killed(t, p, 'bob', point);
    }
    if (trip === 'acks') await killed(t, p, 'alice', point);
    for (let i = 0; i < 2; i++) {
      await visit('alice');
      await visit('bob');
    }
    await visit('alice');
    deliveredOnce(t, bob, files);
    t.deepEqual(txOf(alice, bob), [], "alice's queue drained");
    t.deepEqual(txOf(bob, alice), [], "bob's queue drained (no ACK kept)");
    // A marker left by a kill between dequeue and unmark stands for no packet; swept once a minute old.
    for (const id of ackMarks(bob, alice)) {
      t.false(txOf(bob, alice).includes(id));
      age(path.join(bob.spool, alice.idB32, 'tx', 'ack', id), 1);
    }
    await visit('bob');
    t.deepEqual(ackMarks(bob, alice), [], 'no ACK marker left');
    t.deepEqual(stickFiles(p), [], 'the stick is empty: no packet, no temporary file');
    for (const n of [alice, bob]) t.deepEqual(listFiles(path.join(n.spool, 'tmp')), [], `${n.name}: nothing left in tmp/`);
  });
}
