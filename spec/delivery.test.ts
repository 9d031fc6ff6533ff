/**
 * Delivery records (spool/delivery.ts): a record names its packet, and
 * the record files of one toss are reused through SpareRecords.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readDelivery, removeDelivery, SpareRecords, sweepDeliveries, writeDelivery } from '../src/spool/delivery.js';
import { Spool } from '../src/spool/spool.js';

const NODE = 'A'.repeat(52);
const P1 = 'B'.repeat(52);
const P2 = 'C'.repeat(52);

function spoolIn(t: { teardown(f: () => void): void }): Spool {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pigeon-delivery-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return new Spool({ root: dir, noSync: true });
}

test('a record reads back for its packet only; one without a packet name (older Pigeon) is its file\'s', async (t) => {
  const spool = spoolIn(t);
  await writeDelivery(spool, NODE, P1, { kind: 'exec', state: 'started' }, 'none');
  t.deepEqual(await readDelivery(spool, NODE, P1), { kind: 'exec', state: 'started' });
  fs.copyFileSync(spool.deliveryPath(NODE, P1), spool.deliveryPath(NODE, P2));
  t.is(await readDelivery(spool, NODE, P2), null, 'another packet\'s record is none');
  fs.writeFileSync(spool.deliveryPath(NODE, P2), '{"kind":"file","state":"done"}\n');
  t.deepEqual(await readDelivery(spool, NODE, P2), { kind: 'file', state: 'done' });
});

test('a removed record becomes a spare; the next record takes its inode; drop removes what is left', async (t) => {
  const spool = spoolIn(t);
  const dir = spool.deliveryDir(NODE);
  const spares = new SpareRecords(dir);
  await writeDelivery(spool, NODE, P1, { kind: 'file', state: 'done' }, 'none', spares);
  const ino = fs.statSync(spool.deliveryPath(NODE, P1)).ino;
  await removeDelivery(spool, NODE, P1, spares);
  t.deepEqual(fs.readdirSync(dir), ['.spare-0']);
  await writeDelivery(spool, NODE, P2, { kind: 'exec', state: 'started' }, 'none', spares);
  t.deepEqual(fs.readdirSync(dir), [P2], 'the spare went into the new record');
  t.is(fs.statSync(spool.deliveryPath(NODE, P2)).ino, ino, 'same inode: none made');
  t.deepEqual(await readDelivery(spool, NODE, P2), { kind: 'exec', state: 'started' });
  await removeDelivery(spool, NODE, P2, spares);
  spares.drop();
  t.deepEqual(fs.readdirSync(dir), []);
});

test('a spare never replaces an existing record: that one is written over in place, the spare kept', async (t) => {
  const spool = spoolIn(t);
  const dir = spool.deliveryDir(NODE);
  const spares = new SpareRecords(dir);
  await writeDelivery(spool, NODE, P1, { kind: 'file', state: 'done' }, 'none', spares);
  await removeDelivery(spool, NODE, P1, spares);
  await writeDelivery(spool, NODE, P2, { kind: 'exec', state: 'started' }, 'none');
  const ino = fs.statSync(spool.deliveryPath(NODE, P2)).ino;
  await writeDelivery(spool, NODE, P2, { kind: 'exec', state: 'done' }, 'none', spares);
  t.is(fs.statSync(spool.deliveryPath(NODE, P2)).ino, ino);
  t.deepEqual(await readDelivery(spool, NODE, P2), { kind: 'exec', state: 'done' });
  t.deepEqual(fs.readdirSync(dir).sort(), ['.spare-0', P2]);
  spares.drop();
  t.deepEqual(fs.readdirSync(dir), [P2]);
});

test('the sweep removes spares a killed toss left', async (t) => {
  const spool = spoolIn(t);
  const dir = spool.deliveryDir(NODE);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, '.spare-3'), '{"pkt":"x","kind":"file","state":"done"}\n');
  const removed = await sweepDeliveries(spool, NODE);
  t.deepEqual(removed, [path.join(dir, '.spare-3')]);
  t.deepEqual(fs.readdirSync(dir), []);
});
