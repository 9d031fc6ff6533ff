/**
 * Multicast discovery (src/sp/mcd.ts): the announcement's codec, and both
 * sides against the reference between two network namespaces joined by a
 * veth pair (never on a real network). The namespaces need root and
 * `ip netns`; without them the netns tests skip loudly (fail when $CI is set).
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { PIGEON_JS, listFiles, logRecords, nncpDir, requireNncp, run, start, tmpDir, until } from './helpers/util.js';
import { decodeMcd, encodeMcd, MCD_MAGIC, mcdListenInterfaces, mcdSendInterfaces } from '../src/sp/mcd.js';

test('an announcement is the magic NNCPD 0 0 1 then the 32-byte node id (40 bytes), and decodes back', (t) => {
  const id = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
  const b = encodeMcd(id);
  t.is(b.length, 40);
  t.is(Buffer.from(MCD_MAGIC).toString('latin1'), 'NNCPD\0\0\x01');
  t.is(b.subarray(0, 8).toString('hex'), '4e4e435044000001');
  t.deepEqual(Buffer.from(b.subarray(8)), Buffer.from(id));
  t.deepEqual(Buffer.from(decodeMcd(b)!), Buffer.from(id));
  const bad = Buffer.from(b);
  bad[7] = 2;
  t.is(decodeMcd(bad), null);
  t.is(decodeMcd(b.subarray(0, 39)), null);
  t.is(decodeMcd(Buffer.concat([b, Buffer.alloc(1)])), null);
  t.throws(() => encodeMcd(new Uint8Array(31)));
});

test('interfaces are chosen by unanchored regexps, the first mcd-send match giving the interval', (t) => {
  const names = ['lo', 'eth0', 'veth1', 'wlan0'];
  t.deepEqual(mcdSendInterfaces(new Map([['eth', 5], ['^lo$', 7], ['.*', 60]]), names), [['lo', 7], ['eth0', 5], ['veth1', 5], ['wlan0', 60]]);
  t.deepEqual(mcdListenInterfaces(['^eth', 'wlan'], names), ['eth0', 'wlan0']);
  t.throws(() => mcdListenInterfaces(['('], names), { message: /mcd-listen: bad interface regexp "\("/ });
});

// ---------------------------------------------------------------- network namespaces

interface Net {
  /** Namespace and veth interface of side A and side B. */
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
}

let seq = 0;

function sh(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Two fresh namespaces joined by a veth pair with link-local addresses past DAD; removed at teardown. Null (skip logged) when unavailable. */
async function netns(t: ExecutionContext): Promise<Net | null> {
  const tag = `${process.pid % 100000}${seq++}`;
  const n: Net = { nsA: `pgmcdA${tag}`, nsB: `pgmcdB${tag}`, ifA: `pma${tag}`, ifB: `pmb${tag}` };
  t.teardown(() => {
    for (const ns of [n.nsA, n.nsB]) {
      try {
        sh(['netns', 'del', ns]);
      } catch {
        // not made
      }
    }
  });
  try {
    sh(['netns', 'add', n.nsA]);
    sh(['netns', 'add', n.nsB]);
    sh(['link', 'add', n.ifA, 'netns', n.nsA, 'type', 'veth', 'peer', 'name', n.ifB, 'netns', n.nsB]);
    for (const [ns, i] of [[n.nsA, n.ifA], [n.nsB, n.ifB]]) {
      sh(['-n', ns, 'link', 'set', 'lo', 'up']);
      sh(['-n', ns, 'link', 'set', i, 'up']);
    }
  } catch (err) {
    const why = `network namespaces are not available (root and ip netns needed): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
    if (process.env.CI) t.fail(`${why}, and CI is set: the MCD tests cannot be skipped`);
    else {
      t.log(`SKIP: ${why}; this MCD test did not run`);
      t.pass();
    }
    return null;
  }
  const ready = (ns: string, i: string): boolean => {
    const out = execFileSync('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', i], { encoding: 'utf8' });
    return /inet6 fe80::/.test(out) && !/tentative/.test(out);
  };
  await until(() => ready(n.nsA, n.ifA) && ready(n.nsB, n.ifB), 15_000, 'link-local addresses past DAD');
  return n;
}

function nncp(bin: string): string {
  return path.join(nncpDir() ?? '/usr/bin', `nncp-${bin}`);
}

async function twoNodes(t: ExecutionContext, n: Net, sendInterval: number, bobsAddrsOfAlice?: Record<string, string>): Promise<Record<string, TestNode>> {
  return makeNodes(await tmpDir(t), ['alice', 'bob'], {
    neighExtra: (owner) => (owner === 'bob' && bobsAddrsOfAlice ? { addrs: bobsAddrsOfAlice } : {}),
    topExtra: (owner) => (owner === 'alice' ? { 'mcd-send': { [`^${n.ifA}$`]: sendInterval } } : { 'mcd-listen': [`^${n.ifB}$`] }),
  });
}

for (const impl of ['nncp', 'pigeon'] as const) {
  test(`${impl} daemon -mcd-once sends one announcement from its -bind port on the mcd-send interface`, async (t) => {
    if (!requireNncp(t)) return;
    const n = await netns(t);
    if (!n) return;
    const nodes = await twoNodes(t, n, 60);
    const dir = await tmpDir(t);
    const script = path.join(dir, 'listen.cjs');
    writeFileSync(
      script,
      `const s = require('node:dgram').createSocket({ type: 'udp6', reuseAddr: true });
s.on('message', (m, r) => { process.stderr.write('got ' + r.address + ' ' + r.port + ' ' + m.toString('hex') + '\\n'); process.exit(0); });
s.bind(5400, 'ff02::4e4e:4350%${n.ifB}', () => { s.addMembership('ff02::4e4e:4350', '::%${n.ifB}'); process.stderr.write('ready\\n'); });
`,
    );
    const l = start(t, 'ip', ['netns', 'exec', n.nsB, process.execPath, script]);
    await until(() => l.stderr().includes('ready'), 10_000, 'the listener');
    const args = ['daemon', '-cfg', nodes.alice.cfgPath, '-mcd-once', '-bind', '[::]:5417'];
    const r = impl === 'nncp' ? await run('ip', ['netns', 'exec', n.nsA, nncp('daemon'), ...args.slice(1)]) : await run('ip', ['netns', 'exec', n.nsA, process.execPath, PIGEON_JS, ...args]);
    t.is(r.code, 0, r.stderr.toString());
    await until(() => l.stderr().includes('got '), 10_000, 'the announcement');
    const m = /got (\S+) (\d+) ([0-9a-f]+)/.exec(l.stderr())!;
    t.regex(m[1], new RegExp(`^fe80::.*%${n.ifB}$`));
    t.is(m[2], '5417');
    t.is(m[3], encodeMcd(nodes.alice.keys.id).toString('hex'));
  });
}

/** A file queued at bob for alice, then bob calls alice found by MCD; alice's spool ends with the packet from bob. */
for (const [daemonImpl, callImpl] of [['nncp', 'pigeon'], ['pigeon', 'nncp']] as const) {
  test(`${daemonImpl} daemon announces every second; ${callImpl} call -mcd-wait finds it and calls`, async (t) => {
    if (!requireNncp(t)) return;
    const n = await netns(t);
    if (!n) return;
    const nodes = await twoNodes(t, n, 1);
    const src = path.join(nodes.bob.dir, 'hello.txt');
    writeFileSync(src, 'hello over mcd\n');
    const q = await run(process.execPath, [PIGEON_JS, 'file', '-cfg', nodes.bob.cfgPath, '-quiet', src, 'alice:']);
    t.is(q.code, 0, q.stderr.toString());
    const dargs = ['-cfg', nodes.alice.cfgPath, '-bind', '[::]:5419'];
    const d = daemonImpl === 'nncp' ? start(t, 'ip', ['netns', 'exec', n.nsA, nncp('daemon'), ...dargs]) : start(t, 'ip', ['netns', 'exec', n.nsA, process.execPath, PIGEON_JS, 'daemon', ...dargs], { signal: 'SIGKILL' });
    const cargs = ['-cfg', nodes.bob.cfgPath, '-mcd-wait', '10', '-onlinedeadline', '1', 'alice'];
    const c = callImpl === 'nncp' ? await run('ip', ['netns', 'exec', n.nsB, nncp('call'), ...cargs]) : await run('ip', ['netns', 'exec', n.nsB, process.execPath, PIGEON_JS, 'call', ...cargs]);
    t.is(c.code, 0, `call: ${c.stderr.toString()}\ndaemon: ${d.stderr()}`);
    t.regex(c.stderr.toString(), new RegExp(`MCD discovered alice's address: \\[fe80::[0-9a-f:]+%${n.ifB}\\]:5419`));
    const started = logRecords(nodes.bob.log).find((r) => r.fields.get('Who') === 'call-started');
    t.regex(started?.fields.get('Addr') ?? '', new RegExp(`^\\[fe80::[0-9a-f:]+%${n.ifB}\\]:5419$`));
    await until(() => listFiles(nodes.alice.spool).some((f) => f.startsWith(`${nodes.bob.idB32}/rx/`) && !f.includes('.') && f.split('/').length === 3), 10_000, 'the packet at alice');
  });
}

test('call -mcd-wait with no announcement waits its seconds, then fails without trying the configured addrs (as nncp-call)', async (t) => {
  const n = await netns(t);
  if (!n) return;
  if (!requireNncp(t)) return;
  const nodes = await twoNodes(t, n, 1, { lan: '[::1]:1' });
  const t0 = Date.now();
  const c = await run('ip', ['netns', 'exec', n.nsB, process.execPath, PIGEON_JS, 'call', '-cfg', nodes.bob.cfgPath, '-mcd-wait', '2', 'alice']);
  t.true(Date.now() - t0 >= 2000);
  t.not(c.code, 0);
  t.is(c.code, 1);
  t.regex(c.stderr.toString(), new RegExp(`no MCD announcement of alice within 2 s on ${n.ifB};`));
  t.notRegex(c.stderr.toString(), /\[::1\]:1/);
  const ref = await run('ip', ['netns', 'exec', n.nsB, nncp('call'), '-cfg', nodes.bob.cfgPath, '-mcd-wait', '1', 'alice']);
  t.is(ref.code, 1);
  t.notRegex(ref.stderr.toString(), /\[::1\]:1/);
});

test('nncp daemon announces; pigeon caller (mcd-listen, a node without addrs) calls the learned address', async (t) => {
  if (!requireNncp(t)) return;
  const n = await netns(t);
  if (!n) return;
  const nodes = await makeNodes(await tmpDir(t), ['alice', 'bob'], {
    topExtra: (owner) => (owner === 'alice' ? { 'mcd-send': { [`^${n.ifA}$`]: 1 } } : { 'mcd-listen': [`^${n.ifB}$`] }),
    neighExtra: (owner) => (owner === 'bob' ? { calls: [{ cron: '*/1 * * * * * *', onlinedeadline: 1 }] } : {}),
  });
  start(t, 'ip', ['netns', 'exec', n.nsA, nncp('daemon'), '-cfg', nodes.alice.cfgPath, '-bind', '[::]:5421']);
  start(t, 'ip', ['netns', 'exec', n.nsB, process.execPath, PIGEON_JS, 'caller', '-cfg', nodes.bob.cfgPath], { signal: 'SIGKILL' });
  const addrRe = new RegExp(`^\\[fe80::[0-9a-f:]+%${n.ifB}\\]:5421$`);
  await until(() => logRecords(nodes.bob.log).some((r) => r.who === 'call-finished' && addrRe.test(r.fields.get('Addr') ?? '')), 20_000, 'a call to the learned address');
  t.true(logRecords(nodes.bob.log).some((r) => r.who === 'mcd-add'));
});
