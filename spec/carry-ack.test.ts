/**
 * NNCP 8.9's automatic ACKs in pigeon: toss -gen-ack (with the neighbour's
 * `ack: {nice, minsize}`), automatic ACK packets dequeued by xfer -tx even
 * with -keep, xfer -rx ACKing again a packet seen before when the sender has
 * an `ack` section, -autotoss-gen-ack / `autotoss-gen-ack`; and the
 * reference 8.8.2 loading a configuration that uses those keys.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { autoTossSwitches } from '../cmd/common.js';
import { judgeHeader } from '../src/admin/stat.js';
import { ENC_HEADER_SIZE } from '../src/packet/header.js';
import { loadConfig } from '../src/config/load.js';
import { autoTossFor } from '../src/sp/caller.js';
import { ackMarks, deliveredOnce, pair, sendFiles, txOf, type Pair } from './helpers/carry.js';
import { saveNode, type TestNode } from './helpers/nncp.js';
import { haveNncp, logRecords, ok, requireNncp, runNncp, runPigeon } from './helpers/util.js';

const pigeon = (node: TestNode, ...args: string[]) => runPigeon([args[0], '-cfg', node.cfgPath, '-quiet', ...args.slice(1)], { env: { NNCPNOSYNC: '1' } });

async function withAck(p: Pair, ack: Record<string, unknown>): Promise<void> {
  p.bob.raw.neigh.alice.ack = ack;
  p.bob.raw.neigh.alice.calls = [{ cron: '*/5 * * * *', 'autotoss-gen-ack': true }];
  await saveNode(p.bob);
}

test('toss -gen-ack: one ACK per tossed packet, with the ack section\'s nice and minsize; xfer -tx -keep still dequeues it; the ACK frees the sender\'s copy', async (t) => {
  const p = await pair(t);
  const { alice, bob } = p;
  await withAck(p, { nice: 'FLASH', minsize: 4 });
  const files = await sendFiles(alice, bob, [5000, 10]);
  ok(t, 'alice xfer -keep -tx', await pigeon(alice, 'xfer', '-keep', '-tx', '-mkdir', p.stick));
  ok(t, 'bob xfer -rx', await pigeon(bob, 'xfer', '-rx', p.stick));
  ok(t, 'bob toss -gen-ack', await pigeon(bob, 'toss', '-seen', '-gen-ack'));
  deliveredOnce(t, bob, files);
  const acks = txOf(bob, alice);
  t.is(acks.length, 2, 'one ACK per tossed packet');
  t.deepEqual(ackMarks(bob, alice), acks, 'marked as automatic ACKs');
  for (const id of acks) {
    const f = path.join(bob.spool, alice.idB32, 'tx', id);
    t.true(fs.statSync(f).size >= 4 * 1024, 'padded to ack.minsize KiB');
    const v = judgeHeader(fs.readFileSync(f).subarray(0, ENC_HEADER_SIZE));
    t.true(v.ok && v.nice === 32, 'niceness FLASH (32) in the header');
  }
  ok(t, 'bob xfer -keep -tx', await pigeon(bob, 'xfer', '-keep', '-tx', p.stick));
  t.deepEqual(txOf(bob, alice), [], 'automatic ACKs leave tx once on the medium, -keep or not');
  t.deepEqual(ackMarks(bob, alice), []);
  if (haveNncp()) {
    // The reference takes pigeon's automatic ACKs like nncp-ack's.
    ok(t, 'nncp-xfer -rx', await runNncp('nncp-xfer', ['-cfg', alice.cfgPath, '-quiet', '-rx', p.stick]));
    ok(t, 'nncp-toss', await runNncp('nncp-toss', ['-cfg', alice.cfgPath, '-quiet']));
  } else {
    ok(t, 'alice xfer -rx', await pigeon(alice, 'xfer', '-rx', p.stick));
    ok(t, 'alice toss', await pigeon(alice, 'toss'));
  }
  t.deepEqual(txOf(alice, bob), [], "the ACKs freed alice's kept packets");
});

test('xfer -rx ACKs again a packet seen before when the sender has an ack section (and only then); toss -gen-ack ACKs a seen duplicate again', async (t) => {
  const p = await pair(t);
  const { alice, bob } = p;
  await sendFiles(alice, bob, [100]);
  ok(t, 'alice xfer -keep -tx', await pigeon(alice, 'xfer', '-keep', '-tx', '-mkdir', p.stick));
  ok(t, 'bob xfer -rx', await pigeon(bob, 'xfer', '-rx', p.stick));
  ok(t, 'bob toss -seen', await pigeon(bob, 'toss', '-seen'));
  t.deepEqual(txOf(bob, alice), [], 'no -gen-ack: no ACK');
  // Again on the stick (its ACK never came): without an ack section it is only dropped, as before.
  ok(t, 'alice xfer -keep -tx', await pigeon(alice, 'xfer', '-keep', '-tx', p.stick));
  ok(t, 'bob xfer -rx', await pigeon(bob, 'xfer', '-rx', p.stick));
  t.deepEqual(txOf(bob, alice), []);
  // With an ack section: ACKed again.
  await withAck(p, {});
  ok(t, 'alice xfer -keep -tx', await pigeon(alice, 'xfer', '-keep', '-tx', p.stick));
  ok(t, 'bob xfer -rx', await pigeon(bob, 'xfer', '-rx', p.stick));
  t.is(txOf(bob, alice).length, 1, 'ACKed again');
  t.true(logRecords(bob.log).some((r) => r.who === 'xfer-rx-ack'), 'logged');
  // A seen packet back in rx/: toss -gen-ack ACKs it again and drops it.
  const [id] = txOf(alice, bob);
  const rx = path.join(bob.spool, alice.idB32, 'rx', id);
  fs.copyFileSync(path.join(alice.spool, bob.idB32, 'tx', id), rx);
  ok(t, 'bob toss -gen-ack', await pigeon(bob, 'toss', '-seen', '-gen-ack'));
  t.false(fs.existsSync(rx));
  t.is(txOf(bob, alice).length, 2, 'ACKed again by toss');
  t.is(fs.readdirSync(bob.incoming).length, 1, 'delivered once only');
});

test('ack section and autotoss-gen-ack: pigeon reads them, -autotoss-gen-ack too, bad values get one line', async (t) => {
  const p = await pair(t);
  await withAck(p, { nice: 'PRIORITY+1', minsize: 2 });
  const cfg = await loadConfig({ cfg: p.bob.cfgPath, env: {} });
  const alice = cfg.byName.get('alice')!;
  t.deepEqual(alice.ack, { nice: 97, minSize: 2048 });
  t.true(alice.calls[0].autoTossGenAck);
  t.deepEqual(cfg.warnings, [], 'no unknown-key warning');
  t.is(cfg.byName.get('self')!.ack, undefined, 'absent when the section is');
  t.true(autoTossFor(alice, alice.calls[0], { autoToss: true })!.genAck);
  t.true(autoTossSwitches({ 'autotoss-gen-ack': true }).genAck);
  for (const [bad, msg] of [
    [{ nice: 'SOON' }, /ack\.nice.*not a niceness/],
    [{ minsize: -1 }, /ack\.minsize/],
    [{ nicety: 1 }, /nicety/],
  ] as const) {
    await withAck(p, bad);
    const r = await runPigeon(['stat', '-cfg', p.bob.cfgPath]);
    t.regex(r.stderr, msg, JSON.stringify(bad));
    t.notRegex(r.stderr, /\n\s+at /);
  }
});

test('the reference 8.8.2 loads a configuration with ack sections and autotoss-gen-ack', async (t) => {
  if (!requireNncp(t)) return;
  const p = await pair(t, { generator: 'nncp' });
  await withAck(p, { nice: 'FLASH', minsize: 4 });
  ok(t, 'nncp-stat', await runNncp('nncp-stat', ['-cfg', p.bob.cfgPath]));
  ok(t, 'nncp-toss', await runNncp('nncp-toss', ['-cfg', p.bob.cfgPath, '-quiet']));
  ok(t, 'pigeon stat', await runPigeon(['stat', '-cfg', p.bob.cfgPath]));
});
