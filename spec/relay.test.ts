/**
 * Relay chains across implementations: pigeon → nncp relay → pigeon, and
 * nncp → pigeon relay → nncp, with packets carried on a directory (xfer) and
 * each relay seeing only the next hop.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeNodes } from './helpers/nncp.js';
import { requireNncp, runImpl, tmpDir } from './helpers/util.js';

type Impl = 'pigeon' | 'nncp';

/** `<impl> <cmd> args` with NNCPNOSYNC=1; stdout and stderr together as `out`. */
async function run(impl: Impl, cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await runImpl(impl, cmd, args, { env: { NNCPNOSYNC: '1' } });
  return { code: r.code, out: r.stdout.toString('utf8') + r.stderr };
}

for (const [ends, relay] of [
  ['pigeon', 'nncp'],
  ['nncp', 'pigeon'],
] as [Impl, Impl][]) {
  test(`${ends} → ${relay} relay → ${ends}: the file arrives and the relay only forwards`, async (t) => {
    if (!requireNncp(t)) return;
    const dir = await tmpDir(t);
    const { alice, carol, bob } = await makeNodes(dir, ['alice', 'carol', 'bob'], {
      generator: { alice: ends, carol: relay, bob: ends },
      neighExtra: (owner, neigh) => (owner === 'alice' && neigh === 'bob' ? { via: ['carol'] } : {}),
    });
    const stick = path.join(dir, 'stick');
    await mkdir(stick);
    const ok = (r: { code: number; out: string }, what: string) => t.is(r.code, 0, `${what}: ${r.out}`);
    const data = randomBytes(300_000);
    const src = path.join(dir, 'payload.bin');
    await writeFile(src, data);

    ok(await run(ends, 'file', ['-quiet', '-cfg', alice.cfgPath, src, 'bob:relayed.bin']), 'alice file via carol');
    ok(await run(ends, 'xfer', ['-quiet', '-cfg', alice.cfgPath, '-mkdir', '-tx', stick]), 'alice xfer -tx');
    ok(await run(relay, 'xfer', ['-quiet', '-cfg', carol.cfgPath, '-rx', stick]), 'carol xfer -rx');
    ok(await run(relay, 'toss', ['-quiet', '-cfg', carol.cfgPath]), 'carol toss (relays)');
    await t.throwsAsync(readFile(path.join(carol.incoming, 'relayed.bin')), undefined, 'the relay must not deliver it itself');
    ok(await run(relay, 'xfer', ['-quiet', '-cfg', carol.cfgPath, '-mkdir', '-tx', stick]), 'carol xfer -tx');
    ok(await run(ends, 'xfer', ['-quiet', '-cfg', bob.cfgPath, '-rx', stick]), 'bob xfer -rx');
    ok(await run(ends, 'toss', ['-quiet', '-cfg', bob.cfgPath]), 'bob toss');
    t.true((await readFile(path.join(bob.incoming, 'relayed.bin'))).equals(data));
  });
}
