/**
 * Side-by-side CLI benchmarks of the offline commands against the reference,
 * on the same 1 GiB payload in one run:
 *   file SRC NODE:DST     nncp-file  vs pigeon file
 *   xfer -rx DIR          nncp-xfer  vs pigeon xfer   (a stick holding the packet)
 *   toss                  nncp-toss  vs pigeon toss   (the packet in rx/)
 *   exec NODE sink < SRC  nncp-exec vs pigeon exec, and the toss running the handle, on
 *                         random data (incompressible), and on a random MiB repeated
 *                         (zstd finds the repeats: the compressible case)
 * The reference goes first in even runs, pigeon in odd ones.
 * Usage: node dist/bench/offline.js [SIZE_MIB=1024] [RUNS=3] [--sync]
 */
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNodes } from '../spec/helpers/nncp.js';
import { floorRowOf, inTurn, makeRandomFile, PIGEON_BIN, report, resetPair, rowOf, Sample, type SummaryRow, timeCmd } from './lib.js';

/**
 * The floor of file, xfer -rx and toss for a Node program: start Node, copy
 * the bytes in the kernel (copyFileSync: no userspace copy, no crypto, no
 * hash, no fsync, no module of ours), and unlink the source where the
 * command removes it. It shows how much of a row is Node and the copy
 * alone. (Not a strict bound for toss and xfer -rx: pigeon frees a big
 * packet after it exits, spool/trash.ts.)
 */
const FLOOR_COPY = "const fs = require('node:fs'); fs.copyFileSync(process.argv[1], process.argv[2]); if (process.argv[3]) fs.unlinkSync(process.argv[1]);";
const FLOOR_NAME = 'floor: node -e copyFileSync';

const files = async (d: string) => (await readdir(d, { withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).map((e) => e.name);

/**
 * Targets (issue 11): at most 0.8x the reference with NNCPNOSYNC=1 (items 3),
 * at most 1.0x with fsync on (item 4). With `rows`, one summary row per
 * command is added there.
 */
export async function benchOffline(opts: { sizeMiB: number; runs: number; sync: boolean; rows?: SummaryRow[] }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-'));
  try {
    const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'nncp', exec: { sink: ['/bin/sh', '-c', 'cat > /dev/null'] } });
    const src = path.join(dir, 'payload');
    await makeRandomFile(src, opts.sizeMiB, { fresh: true });
    const srcRep = path.join(dir, 'payload-rep');
    await makeRandomFile(srcRep, opts.sizeMiB);
    const env = opts.sync ? {} : { NNCPNOSYNC: '1' };
    const node = process.execPath;
    const pigeon = (args: string[]) => timeCmd(PIGEON_BIN, args, env);
    // The stick is a directory on the spool's filesystem, so pigeon xfer links; copying is what it does with a real stick.
    const pigeonCopying = (args: string[]) => timeCmd(PIGEON_BIN, args, { ...env, PIGEON_XFER_LINK: '0' });
    const nncp = (cmd: string, args: string[]) => timeCmd(`nncp-${cmd}`, args, env);
    const aliceTx = path.join(alice.spool, bob.idB32, 'tx');
    const bobRx = path.join(bob.spool, alice.idB32, 'rx');
    const stick = path.join(dir, 'stick');
    const stickPkts = path.join(stick, bob.idB32, alice.idB32);
    const results: Record<string, Record<string, Sample[]>> = {
      file: { 'nncp-file': [], 'pigeon file': [] },
      'xfer -rx': { 'nncp-xfer -rx': [], 'pigeon xfer -rx': [], 'pigeon xfer -rx, copying': [] },
      toss: { 'nncp-toss': [], 'pigeon toss': [] },
      exec: { 'nncp-exec': [], 'pigeon exec': [], 'nncp-toss (exec)': [], 'pigeon toss (exec)': [] },
      'exec rep': { 'nncp-exec': [], 'pigeon exec': [], 'nncp-toss (exec)': [], 'pigeon toss (exec)': [] },
    };
    // One reference-made packet, kept aside, for the receiving side.
    await nncp('file', ['-quiet', '-cfg', alice.cfgPath, src, 'bob:out']);
    const [pktId] = await files(aliceTx);
    const packet = path.join(dir, 'packet');
    await copyFile(path.join(aliceTx, pktId), packet);
    const clean = () => resetPair(alice, bob, stick);
    /** A clean pair with the packet on the stick (for xfer -rx), or in bob's rx/ (for toss); its path there. */
    const packetOnStick = async () => {
      await clean();
      await mkdir(stickPkts, { recursive: true });
      await copyFile(packet, path.join(stickPkts, pktId));
      return path.join(stickPkts, pktId);
    };
    const packetInRx = async () => {
      await clean();
      await mkdir(bobRx, { recursive: true });
      await copyFile(packet, path.join(bobRx, pktId));
      return path.join(bobRx, pktId);
    };
    // NNCPNOSYNC=1 only: the floor of each copying command, timed in the same turns (see FLOOR_COPY).
    const floors: Record<'file' | 'xfer -rx' | 'toss', Sample[]> = { file: [], 'xfer -rx': [], toss: [] };
    // Without NODE_EXTRA_CA_CERTS, as Node starts under the pigeon executable (bin/pigeon.cjs).
    const floor = (from: string, to: string, removeFrom: boolean) =>
      timeCmd(node, ['-e', FLOOR_COPY, from, to, ...(removeFrom ? ['remove'] : [])], { ...env, NODE_EXTRA_CA_CERTS: undefined });
    const floorOut = path.join(dir, 'floor-out');
    for (let i = 0; i < opts.runs; i++) {
      if (!opts.sync) {
        // Before the pairs in odd runs, after them (below) in even ones.
        if (i % 2 === 1) await floorTurn();
      }
      for (const [name, run] of inTurn(i, [
        ['nncp-file', () => nncp('file', ['-quiet', '-cfg', alice.cfgPath, src, 'bob:out'])],
        ['pigeon file', () => pigeon(['file', '-quiet', '-cfg', alice.cfgPath, src, 'bob:out'])],
      ] as const)) {
        await clean();
        results.file[name].push(await run());
      }
      for (const [name, run] of inTurn(i, [
        ['nncp-xfer -rx', () => nncp('xfer', ['-quiet', '-cfg', bob.cfgPath, '-rx', stick])],
        ['pigeon xfer -rx', () => pigeon(['xfer', '-quiet', '-cfg', bob.cfgPath, '-rx', stick])],
        ['pigeon xfer -rx, copying', () => pigeonCopying(['xfer', '-quiet', '-cfg', bob.cfgPath, '-rx', stick])],
      ] as const)) {
        await packetOnStick();
        results['xfer -rx'][name].push(await run());
      }
      for (const [name, run] of inTurn(i, [
        ['nncp-toss', () => nncp('toss', ['-quiet', '-cfg', bob.cfgPath])],
        ['pigeon toss', () => pigeon(['toss', '-quiet', '-cfg', bob.cfgPath])],
      ] as const)) {
        await packetInRx();
        results.toss[name].push(await run());
      }
      if (!opts.sync && i % 2 === 0) await floorTurn();
      for (const [table, input] of [['exec', src], ['exec rep', srcRep]] as const) {
        for (const impl of inTurn(i, ['nncp', 'pigeon'] as const)) {
          await clean();
          const args = ['-quiet', '-cfg', alice.cfgPath, 'bob', 'sink'];
          const sh = impl === 'nncp' ? `nncp-exec ${args.join(' ')} < ${input}` : `${PIGEON_BIN} exec ${args.join(' ')} < ${input}`;
          results[table][`${impl}-exec`.replace('pigeon-exec', 'pigeon exec')].push(await timeCmd('/bin/sh', ['-c', sh], env));
          await mkdir(bobRx, { recursive: true });
          for (const id of await files(aliceTx)) await copyFile(path.join(aliceTx, id), path.join(bobRx, id));
          results[table][impl === 'nncp' ? 'nncp-toss (exec)' : 'pigeon toss (exec)'].push(
            impl === 'nncp' ? await nncp('toss', ['-quiet', '-cfg', bob.cfgPath]) : await pigeon(['toss', '-quiet', '-cfg', bob.cfgPath]),
          );
        }
      }
    }
    async function floorTurn(): Promise<void> {
      await clean();
      floors.file.push(await floor(src, floorOut, false));
      await rm(floorOut, { force: true });
      const onStick = await packetOnStick();
      await mkdir(bobRx, { recursive: true });
      floors['xfer -rx'].push(await floor(onStick, path.join(bobRx, pktId), true));
      floors.toss.push(await floor(await packetInRx(), path.join(bob.incoming, 'out'), true));
    }
    const tag = `${opts.sizeMiB} MiB, ${opts.runs} runs${opts.sync ? '' : ', NNCPNOSYNC=1'}`;
    const mode = opts.sync ? 'fsync on' : 'NNCPNOSYNC=1';
    const target = opts.sync ? 1.0 : 0.8;
    const size = `${opts.sizeMiB} MiB`;
    const x = results.exec;
    opts.rows?.push(
      rowOf(`file, ${size}`, mode, results.file['pigeon file'], results.file['nncp-file'], 'nncp-file', target),
      rowOf(`xfer -rx, ${size}`, mode, results['xfer -rx']['pigeon xfer -rx'], results['xfer -rx']['nncp-xfer -rx'], 'nncp-xfer', target),
      rowOf(`toss of a file packet, ${size}`, mode, results.toss['pigeon toss'], results.toss['nncp-toss'], 'nncp-toss', target),
      rowOf(`exec from stdin, ${size} incompressible`, mode, x['pigeon exec'], x['nncp-exec'], 'nncp-exec', target),
      rowOf(`toss of that exec packet, ${size}`, mode, x['pigeon toss (exec)'], x['nncp-toss (exec)'], 'nncp-toss', target),
    );
    if (!opts.sync) {
      opts.rows?.push(
        floorRowOf(`file, ${size}`, mode, floors.file, results.file['nncp-file'], 'nncp-file', target),
        floorRowOf(`xfer -rx, ${size}`, mode, floors['xfer -rx'], results['xfer -rx']['nncp-xfer -rx'], 'nncp-xfer', target),
        floorRowOf(`toss of a file packet, ${size}`, mode, floors.toss, results.toss['nncp-toss'], 'nncp-toss', target),
      );
    }
    const withFloor = (rows: Record<string, Sample[]>, work: keyof typeof floors) => (opts.sync ? rows : { ...rows, [FLOOR_NAME]: floors[work] });
    return [
      report(`file, ${tag}`, withFloor(results.file, 'file'), 'nncp-file'),
      report(`xfer -rx, ${tag}`, withFloor(results['xfer -rx'], 'xfer -rx'), 'nncp-xfer -rx'),
      report(`toss of a file packet, ${tag}`, withFloor(results.toss, 'toss'), 'nncp-toss'),
      report(`exec from stdin (random data) and its toss, ${tag}`, results.exec, 'nncp-exec'),
      report(`exec from stdin (a random MiB repeated: compressible) and its toss, ${tag}`, results['exec rep'], 'nncp-exec'),
    ].join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  console.log(await benchOffline({ sizeMiB: Number(args[0] ?? 1024), runs: Number(args[1] ?? 3), sync: process.argv.includes('--sync') }));
}
