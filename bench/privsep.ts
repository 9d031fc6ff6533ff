/**
 * The privilege-separated daemon against the one-process daemon: one
 * session moving SIZE MiB each way over loopback, `pigeon call` calling
 * `pigeon daemon` (network child) and `pigeon daemon -noprivsep`, with the
 * native ChaCha20-Poly1305 addon and on node:crypto (PIGEON_NATIVE=0 for
 * the daemon), runs alternating. Medians and every run.
 *
 * Usage: node dist/bench/privsep.js [SIZE_MIB=256] [RUNS=5] [--nosync]
 */
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { alternate, makeSpLab, PIGEON, sessionTable } from './sp.js';

export async function benchPrivsep(opts: { sizeMiB: number; runs: number; sync: boolean }): Promise<string> {
  const lab = await makeSpLab(opts);
  const caller = PIGEON('call');
  const js = { PIGEON_NATIVE: '0' };
  try {
    const rows = await alternate(lab, opts.runs, {
      'one process': { daemon: PIGEON('daemon', ['-noprivsep']), caller },
      privsep: { daemon: PIGEON('daemon'), caller },
      'one process, PIGEON_NATIVE=0': { daemon: PIGEON('daemon', ['-noprivsep'], js), caller },
      'privsep, PIGEON_NATIVE=0': { daemon: PIGEON('daemon', [], js), caller },
    });
    return sessionTable(`## pigeon call → pigeon daemon, ${opts.sizeMiB} MiB each way (${opts.runs} runs alternating, ${opts.sync ? 'fsync on' : 'NNCPNOSYNC=1'})`, rows, 'one process');
  } finally {
    await rm(lab.dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  process.stdout.write(await benchPrivsep({ sizeMiB: Number(args[0] ?? 256), runs: Number(args[1] ?? 5), sync: !process.argv.includes('--nosync') }));
}
