/**
 * Every side-by-side benchmark in one run (`npm run bench`): MTH, encrypt and
 * decrypt through the library, the offline commands, an online session,
 * 1,000 small packets through toss, xfer and a session, and the start-up of
 * short commands, each against the reference on the same data. Medians; run
 * it on a quiet machine. Usage: node dist/bench/run.js [SIZE_MIB=1024] [RUNS=3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { benchMth, formatMthBench } from './mth.js';
import { benchOffline } from './offline.js';
import { benchPacket } from './packet.js';
import { benchSmall } from './small.js';
import { benchSp } from './sp.js';
import { benchStartup } from './startup.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const sizeMiB = Number(args[0] ?? 1024);
const runs = Number(args[1] ?? 3);
if (!(sizeMiB > 0 && Number.isInteger(sizeMiB)) || !(runs > 0 && Number.isInteger(runs))) {
  process.stderr.write('usage: node dist/bench/run.js [SIZE_MIB=1024] [RUNS=3]\n');
  process.exit(2);
}
const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-mth-'));
try {
  process.stdout.write(formatMthBench(await benchMth({ sizeMiB, runs, dir })) + '\n');
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.stdout.write((await benchPacket({ sizeMiB, runs, sync: false })) + '\n');
process.stdout.write((await benchOffline({ sizeMiB, runs, sync: false })) + '\n');
process.stdout.write((await benchSp({ sizeMiB, runs, sync: true })) + '\n');
process.stdout.write(await benchSmall({ count: 1000, runs, modes: [true, false] }));
// Start-up needs more rounds than the bulk work: at least 11.
process.stdout.write('\n' + (await benchStartup({ runs: Math.max(11, runs) })));
