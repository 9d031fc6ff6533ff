/**
 * Every side-by-side benchmark of issue 11 in one run (`npm run bench`),
 * ending with one table of all of them: the work, pigeon's and the
 * reference's medians with their ranges, the ratio, its target, pigeon's
 * peak RSS, and whether both are met.
 *
 *   1,000 small packets: toss, xfer -rx, xfer -tx, an online session each way
 *     (fsync on and NNCPNOSYNC=1; target 0.8x)
 *   start-up: toss of an empty spool, file of 100 bytes, stat (1.6x node -e 0)
 *   bulk: file, xfer -rx, toss, exec of SIZES MiB of incompressible data
 *     (NNCPNOSYNC=1: 0.8x; fsync on: 1.0x)
 *   online session, the largest size each way (0.7x, both modes)
 *   peak RSS under 100 MB for every pigeon command
 *
 * Each group's detailed tables (every run, CPU time, both sides' RSS) go
 * to stderr as they finish, and with the summary to bench/out/LATEST.md.
 * Run it on a quiet machine; it takes about half an hour at the defaults.
 *
 * `--only=library` (not among the defaults) adds the library-level tables
 * (MTH of a file, encrypt and decrypt through the library) to the details.
 *
 * Usage: node dist/bench/run.js [RUNS=3] [--sizes=256,1024] [--count=1000] [--only=small,startup,bulk,online,library]
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summaryTable, type SummaryRow } from './lib.js';
import { benchMth, formatMthBench } from './mth.js';
import { benchOffline } from './offline.js';
import { benchPacket } from './packet.js';
import { benchSmall } from './small.js';
import { benchSp } from './sp.js';
import { benchStartup } from './startup.js';

const GROUPS = ['small', 'startup', 'bulk', 'online', 'library'] as const;
const flag = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const runs = Number(positional[0] ?? 3);
const sizes = (flag('sizes') ?? '256,1024').split(',').map(Number);
const count = Number(flag('count') ?? 1000);
const only = (flag('only') ?? 'small,startup,bulk,online').split(',');
const bad = !(runs >= 1 && Number.isInteger(runs)) || sizes.some((s) => !(s > 0 && Number.isInteger(s))) || !(count > 0) || only.some((g) => !(GROUPS as readonly string[]).includes(g));
if (bad || positional.length > 1) {
  process.stderr.write('usage: node dist/bench/run.js [RUNS=3] [--sizes=256,1024] [--count=1000] [--only=small,startup,bulk,online,library]\n');
  process.exit(2);
}

const rows: SummaryRow[] = [];
const details: string[] = [];
const detail = (text: string) => {
  details.push(text);
  process.stderr.write(text + '\n');
};
const t0 = Date.now();
if (only.includes('small')) detail(await benchSmall({ count, runs, modes: [true, false], rows }));
// Start-up needs more rounds than the bulk work: at least 11.
if (only.includes('startup')) detail(await benchStartup({ runs: Math.max(21, runs), rows }));
for (const sizeMiB of only.includes('bulk') ? sizes : []) {
  for (const sync of [false, true]) detail(await benchOffline({ sizeMiB, runs, sync, rows }));
}
if (only.includes('online')) {
  const sizeMiB = Math.max(...sizes);
  for (const sync of [false, true]) detail(await benchSp({ sizeMiB, runs, sync, rows }));
}
if (only.includes('library')) {
  const sizeMiB = Math.max(...sizes);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-mth-'));
  try {
    detail(formatMthBench(await benchMth({ sizeMiB, runs, dir })));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  detail(await benchPacket({ sizeMiB, runs, sync: false }));
}
const version = /version (\S+)/.exec(execFileSync('nncp-toss', ['-version'], { encoding: 'utf8' }))?.[1] ?? '?';
const head = `## Pigeon against NNCP ${version}: medians (min–max) of ${runs} runs, alternating order; ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)} at the end, ${((Date.now() - t0) / 60000).toFixed(0)} min\n\n`;
const table = head + summaryTable(rows);
process.stdout.write(table);
const outDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/out');
await mkdir(outDir, { recursive: true });
await writeFile(path.join(outDir, 'LATEST.md'), `${table}\n# Details\n\n${details.join('\n')}\n`);
