/**
 * Side by side: `nncp-hash -file F` vs `pigeon hash -file F`, spawned
 * processes hashing the same file from the page cache.
 *
 * Usage: node dist/bench/mth.js [SIZE_MIB=1024] [RUNS=3]
 *
 * Wall time is measured here around each spawn; peak RSS comes from
 * `/usr/bin/time -f %M` when it exists, otherwise (pigeon only) from a
 * preloaded hook that writes process.resourceUsage().maxRSS at exit.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { accessSync, constants, createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { median, PIGEON_BIN } from './lib.js';


export interface MthBenchSide {
  /** Median wall time, milliseconds. */
  medianMs: number;
  runsMs: number[];
  /** Throughput at the median. */
  mibPerSec: number;
  /** Largest peak RSS over the runs, KiB; null when it could not be measured. */
  peakRssKiB: number | null;
}

export interface MthBenchResult {
  sizeMiB: number;
  runs: number;
  nncp: MthBenchSide;
  pigeon: MthBenchSide;
  /** pigeon median / nncp median: below 1 means pigeon is faster. */
  ratio: number;
  /** The MTH both printed (they must agree). */
  mth: string;
}

function which(name: string): string | null {
  for (const d of [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin']) {
    try {
      accessSync(path.join(d, name), constants.X_OK);
      return path.join(d, name);
    } catch {
      // next
    }
  }
  return null;
}

interface RunOut { ms: number; stdout: string; rssKiB: number | null }

/** Spawn once; time it; collect peak RSS as described at the top. */
async function timed(cmd: string, args: string[], rssFile: string, isNode: boolean): Promise<RunOut> {
  const time = which('time');
  let argv: string[];
  let env: NodeJS.ProcessEnv = process.env;
  if (time) {
    argv = [time, '-f', '%M', '-o', rssFile, cmd, ...args];
  } else {
    argv = [cmd, ...args];
    if (isNode) {
      const hook = `${rssFile}.cjs`;
      await writeFile(hook, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS)));\n`);
      env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${hook}` };
    }
  }
  await rm(rssFile, { force: true });
  const t0 = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c ?? -1, stdout: out, stderr: err }));
  });
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr.trim().split('\n')[0]}`);
  let rssKiB: number | null = null;
  try {
    const n = Number((await readFile(rssFile, 'utf8')).trim().split('\n').pop());
    rssKiB = Number.isFinite(n) ? n : null;
  } catch {
    // not measurable here
  }
  return { ms, stdout: stdout.trim(), rssKiB };
}

/** A file of `sizeMiB` random MiB in `dir` (reused when one of that size is there). */
async function benchFile(dir: string, sizeMiB: number): Promise<string> {
  const f = path.join(dir, `mth-bench-${sizeMiB}MiB.bin`);
  const want = sizeMiB * 1024 * 1024;
  const st = await stat(f).catch(() => null);
  if (st?.size === want) return f;
  const fh = await open(f, 'w');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let done = 0; done < want; done += buf.length) {
      randomFillSync(buf);
      await fh.write(buf, 0, Math.min(buf.length, want - done));
    }
  } finally {
    await fh.close();
  }
  return f;
}

/** Read the whole file once so both programs find it in the page cache. */
async function warm(f: string): Promise<void> {
  for await (const _ of createReadStream(f, { highWaterMark: 4 << 20 })) {
    // just reading
  }
}

export async function benchMth(opts: { sizeMiB: number; runs: number; dir: string }): Promise<MthBenchResult> {
  const nncpHash = which('nncp-hash');
  if (!nncpHash) throw new Error('nncp-hash (the reference) is not installed: nothing to compare with');
  const f = await benchFile(opts.dir, opts.sizeMiB);
  await warm(f);
  const rss = path.join(opts.dir, 'mth-bench-rss');
  const nncpRun = () => timed(nncpHash, ['-file', f], rss, false);
  const pigeonRun = () => timed(PIGEON_BIN, ['hash', '-file', f], rss, true);
  // Warm-up of both programs (and their binaries/modules); they must agree.
  const [a, b] = [await nncpRun(), await pigeonRun()];
  if (a.stdout !== b.stdout) throw new Error(`the MTHs differ: nncp-hash ${a.stdout}, pigeon ${b.stdout}`);
  const runs = { nncp: [] as RunOut[], pigeon: [] as RunOut[] };
  for (let i = 0; i < opts.runs; i++) {
    // Alternate who goes first, so neither always inherits the other's cache state.
    if (i % 2 === 0) {
      runs.nncp.push(await nncpRun());
      runs.pigeon.push(await pigeonRun());
    } else {
      runs.pigeon.push(await pigeonRun());
      runs.nncp.push(await nncpRun());
    }
  }
  await rm(rss, { force: true });
  await rm(`${rss}.cjs`, { force: true });
  const side = (xs: RunOut[]): MthBenchSide => {
    const med = median(xs.map((x) => x.ms));
    const rssVals = xs.map((x) => x.rssKiB).filter((x): x is number => x !== null);
    return {
      medianMs: med,
      runsMs: xs.map((x) => x.ms),
      mibPerSec: opts.sizeMiB / (med / 1000),
      peakRssKiB: rssVals.length ? Math.max(...rssVals) : null,
    };
  };
  const nncp = side(runs.nncp);
  const pigeon = side(runs.pigeon);
  return { sizeMiB: opts.sizeMiB, runs: opts.runs, nncp, pigeon, ratio: pigeon.medianMs / nncp.medianMs, mth: a.stdout };
}

export function formatMthBench(r: MthBenchResult): string {
  const row = (name: string, s: MthBenchSide) =>
    `| ${name} | ${(s.medianMs / 1000).toFixed(2)} | ${s.mibPerSec.toFixed(0)} | ${s.runsMs.map((x) => (x / 1000).toFixed(2)).join(' ')} | ${s.peakRssKiB === null ? '?' : (s.peakRssKiB / 1024).toFixed(1)} |`;
  return [
    `## MTH of a ${r.sizeMiB} MiB file from the page cache (${r.runs} runs, whole process)`,
    '| program | median s | MiB/s | runs (s) | peak RSS MB |',
    '|---|---|---|---|---|',
    row('nncp-hash -file', r.nncp),
    row('pigeon hash -file', r.pigeon),
    `ratio pigeon/nncp (median time): ${r.ratio.toFixed(2)}`,
  ].join('\n') + '\n';
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const sizeMiB = Number(process.argv[2] ?? 1024);
  const runs = Number(process.argv[3] ?? 3);
  if (!(sizeMiB > 0 && Number.isInteger(sizeMiB)) || !(runs > 0 && Number.isInteger(runs))) {
    process.stderr.write('usage: node dist/bench/mth.js [SIZE_MIB=1024] [RUNS=3]\n');
    process.exit(2);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-mth-'));
  try {
    process.stdout.write(formatMthBench(await benchMth({ sizeMiB, runs, dir })));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
