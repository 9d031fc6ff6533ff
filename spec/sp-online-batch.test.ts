/**
 * Many small packets in one online session (issue 11): the sender puts
 * several FILE packets in one payload (Outbox.nextPayload), and the
 * reference takes them so, both ways round:
 *   - unit: small requests share a payload, in order, each whole; a big one
 *     fills what is left; under -txrate (pack = false) one packet a payload;
 *   - interop: 40 small packets and a larger one each way between pigeon
 *     and nncp-call / nncp-daemon, all delivered, tx/ emptied by DONE.
 */
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import type { Neighbour } from '../src/config/types.js';
import type { Context } from '../src/context.js';
import { Logger } from '../src/log/log.js';
import { Outbox } from '../src/sp/outbox.js';
import { decodeSpPackets, SP_MAX_PAYLOAD } from '../src/sp/packets.js';
import { Partials } from '../src/spool/partial.js';
import { Spool } from '../src/spool/spool.js';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { freePort, listening, requireNncp, runImpl, runNncp, startNncp, startPigeon, tmpDir, until } from './helpers/util.js';

async function outboxWith(t: ExecutionContext, sizes: number[]): Promise<{ outbox: Outbox; ids: string[]; data: Buffer[] }> {
  const root = await tmpDir(t);
  const spool = new Spool({ root, noSync: true });
  const node = { idB32: 'N'.repeat(52), name: 'bob' } as Neighbour;
  fs.mkdirSync(path.dirname(spool.packetPath(node.idB32, 'tx', 'X'.repeat(52))), { recursive: true });
  const ctx = { log: new Logger({ path: '', quiet: true }) } as Context;
  const outbox = new Outbox({ ctx, node, partials: new Partials(spool), les: () => [], spWith: 'SP with bob', onProgress: () => undefined });
  const ids: string[] = [];
  const data: Buffer[] = [];
  for (const size of sizes) {
    const hash = randomBytes(32);
    const id = base32Encode(hash);
    const bytes = randomBytes(size);
    fs.writeFileSync(spool.packetPath(node.idB32, 'tx', id), bytes);
    outbox.request(id, hash, 0, 96);
    ids.push(id);
    data.push(bytes);
  }
  return { outbox, ids, data };
}

test('small FILE packets share a payload, in order and whole; a big one fills the rest', async (t) => {
  const { outbox, ids, data } = await outboxWith(t, [1000, 1100, 3, 0, 200_000]);
  const payload = outbox.nextPayload(true);
  t.truthy(payload);
  t.true(payload!.length <= SP_MAX_PAYLOAD);
  const pkts = decodeSpPackets(payload!);
  t.deepEqual(pkts.map((p) => p.t), ['file', 'file', 'file', 'file', 'file']);
  for (let i = 0; i < 4; i++) {
    const p = pkts[i] as { hash: Uint8Array; offset: bigint | number; payload: Uint8Array };
    t.is(base32Encode(p.hash), ids[i]);
    t.is(Number(p.offset), 0);
    t.deepEqual(Buffer.from(p.payload), data[i]);
  }
  const big = pkts[4] as { hash: Uint8Array; offset: bigint | number; payload: Uint8Array };
  t.is(base32Encode(big.hash), ids[4]);
  t.deepEqual(Buffer.from(big.payload), data[4].subarray(0, big.payload.length));
  // the rest of the big one follows from where the first payload stopped
  const next = decodeSpPackets(outbox.nextPayload(true)!);
  t.is(next.length, 1);
  t.is(Number((next[0] as { offset: bigint | number }).offset), big.payload.length);
});

test('without packing (-txrate) a payload carries one FILE packet', async (t) => {
  const { outbox, ids } = await outboxWith(t, [100, 100, 100]);
  for (const id of ids) {
    const pkts = decodeSpPackets(outbox.nextPayload(false)!);
    t.is(pkts.length, 1);
    t.is(base32Encode((pkts[0] as { hash: Uint8Array }).hash), id);
  }
  t.is(outbox.nextPayload(false), null);
});

const queued = (from: TestNode, to: TestNode, xx: 'tx' | 'rx'): string[] => {
  const dir = path.join(from.spool, to.idB32, xx);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.length === 52) : [];
};

async function queueMany(from: TestNode, to: TestNode, tag: string, n: number): Promise<Map<string, Buffer>> {
  const sent = new Map<string, Buffer>();
  const src = path.join(from.dir, `src-${tag}`);
  fs.mkdirSync(src, { recursive: true });
  for (let i = 0; i <= n; i++) {
    const name = `${tag}${i}`;
    const bytes = randomBytes(i === n ? 150_000 : 900 + i);
    fs.writeFileSync(path.join(src, name), bytes);
    sent.set(name, bytes);
    // nncp-file is quick; the packets are the same whichever side queued them
    const r = await runNncp('nncp-file', ['-cfg', from.cfgPath, '-quiet', path.join(src, name), `${to.name}:${name}`], { env: { NNCPNOSYNC: '1' } });
    if (r.code !== 0) throw new Error(`nncp-file: ${r.stderr}`);
  }
  return sent;
}

for (const [callerImpl, daemonImpl] of [['pigeon', 'nncp'], ['nncp', 'pigeon']] as const) {
  test(`${callerImpl} call ↔ ${daemonImpl} daemon: 40 small packets and a larger one each way`, async (t) => {
    if (!requireNncp(t)) return;
    const dir = await tmpDir(t);
    const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: { alice: callerImpl, bob: daemonImpl } });
    const toBob = await queueMany(alice, bob, 'a', 40);
    const toAlice = await queueMany(bob, alice, 'b', 40);
    const port = await freePort();
    const dargs = ['-cfg', bob.cfgPath, '-quiet', '-bind', `127.0.0.1:${port}`];
    if (daemonImpl === 'nncp') startNncp(t, 'nncp-daemon', dargs);
    else startPigeon(t, ['daemon', ...dargs]);
    await listening(port);
    const r = await runImpl(callerImpl, 'call', ['-cfg', alice.cfgPath, '-quiet', '-onlinedeadline', '1', 'bob', `127.0.0.1:${port}`], { timeout: 60_000 });
    t.is(r.code, 0, r.stderr.toString());
    await until(() => queued(bob, alice, 'tx').length === 0, 10_000, 'DONEs at the daemon');
    t.deepEqual(queued(alice, bob, 'tx'), []);
    t.is(queued(bob, alice, 'rx').length, 41);
    t.is(queued(alice, bob, 'rx').length, 41);
    for (const [n, sent] of [[alice, toAlice], [bob, toBob]] as const) {
      const tr = await runImpl(n.generator, 'toss', ['-cfg', n.cfgPath, '-quiet']);
      t.is(tr.code, 0, tr.stderr.toString());
      for (const [name, bytes] of sent) t.deepEqual(fs.readFileSync(path.join(n.incoming, name)), bytes, name);
    }
  });
}
