/**
 * Per-packet cost, side by side with the reference in one run: COUNT small
 * file packets (made once by nncp-file, restored before every run) through
 *   toss          nncp-toss           vs pigeon toss        (all in rx/)
 *   xfer -rx      nncp-xfer -rx       vs pigeon xfer -rx    (all on a stick)
 *   xfer -tx      nncp-xfer -tx       vs pigeon xfer -tx    (all in tx/)
 *                 (the stick is a directory on the spool's filesystem, where
 *                 pigeon xfer links; "pigeon xfer, copying" is it with
 *                 PIGEON_XFER_LINK=0, as with a real stick: shown, not a target)
 *   online        nncp-call ↔ nncp-daemon vs pigeon call ↔ pigeon daemon,
 *                 COUNT packets each way over loopback
 * with fsync on (the default) and with NNCPNOSYNC=1. The order alternates
 * run by run; medians and every run's wall time, with CPU (user + system)
 * beside it.
 *
 * Usage: node dist/bench/small.js [COUNT=1000] [RUNS=3] [--sync | --nosync] [--online] [--only toss|xfer|online]
 *   (both modes unless one is named; --online: the sessions only, as
 *   `--only online`; `--only toss`: the toss rows only, `--only xfer`: the
 *   xfer rows only)
 */
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNodes, type TestNode } from '../spec/helpers/nncp.js';
import { inTurn, PIGEON_BIN, report, resetPair, rowOf, type Sample, type SummaryRow, timeCmd } from './lib.js';
import { alternate, NNCP, PIGEON, run, sessionRow, sessionTable, type SpLab } from './sp.js';


/** COUNT packets from `from` to `to:NAME` (distinct names, ~1 KiB each), two nncp-file at a time. */
async function queueSmall(dir: string, from: TestNode, to: TestNode, count: number, tag: string): Promise<void> {
  const src = path.join(dir, `small-${tag}`);
  await mkdir(src, { recursive: true });
  const jobs: Promise<void>[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const f = path.join(src, `${tag}${String(i).padStart(5, '0')}`);
      await writeFile(f, `${tag} packet ${i}\n`.repeat(64));
      await run('nncp-file', ['-quiet', '-cfg', from.cfgPath, f, `${to.name}:${path.basename(f)}`], { NNCPNOSYNC: '1' });
    }
  };
  for (let w = 0; w < 2; w++) jobs.push(worker());
  await Promise.all(jobs);
}

const ids = async (d: string) => (await readdir(d).catch(() => [] as string[])).filter((n) => n.length === 52);

export type SmallPart = 'toss' | 'xfer' | 'online';

/** Target (issue 11, item 1): each at most 0.8x the reference. With `rows`, summary rows are added there. */
export async function benchSmall(opts: { count: number; runs: number; modes: boolean[]; onlineOnly?: boolean; only?: SmallPart; rows?: SummaryRow[] }): Promise<string> {
  const only = opts.only ?? (opts.onlineOnly ? 'online' : undefined);
  const doing = (part: SmallPart) => only === undefined || only === part;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-small-'));
  try {
    const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'nncp' });
    const aliceTx = path.join(alice.spool, bob.idB32, 'tx');
    const bobTx = path.join(bob.spool, alice.idB32, 'tx');
    const bobRx = path.join(bob.spool, alice.idB32, 'rx');
    const stick = path.join(dir, 'stick');
    const stickPkts = path.join(stick, bob.idB32, alice.idB32);
    const stash = path.join(dir, 'stash');
    await queueSmall(dir, alice, bob, opts.count, 'a');
    if (doing('online')) await queueSmall(dir, bob, alice, opts.count, 'b');
    await cp(aliceTx, path.join(stash, 'a'), { recursive: true });
    if (doing('online')) await cp(bobTx, path.join(stash, 'b'), { recursive: true });
    const a = path.join(stash, 'a');
    const out: string[] = [];
    for (const sync of opts.modes) {
      const env: NodeJS.ProcessEnv = sync ? {} : { NNCPNOSYNC: '1' };
      const pigeon = (args: string[]) => timeCmd(PIGEON_BIN, args, env);
      const pigeonCopying = (args: string[]) => timeCmd(PIGEON_BIN, args, { ...env, PIGEON_XFER_LINK: '0' });
      const nncp = (cmd: string, args: string[]) => timeCmd(`nncp-${cmd}`, args, env);
      const results: Record<string, Record<string, Sample[]>> = {
        toss: { 'nncp-toss': [], 'pigeon toss': [] },
        'xfer -rx': { 'nncp-xfer -rx': [], 'pigeon xfer -rx': [], 'pigeon xfer -rx, copying': [] },
        'xfer -tx': { 'nncp-xfer -tx': [], 'pigeon xfer -tx': [], 'pigeon xfer -tx, copying': [] },
      };
      const clean = async () => {
        await resetPair(alice, bob, stick);
        await rm(alice.log, { force: true });
        await rm(bob.log, { force: true });
      };
      const check = async (d: string, what: string) => {
        const n = (await ids(d)).length;
        if (n !== opts.count) throw new Error(`${what}: ${n} packets in ${d}, expected ${opts.count}`);
      };
      for (let i = 0; i < opts.runs; i++) {
        for (const [name, go] of !doing('toss') ? [] : inTurn(i, [
          ['nncp-toss', () => nncp('toss', ['-quiet', '-cfg', bob.cfgPath])],
          ['pigeon toss', () => pigeon(['toss', '-quiet', '-cfg', bob.cfgPath])],
        ] as const)) {
          await clean();
          await cp(a, bobRx, { recursive: true });
          results.toss[name].push(await go());
          const left = (await ids(bobRx)).length;
          const got = (await readdir(bob.incoming)).length;
          if (left !== 0 || got !== opts.count) throw new Error(`${name}: ${left} left in rx, ${got} files delivered`);
        }
        for (const [name, go] of !doing('xfer') ? [] : inTurn(i, [
          ['nncp-xfer -rx', () => nncp('xfer', ['-quiet', '-cfg', bob.cfgPath, '-rx', stick])],
          ['pigeon xfer -rx', () => pigeon(['xfer', '-quiet', '-cfg', bob.cfgPath, '-rx', stick])],
          ['pigeon xfer -rx, copying', () => pigeonCopying(['xfer', '-quiet', '-cfg', bob.cfgPath, '-rx', stick])],
        ] as const)) {
          await clean();
          await cp(a, stickPkts, { recursive: true });
          results['xfer -rx'][name].push(await go());
          await check(bobRx, name);
        }
        for (const [name, go] of !doing('xfer') ? [] : inTurn(i, [
          ['nncp-xfer -tx', () => nncp('xfer', ['-quiet', '-cfg', alice.cfgPath, '-tx', '-mkdir', stick])],
          ['pigeon xfer -tx', () => pigeon(['xfer', '-quiet', '-cfg', alice.cfgPath, '-tx', '-mkdir', stick])],
          ['pigeon xfer -tx, copying', () => pigeonCopying(['xfer', '-quiet', '-cfg', alice.cfgPath, '-tx', '-mkdir', stick])],
        ] as const)) {
          await clean();
          await cp(a, aliceTx, { recursive: true });
          await mkdir(stick, { recursive: true });
          results['xfer -tx'][name].push(await go());
          await check(stickPkts, name);
        }
      }
      const tag = `${opts.count} packets of ~1 KiB, ${opts.runs} runs, ${sync ? 'fsync on' : 'NNCPNOSYNC=1'}`;
      const mode = sync ? 'fsync on' : 'NNCPNOSYNC=1';
      const what = `${opts.count} small packets`;
      if (doing('toss')) {
        opts.rows?.push(rowOf(`toss, ${what}`, mode, results.toss['pigeon toss'], results.toss['nncp-toss'], 'nncp-toss', 0.8));
        out.push(report(`toss, ${tag}`, results.toss, 'nncp-toss'));
      }
      if (doing('xfer')) {
        opts.rows?.push(
          rowOf(`xfer -rx, ${what}`, mode, results['xfer -rx']['pigeon xfer -rx'], results['xfer -rx']['nncp-xfer -rx'], 'nncp-xfer', 0.8),
          rowOf(`xfer -tx, ${what}`, mode, results['xfer -tx']['pigeon xfer -tx'], results['xfer -tx']['nncp-xfer -tx'], 'nncp-xfer', 0.8),
        );
        out.push(report(`xfer -rx, ${tag}`, results['xfer -rx'], 'nncp-xfer -rx'));
        out.push(report(`xfer -tx, ${tag}`, results['xfer -tx'], 'nncp-xfer -tx'));
      }
      if (!doing('online')) continue;
      const lab: SpLab = { dir, alice, bob, env, stash, packets: opts.count };
      const rows = await alternate(lab, opts.runs, {
        nncp: { daemon: NNCP('nncp-daemon'), caller: NNCP('nncp-call') },
        pigeon: { daemon: PIGEON('daemon'), caller: PIGEON('call') },
      });
      opts.rows?.push(sessionRow(`online session, ${what} each way`, mode, rows, 0.8));
      out.push(sessionTable(`## Online session, ${tag} each way over loopback`, rows, 'nncp'));
    }
    return out.join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const modes = process.argv.includes('--sync') ? [true] : process.argv.includes('--nosync') ? [false] : [true, false];
  const at = process.argv.indexOf('--only');
  const only = at > 0 ? process.argv[at + 1] : undefined;
  if (only !== undefined && !['toss', 'xfer', 'online'].includes(only)) throw new Error(`--only ${only}: toss, xfer or online`);
  const args = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--only');
  process.stdout.write(
    await benchSmall({ count: Number(args[0] ?? 1000), runs: Number(args[1] ?? 3), modes, onlineOnly: process.argv.includes('--online'), only: only as SmallPart | undefined }),
  );
}
