/**
 * pigeon fspl composed with pigeon exec, end to end between two nodes:
 *
 *   sender:    SOURCE | pigeon fspl prepare -s SEQ -i - | pigeon exec bob enqueue
 *   receiver:  neigh.alice.exec.enqueue = pigeon fspl queue-write -q QUEUE
 *              pigeon toss; pigeon fspl queue-process -q QUEUE COMMAND
 *
 * The packets travel (the transport: a move from alice's tx to bob's rx)
 * out of order, and the jobs still run in the order they were made.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeNodes, PIGEON_JS, tmpDir } from './helpers/nncp.js';

function bash(script: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -euo pipefail\n${script}`], { env: { ...process.env, NNCPNOSYNC: '1', NNCPCFG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

test('zfs-send style: prepare | exec enqueue on the sender; queue-write handle, toss and queue-process on the receiver, in order though packets arrive 3, 1, 2', async (t) => {
  const dir = await tmpDir(t);
  const queue = path.join(dir, 'queue');
  const pigeon = `${JSON.stringify(process.execPath)} ${JSON.stringify(PIGEON_JS)}`;
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], {
    generator: 'pigeon',
    exec: { enqueue: [process.execPath, PIGEON_JS, 'fspl', 'queue-write', '-q', queue] },
  });
  const ok = (r: { code: number; out: string }, what: string) => t.is(r.code, 0, `${what}: ${r.out}`);
  ok(await bash(`${pigeon} fspl queue-init -q ${queue}`), 'queue-init');

  // Three "snapshots" (a full and two incrementals), each one job, each one exec packet.
  const txDir = path.join(alice.spool, bob.idB32, 'tx');
  const listTx = async () => (await readdir(txDir).catch(() => [] as string[])).filter((n) => /^[A-Z2-7]{52}$/.test(n));
  const snaps: Buffer[] = [];
  const packets: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const snap = randomBytes(100_000 * i);
    snaps.push(snap);
    await writeFile(path.join(dir, `snap${i}`), snap);
    const before = new Set(await listTx());
    ok(
      await bash(`cat ${dir}/snap${i} | ${pigeon} fspl prepare -s ${dir}/sender.seq -i - | ${pigeon} exec -quiet -cfg ${alice.cfgPath} bob enqueue`),
      `send ${i}`,
    );
    const fresh = (await listTx()).filter((n) => !before.has(n));
    t.is(fresh.length, 1, `one packet for snapshot ${i}`);
    packets.push(fresh[0]);
  }
  t.is(await readFile(path.join(dir, 'sender.seq'), 'utf8'), '4\n');

  const rxDir = path.join(bob.spool, alice.idB32, 'rx');
  await mkdir(rxDir, { recursive: true });
  const receive = async (n: number) => {
    await rename(path.join(txDir, packets[n - 1]), path.join(rxDir, packets[n - 1]));
    ok(await bash(`${pigeon} toss -quiet -cfg ${bob.cfgPath}`), `toss ${n}`);
  };
  const processQueue = () =>
    bash(`cd ${dir} && ${pigeon} fspl queue-process -q ${queue} /bin/sh -- -c 'cat > restored.$FSPL_SEQ && echo $FSPL_SEQ >> order'`);
  const order = async () => (await readFile(path.join(dir, 'order'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const jobs = async () => (await readdir(path.join(queue, 'jobs'))).filter((n) => n.endsWith('.fspl'));

  await receive(3);
  t.is((await jobs()).length, 1, 'the exec handle queued job 3');
  ok(await processQueue(), 'queue-process');
  t.deepEqual(await order(), [], 'job 3 waits for 1 and 2');
  await receive(1);
  ok(await processQueue(), 'queue-process');
  t.deepEqual(await order(), ['1']);
  await receive(2);
  ok(await processQueue(), 'queue-process');
  t.deepEqual(await order(), ['1', '2', '3']);
  for (let i = 1; i <= 3; i++) t.true((await readFile(path.join(dir, `restored.${i}`))).equals(snaps[i - 1]), `snapshot ${i} restored intact`);
  t.deepEqual(await jobs(), []);
  t.is(await readFile(path.join(queue, 'nextseq'), 'utf8'), '4\n');
});
