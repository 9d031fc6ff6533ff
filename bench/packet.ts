/**
 * Side-by-side: encrypt+MTH into a spool (reference nncp-file vs pigeon's
 * library), and decrypt+verify+deliver of the same packet (nncp-toss vs
 * pigeon), taking turns at going first. Usage: node dist/bench/packet.js
 * [SIZE_MIB=1024] [RUNS=3] [--sync]
 */
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNodes } from '../spec/helpers/nncp.js';
import { inTurn, makeRandomFile, report, Sample, timeCmd } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));


export async function benchPacket(opts: { sizeMiB: number; runs: number; sync: boolean }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-'));
  try {
    const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'nncp' });
    const src = path.join(dir, 'payload');
    await makeRandomFile(src, opts.sizeMiB);
    const env = opts.sync ? {} : { NNCPNOSYNC: '1' };
    const txDir = path.join(alice.spool, bob.idB32, 'tx');
    const rxDir = path.join(bob.spool, alice.idB32, 'rx');
    const node = process.execPath;
    const enc: Record<string, Sample[]> = { 'nncp-file': [], 'pigeon (library tx)': [] };
    const decr: Record<string, Sample[]> = { 'nncp-toss': [], 'pigeon (library rx)': [] };
    let packet = '';
    let packetId = '';
    const cleanTx = async () => rm(path.join(alice.spool, bob.idB32), { recursive: true, force: true });
    // One reference-made packet, kept aside, for the receiving side.
    await timeCmd('nncp-file', ['-quiet', '-cfg', alice.cfgPath, src, 'bob:out'], env);
    packetId = (await readdir(txDir, { withFileTypes: true })).find((e) => e.isFile())!.name;
    packet = path.join(dir, 'packet');
    await copyFile(path.join(txDir, packetId), packet);
    for (let i = 0; i < opts.runs; i++) {
      for (const which of inTurn(i, ['nncp-file', 'pigeon (library tx)'] as const)) {
        await cleanTx();
        enc[which].push(
          which === 'nncp-file'
            ? await timeCmd('nncp-file', ['-quiet', '-cfg', alice.cfgPath, src, 'bob:out'], env)
            : await timeCmd(node, [path.join(here, 'tx-one.js'), alice.cfgPath, src, 'bob', 'out'], env),
        );
      }
    }
    await mkdir(rxDir, { recursive: true });
    for (let i = 0; i < opts.runs; i++) {
      for (const which of inTurn(i, ['nncp-toss', 'pigeon (library rx)'] as const)) {
        await rm(path.join(bob.incoming, 'out'), { force: true });
        const id = packetId;
        await copyFile(packet, path.join(rxDir, id));
        decr[which].push(
          which === 'nncp-toss'
            ? await timeCmd('nncp-toss', ['-quiet', '-cfg', bob.cfgPath], env)
            : await timeCmd(node, [path.join(here, 'rx-one.js'), bob.cfgPath, path.join(rxDir, id), bob.incoming], env),
        );
      }
    }
    return [
      report(`encrypt + MTH into the spool, ${opts.sizeMiB} MiB, ${opts.runs} runs${opts.sync ? '' : ', NNCPNOSYNC=1'}`, enc, 'nncp-file'),
      report(`decrypt + verify + deliver, ${opts.sizeMiB} MiB, ${opts.runs} runs${opts.sync ? '' : ', NNCPNOSYNC=1'}`, decr, 'nncp-toss'),
    ].join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const sync = process.argv.includes('--sync');
  console.log(await benchPacket({ sizeMiB: Number(args[0] ?? 1024), runs: Number(args[1] ?? 3), sync }));
}
