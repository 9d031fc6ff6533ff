/**
 * The reliable-sneakernet cycle NNCP users script by hand, with pigeon on one
 * side and the reference on the other, in both arrangements:
 *
 *   sender:    file …; xfer -keep -tx -mkdir STICK
 *   receiver:  xfer -rx STICK; ack -node SENDER 4>acks; toss -seen;
 *              xfer -keep -tx -mkdir -node SENDER STICK; rm -node SENDER -pkt < acks
 *   sender:    xfer -rx STICK; toss        → its acknowledged packets are gone
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { bash, PIGEON_JS, requireNncp, tmpDir } from './helpers/util.js';

type Impl = 'pigeon' | 'nncp';

/** Run `<impl> <cmd> args` through bash so that fd 4 and stdin redirections work as in a script. */
async function sh(impl: Impl, cmd: string, args: string, redirect = ''): Promise<{ code: number; out: string }> {
  const prog = impl === 'pigeon' ? `${JSON.stringify(process.execPath)} ${JSON.stringify(PIGEON_JS)} ${cmd}` : `nncp-${cmd}`;
  const r = await bash(`${prog} ${args} ${redirect}`);
  return { code: r.code, out: r.stdout + r.stderr };
}

async function txIds(node: TestNode, peer: TestNode): Promise<string[]> {
  try {
    return (await readdir(path.join(node.spool, peer.idB32, 'tx'), { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

for (const [senderImpl, receiverImpl] of [
  ['pigeon', 'nncp'],
  ['nncp', 'pigeon'],
] as [Impl, Impl][]) {
  test(`sneakernet cycle: ${senderImpl} sends, ${receiverImpl} receives and acknowledges`, async (t) => {
    if (!requireNncp(t)) return;
    const dir = await tmpDir(t);
    const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: senderImpl, bob: receiverImpl } });
    const stick = path.join(dir, 'stick');
    await mkdir(stick);
    const S = (cmd: string, args: string, redirect = '') => sh(senderImpl, cmd, `-quiet -cfg ${alice.cfgPath} ${args}`, redirect);
    const R = (cmd: string, args: string, redirect = '') => sh(receiverImpl, cmd, `-quiet -cfg ${bob.cfgPath} ${args}`, redirect);
    const ok = (r: { code: number; out: string }, what: string) => t.is(r.code, 0, `${what}: ${r.out}`);

    const files: Record<string, Buffer> = {};
    for (const [name, size] of [['a.bin', 0], ['b.bin', 200_000], ['c.txt', 17]] as const) {
      files[name] = randomBytes(size);
      const src = path.join(dir, name);
      await writeFile(src, files[name]);
      ok(await S('file', `${src} bob:${name}`), `${senderImpl} file ${name}`);
    }
    const sent = await txIds(alice, bob);
    t.is(sent.length, 3);
    ok(await S('xfer', `-keep -tx -mkdir ${stick}`), 'sender xfer -tx');

    // Receiver's half of the cycle.
    ok(await R('xfer', `-rx ${stick}`), 'receiver xfer -rx');
    const acks = path.join(dir, 'acks');
    ok(await R('ack', '-node alice', `4>${acks}`), 'receiver ack');
    const ackIds = (await readFile(acks, 'utf8')).split('\n').filter(Boolean);
    t.is(ackIds.length, 3, 'one ACK packet id per received packet on fd 4');
    ok(await R('toss', '-seen'), 'receiver toss -seen');
    for (const [name, data] of Object.entries(files)) t.true((await readFile(path.join(bob.incoming, name))).equals(data), name);
    ok(await R('xfer', `-keep -tx -mkdir -node alice ${stick}`), 'receiver xfer -tx');
    ok(await R('rm', '-node alice -pkt', `< ${acks}`), 'receiver rm -pkt');
    t.deepEqual(await txIds(bob, alice), [], 'the ACK packets left the receiver\'s queue');

    // The same packets arriving again by another trip are dropped as seen, not delivered twice.
    ok(await S('xfer', `-keep -tx -mkdir ${stick}`), 'sender xfer -tx again');
    for (const name of Object.keys(files)) await rm(path.join(bob.incoming, name));
    ok(await R('xfer', `-rx ${stick}`), 'receiver xfer -rx again');
    ok(await R('toss', '-seen'), 'receiver toss again');
    t.deepEqual(await readdir(bob.incoming), [], 'duplicates were not delivered again');

    // Sender gets the ACKs back and its acknowledged packets go.
    t.deepEqual((await txIds(alice, bob)).sort(), sent.sort(), 'sender kept its packets until acknowledged');
    ok(await S('xfer', `-rx ${stick}`), 'sender xfer -rx');
    ok(await S('toss', ''), 'sender toss');
    t.deepEqual(await txIds(alice, bob), [], 'acknowledged packets were removed from the sender\'s tx');
  });
}
