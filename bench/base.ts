/**
 * Before and after: this build's pigeon against another build of pigeon (a
 * base checkout, e.g. the commit before a refactor) and the reference, on
 * the same payload in one run: file, xfer -rx and toss of a file packet.
 * The three contenders take turns going first (run i starts with contender
 * i mod 3), so none always meets the page cache as another left it.
 *
 * Usage: node dist/bench/base.js BASE_PIGEON_JS [SIZE_MIB=1024] [RUNS=3] [--sync]
 *   BASE_PIGEON_JS: the base build's dist/cmd/pigeon.js, e.g. from
 *   `git worktree add /tmp/base REV && (cd /tmp/base && npm ci)`.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNodes } from '../spec/helpers/nncp.js';
import { makeRandomFile, report, resetPair, type Sample, timeCmd } from './lib.js';

const PIGEON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../cmd/pigeon.js');

/** The contenders of run `i`, rotated so that each goes first in turn. */
function rotated<T>(i: number, xs: readonly T[]): T[] {
  const k = i % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

export async function benchBase(opts: { basePigeon: string; sizeMiB: number; runs: number; sync: boolean }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-base-'));
  try {
    const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'nncp' });
    const src = path.join(dir, 'payload');
    await makeRandomFile(src, opts.sizeMiB);
    const env = opts.sync ? {} : { NNCPNOSYNC: '1' };
    const impls = [
      { name: 'nncp', run: (cmd: string, args: string[]) => timeCmd(`nncp-${cmd}`, args, env) },
      { name: 'pigeon', run: (cmd: string, args: string[]) => timeCmd(process.execPath, [PIGEON, cmd, ...args], env) },
      { name: 'pigeon (base)', run: (cmd: string, args: string[]) => timeCmd(process.execPath, [opts.basePigeon, cmd, ...args], env) },
    ];
    const aliceTx = path.join(alice.spool, bob.idB32, 'tx');
    const bobRx = path.join(bob.spool, alice.idB32, 'rx');
    const stick = path.join(dir, 'stick');
    const stickPkts = path.join(stick, bob.idB32, alice.idB32);
    const groups = ['file', 'xfer -rx', 'toss'] as const;
    const results = Object.fromEntries(groups.map((g) => [g, Object.fromEntries(impls.map((m) => [m.name, [] as Sample[]]))])) as Record<
      (typeof groups)[number],
      Record<string, Sample[]>
    >;
    await impls[0].run('file', ['-quiet', '-cfg', alice.cfgPath, src, 'bob:out']);
    const [pktId] = await readdir(aliceTx).then((xs) => xs.filter((x) => x.length === 52));
    const packet = path.join(dir, 'packet');
    await copyFile(path.join(aliceTx, pktId), packet);
    const clean = () => resetPair(alice, bob, stick);
    for (let i = 0; i < opts.runs; i++) {
      for (const m of rotated(i, impls)) {
        await clean();
        results.file[m.name].push(await m.run('file', ['-quiet', '-cfg', alice.cfgPath, src, 'bob:out']));
      }
      for (const m of rotated(i, impls)) {
        await clean();
        await mkdir(stickPkts, { recursive: true });
        await copyFile(packet, path.join(stickPkts, pktId));
        results['xfer -rx'][m.name].push(await m.run('xfer', ['-quiet', '-cfg', bob.cfgPath, '-rx', stick]));
      }
      for (const m of rotated(i, impls)) {
        await clean();
        await mkdir(bobRx, { recursive: true });
        await copyFile(packet, path.join(bobRx, pktId));
        results.toss[m.name].push(await m.run('toss', ['-quiet', '-cfg', bob.cfgPath]));
      }
    }
    const tag = `${opts.sizeMiB} MiB, ${opts.runs} runs${opts.sync ? '' : ', NNCPNOSYNC=1'}; base: ${opts.basePigeon}`;
    return groups.map((g) => report(`${g}, ${tag}`, results[g], 'pigeon (base)')).join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (!args[0]) {
    process.stderr.write('usage: node dist/bench/base.js BASE_PIGEON_JS [SIZE_MIB=1024] [RUNS=3] [--sync]\n');
    process.exit(2);
  }
  console.log(await benchBase({ basePigeon: path.resolve(args[0]), sizeMiB: Number(args[1] ?? 1024), runs: Number(args[2] ?? 3), sync: process.argv.includes('--sync') }));
}
