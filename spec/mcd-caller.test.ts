/**
 * Multicast discovery on the listening side without a network: what
 * McdListener learns from datagrams (known senders only, two minutes'
 * lifetime) and how the caller puts learned addresses first unless the
 * call has mcd-ignore.
 */
import test from 'ava';
import type { Neighbour } from '../src/config/types.js';
import { runCaller, type CallNodeOptions } from '../src/sp/caller.js';
import { encodeMcd, McdListener } from '../src/sp/mcd.js';
import { makeNodes, nodeContext } from './helpers/nncp.js';
import { tmpDir } from './helpers/util.js';

async function bobKnowsAlice(t: Parameters<typeof tmpDir>[0]) {
  const nodes = await makeNodes(await tmpDir(t), ['alice', 'bob', 'carol'], {
    generator: 'pigeon',
    neighExtra: (owner, neigh) =>
      owner === 'bob' && neigh === 'alice'
        ? { addrs: { lan: '[::1]:5400' }, calls: [{ cron: '* * * * *' }, { cron: '* * * * *', 'mcd-ignore': true }] }
        : {},
    edit: (ns) => {
      delete ns.bob.raw.neigh.carol; // carol is a stranger to bob
    },
  });
  const ctx = await nodeContext(nodes.bob);
  const alice = [...ctx.cfg.neighbours.values()].find((n) => n.name === 'alice')!;
  return { nodes, ctx, alice };
}

test('the listener learns [fe80::...%IFACE]:PORT of known senders only, and forgets them after two minutes', async (t) => {
  const { nodes, ctx, alice } = await bobKnowsAlice(t);
  let now = 1_000_000;
  const l = await McdListener.start(ctx, { ifaces: [], now: () => now });
  t.teardown(() => l.close());
  l.heard('veth0', encodeMcd(nodes.carol.keys.id), 'fe80::3', 5400); // unknown node
  const bad = encodeMcd(nodes.alice.keys.id);
  bad[0] ^= 1;
  l.heard('veth0', bad, 'fe80::4', 5400); // wrong magic
  t.deepEqual(l.addrs(alice), []);
  l.heard('veth0', encodeMcd(nodes.alice.keys.id), 'fe80::1', 5419);
  now += 1000;
  l.heard('eth1', encodeMcd(nodes.alice.keys.id), 'fe80::2%eth1', 5420);
  t.deepEqual(l.addrs(alice), ['[fe80::2%eth1]:5420', '[fe80::1%veth0]:5419']);
  now += 2 * 60 * 1000;
  t.deepEqual(l.addrs(alice), ['[fe80::2%eth1]:5420']);
  now += 1000;
  t.deepEqual(l.addrs(alice), []);
});

test('wait returns as soon as the node is heard, or [] when its seconds are over', async (t) => {
  const { nodes, ctx, alice } = await bobKnowsAlice(t);
  const l = await McdListener.start(ctx, { ifaces: [] });
  t.teardown(() => l.close());
  const t0 = Date.now();
  t.deepEqual(await l.wait(alice, 1), []);
  t.true(Date.now() - t0 >= 900);
  const w = l.wait(alice, 30);
  setTimeout(() => l.heard('veth0', encodeMcd(nodes.alice.keys.id), 'fe80::1', 5419), 50);
  t.deepEqual(await w, ['[fe80::1%veth0]:5419']);
  t.true(Date.now() - t0 < 10_000);
});

test('caller: learned addresses go first, except for a call with mcd-ignore', async (t) => {
  const { nodes, ctx } = await bobKnowsAlice(t);
  const l = await McdListener.start(ctx, { ifaces: [] });
  t.teardown(() => l.close());
  l.heard('veth0', encodeMcd(nodes.alice.keys.id), 'fe80::1', 5419);
  const stop = new AbortController();
  const made: CallNodeOptions[] = [];
  let fired = 0;
  const clock = {
    now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, 30)),
    // both calls are to alice: one finds the other busy and tries again at its next (immediate) time
    sleepUntil: (_t: Date, signal?: AbortSignal) =>
      fired++ < 50 ? new Promise<void>((resolve) => setImmediate(resolve)) : new Promise<void>((resolve) => (signal?.aborted ? resolve() : signal?.addEventListener('abort', () => resolve()))),
  };
  await runCaller(ctx, {
    clock,
    signal: stop.signal,
    mcd: l,
    callNode: async (_c, o) => {
      if (!made.some((m) => m.mcdAddrs === o.mcdAddrs || (m.mcdAddrs && o.mcdAddrs))) made.push(o);
      if (made.length === 2) stop.abort();
      return { ok: true };
    },
  });
  const byNode = (o: CallNodeOptions): Neighbour => o.node;
  t.is(made.length, 2);
  t.true(made.every((o) => byNode(o).name === 'alice'));
  t.deepEqual(made.map((o) => o.mcdAddrs).sort(), [['[fe80::1%veth0]:5419'], undefined].sort());
});
