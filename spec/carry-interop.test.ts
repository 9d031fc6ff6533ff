/**
 * `pigeon carry` against the reference: a node that runs carry and one that
 * runs the five-step script with nncp-* (each reads what the other writes
 * on the stick), and one node alternating between carry and the reference's
 * script on the same spool. Every file delivered exactly once, both tx
 * queues drained after a few trips.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { deliveredOnce, pair, sendFiles, txOf, visit, type Pair } from './helpers/carry.js';
import type { TestNode } from './helpers/nncp.js';
import { bash, packetIds, requireNncp } from './helpers/util.js';

/** The reference's five-step visit of the stick by `node` for neighbour `peer` (acks listed in DIR/acks-NAME). */
async function script(t: ExecutionContext, p: Pair, node: TestNode, peer: TestNode): Promise<void> {
  const acks = path.join(p.dir, `acks-${node.name}`);
  const c = `-quiet -cfg ${node.cfgPath}`;
  const r = await bash(
    [
      'set -e',
      `nncp-xfer ${c} -rx ${p.stick}`,
      `nncp-ack ${c} -node ${peer.name} 4>${acks}`,
      `nncp-toss ${c} -seen`,
      `nncp-xfer ${c} -keep -tx -mkdir ${p.stick}`,
      `nncp-rm ${c} -node ${peer.name} -pkt < ${acks}`,
    ].join('\n'),
  );
  t.is(r.code, 0, `${node.name}'s five-step script: ${r.stderr}`);
}

/** Packet files left on the stick (empty directories aside). */
function stickPackets(p: Pair): string[] {
  const out: string[] = [];
  for (const to of fs.readdirSync(p.stick)) for (const from of fs.readdirSync(path.join(p.stick, to))) out.push(...packetIds(path.join(p.stick, to, from)));
  return out;
}

test('carry on one side, the reference five-step script on the other: both ways, exactly once, queues drain', async (t) => {
  if (!requireNncp(t)) return;
  const p = await pair(t, { generator: 'nncp' });
  const { alice, bob } = p;
  const toBob = await sendFiles(alice, bob, [40_000, 0]);
  const toAlice = await sendFiles(bob, alice, [9]);
  t.is(await visit(t, p, alice), 'carry: in 0, out 2, acknowledged 0, freed 0');
  await script(t, p, bob, alice); // takes alice's packets in, ACKs them, writes its own file and the ACKs
  deliveredOnce(t, bob, toBob);
  t.is(await visit(t, p, alice), 'carry: in 3, out 1, acknowledged 1, freed 2', 'nncp-ack\'s ACKs free ours; the reference\'s file is ACKed');
  deliveredOnce(t, alice, toAlice);
  t.deepEqual(txOf(alice, bob), []);
  await script(t, p, bob, alice); // takes carry's ACK in: bob's kept packet goes
  t.deepEqual(txOf(bob, alice), [], 'carry\'s ACK, tossed by nncp-toss, freed the reference\'s kept packet');
  t.deepEqual(stickPackets(p), []);
  deliveredOnce(t, bob, toBob);
  deliveredOnce(t, alice, toAlice);
});

test('a node alternating between carry and the reference script on one spool', async (t) => {
  if (!requireNncp(t)) return;
  const p = await pair(t, { generator: 'nncp' });
  const { alice, bob } = p;
  const toBob = await sendFiles(alice, bob, [1000, 2000]);
  const toAlice = await sendFiles(bob, alice, [3000]);
  // Trip 1: alice with the reference script, bob with carry.
  await script(t, p, alice, bob);
  await visit(t, p, bob);
  // Trip 2: alice with carry.
  await visit(t, p, alice);
  await visit(t, p, bob);
  // Trip 3: alice with the script again, then carry.
  await script(t, p, alice, bob);
  await visit(t, p, bob);
  await visit(t, p, alice);
  deliveredOnce(t, bob, toBob);
  deliveredOnce(t, alice, toAlice);
  // Trip 4: carry -rx queues an automatic ACK (marked), the reference's xfer -keep -tx carries it and keeps it;
  // the next carry dequeues it (marked), the duplicate ACK on bob's side is dropped, not ACKed.
  const more = await sendFiles(bob, alice, [4000]);
  await visit(t, p, bob);
  t.is(await visit(t, p, alice, { rxOnly: true }), 'carry: in 1, out 0, acknowledged 1, freed 0');
  await script(t, p, alice, bob);
  t.is(txOf(alice, bob).length, 1, 'nncp-xfer -keep kept the ACK');
  await visit(t, p, bob);
  t.deepEqual(txOf(bob, alice), [], 'the ACK freed bob\'s packet');
  await visit(t, p, alice);
  await visit(t, p, bob);
  deliveredOnce(t, alice, new Map([...toAlice, ...more]));
  t.deepEqual(txOf(alice, bob), [], "alice's queue drained");
  t.deepEqual(txOf(bob, alice), [], "bob's queue drained");
  t.deepEqual(stickPackets(p), []);
});
