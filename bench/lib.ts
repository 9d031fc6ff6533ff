/** Timing helpers for side-by-side benchmarks: wall time and peak RSS of a child process. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import { TRASH_PREFIX } from '../src/spool/trash.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestNode } from '../spec/helpers/nncp.js';

export interface Sample {
  seconds: number;
  /** User plus system CPU seconds: steadier than wall time on a shared machine. */
  cpuSeconds: number;
  maxRssKiB: number;
}

/**
 * The `pigeon` executable as a user runs it (package.json "bin"): started
 * through its #! line, launcher and all (bin/pigeon.cjs), not as
 * `node dist/cmd/pigeon.js`, which skips the launcher and starts some 15 ms
 * slower (an ES-module entry).
 */
export const PIGEON_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/pigeon.cjs');

/** Run a command under /usr/bin/time; fail loudly on a non-zero exit. */
export function timeCmd(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', cmd, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = err.trim().split('\n');
      const m = /^([\d.]+) ([\d.]+) ([\d.]+) (\d+)$/.exec(lines[lines.length - 1] ?? '');
      if (code !== 0 || !m) return reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.trim()}`));
      resolve({ seconds: Number(m[1]), cpuSeconds: Number(m[2]) + Number(m[3]), maxRssKiB: Number(m[4]) });
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A small table: median wall and CPU seconds, their ratios to the baseline, every run, median peak RSS. */
export function report(title: string, rows: Record<string, Sample[]>, baseline: string): string {
  const base = median(rows[baseline].map((s) => s.seconds));
  const baseCpu = median(rows[baseline].map((s) => s.cpuSeconds));
  const out = [`## ${title}`, '| program | median s | ratio | runs (s) | median CPU s | CPU ratio | peak RSS MB |', '|---|---|---|---|---|---|---|'];
  for (const [name, samples] of Object.entries(rows)) {
    const med = median(samples.map((s) => s.seconds));
    const cpu = median(samples.map((s) => s.cpuSeconds));
    const rss = median(samples.map((s) => s.maxRssKiB)) / 1024;
    const runs = samples.map((s) => s.seconds.toFixed(2)).join(' ');
    out.push(`| ${name} | ${med.toFixed(2)} | ${(med / base).toFixed(2)} | ${runs} | ${cpu.toFixed(2)} | ${(cpu / baseCpu).toFixed(2)} | ${rss.toFixed(0)} |`);
  }
  return out.join('\n') + '\n';
}

/** A file of `mib` MiB of random bytes (each MiB made distinct by its index). */
/**
 * A file of `mib` MiB: one random MiB repeated with a counter, or with
 * `fresh`, random throughout. The repeated one is incompressible for
 * packets and files, but zstd (exec) with a window over 1 MiB finds the
 * repeats: only `fresh` data is incompressible there.
 */
export async function makeRandomFile(p: string, mib: number, opts: { fresh?: boolean } = {}): Promise<void> {
  const fh = await open(p, 'w');
  const chunk = randomBytes(1 << 20);
  for (let i = 0; i < mib; i++) {
    if (opts.fresh) await fh.write(randomBytes(1 << 20));
    else {
      chunk.writeUInt32LE(i, 0);
      await fh.write(chunk);
    }
  }
  await fh.close();
}

/**
 * The contenders in the order for run `i`: as given in even runs, reversed
 * in odd ones (a pair swapped). Whoever runs later meets the page cache
 * and the host's memory as the ones before left them (on these virtual
 * machines freed memory goes back to the host and faults on its next use),
 * so a fixed order biases the comparison.
 */
export function inTurn<T>(i: number, contenders: readonly T[]): readonly T[] {
  return i % 2 === 0 ? contenders : [...contenders].reverse();
}

/**
 * Until no trash directory is left in either spool's tmp/: a pigeon toss
 * frees a big packet after it exits (src/spool/trash.ts), and that work
 * must not run into the next command timed, the reference's or ours.
 */
async function trashGone(nodes: TestNode[]): Promise<void> {
  const left = async () => {
    for (const n of nodes) {
      const names = await readdir(path.join(n.spool, 'tmp')).catch(() => [] as string[]);
      if (names.some((x) => x.startsWith(TRASH_PREFIX))) return true;
    }
    return false;
  };
  for (const end = Date.now() + 60_000; (await left()) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
}

/** Between runs: empty both nodes' queues for each other, the stick, and the receiver's incoming/ (once pigeon's trash is gone). */
export async function resetPair(alice: TestNode, bob: TestNode, stick: string): Promise<void> {
  await trashGone([alice, bob]);
  await rm(path.join(alice.spool, bob.idB32), { recursive: true, force: true });
  await rm(path.join(bob.spool, alice.idB32), { recursive: true, force: true });
  await rm(stick, { recursive: true, force: true });
  await rm(bob.incoming, { recursive: true, force: true });
  await mkdir(bob.incoming, { recursive: true });
}

/** Peak RSS every command must stay under (issue 11, item 6). */
export const RSS_LIMIT_MB = 100;

/**
 * One line of the summary table `npm run bench` ends with: a piece of work
 * timed for pigeon and for what it is measured against (the reference, or
 * `node -e 0` for start-up), the largest ratio of medians allowed, and
 * pigeon's peak RSS.
 */
export interface SummaryRow {
  work: string;
  /** 'fsync on', 'NNCPNOSYNC=1', … */
  mode: string;
  pigeon: number[];
  versus: number[];
  versusName: string;
  /** Largest allowed pigeon median / versus median. */
  target: number;
  /** Pigeon's largest peak RSS over the runs, MB (unmeasured: undefined). */
  rssMB?: number;
  /**
   * Not pigeon but the floor of the work for any Node program (offline.ts,
   * FLOOR_COPY) in the `pigeon` column: printed in a table of its own and
   * not counted among the rows met.
   */
  floor?: boolean;
}

/** Seconds as the tables print them; Infinity is a run that did not finish (sp.ts). */
const sec = (x: number) => (x === Infinity ? 'unfinished' : x.toFixed(x < 1 ? 3 : 2));
const cell = (xs: number[]) => `${sec(median(xs))} (${sec(Math.min(...xs))}–${sec(Math.max(...xs))})`;

/**
 * Whether a row meets its ratio (and, where measured, the RSS limit); null
 * when it cannot be told: the other side's median is a run that did not
 * finish (sp.ts), and a ratio to it would read 0.00 and "met".
 */
export function rowMet(r: SummaryRow): boolean | null {
  if (!Number.isFinite(median(r.versus))) return null;
  return median(r.pigeon) / median(r.versus) <= r.target && (r.rssMB === undefined || r.rssMB < RSS_LIMIT_MB);
}

/**
 * The rows as one markdown table: medians with (min–max) in seconds, the
 * ratio, its target, RSS, and whether both are met; then the floor rows in
 * a table of their own.
 */
export function summaryTable(all: SummaryRow[]): string {
  const rows = all.filter((r) => !r.floor);
  const out = [
    '| work | mode | pigeon s | against | their s | ratio | target | pigeon peak RSS MB | met |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const met = rowMet(r);
    const ratio = met === null ? '–' : (median(r.pigeon) / median(r.versus)).toFixed(2);
    out.push(
      `| ${r.work} | ${r.mode} | ${cell(r.pigeon)} | ${r.versusName} | ${cell(r.versus)} | ${ratio} | ≤ ${r.target.toFixed(1)} | ${r.rssMB === undefined ? '–' : r.rssMB.toFixed(0)} | ${met === null ? 'not measured: theirs did not finish' : met ? 'yes' : '**no**'} |`,
    );
  }
  const met = rows.filter((r) => rowMet(r) === true).length;
  const unknown = rows.filter((r) => rowMet(r) === null).length;
  out.push('', `${met} of ${rows.length} met${unknown > 0 ? ` (${unknown} not measured: the other side's median run did not finish)` : ''}.`);
  const floors = all.filter((r) => r.floor);
  if (floors.length > 0) {
    out.push(
      '',
      'Floors: Node started, the bytes copied by the kernel and, for xfer -rx and toss, the source unlinked; nothing else (bench/offline.ts, FLOOR_COPY). How much of a row is Node and the copy alone.',
      '',
      '| work | mode | floor s | against | their s | floor ratio | target | floor within target |',
      '|---|---|---|---|---|---|---|---|',
    );
    for (const r of floors) {
      const ratio = median(r.pigeon) / median(r.versus);
      out.push(`| ${r.work} | ${r.mode} | ${cell(r.pigeon)} | ${r.versusName} | ${cell(r.versus)} | ${ratio.toFixed(2)} | ≤ ${r.target.toFixed(1)} | ${ratio <= r.target ? 'yes' : '**no**'} |`);
    }
  }
  return out.join('\n') + '\n';
}

/** A floor row (SummaryRow.floor): the floor's wall seconds against the reference's (what the target is compared with). */
export function floorRowOf(work: string, mode: string, floor: Sample[], versus: Sample[], versusName: string, target: number): SummaryRow {
  return { work, mode, pigeon: floor.map((s) => s.seconds), versus: versus.map((s) => s.seconds), versusName, target, floor: true };
}

/** A summary row from report()-style samples: pigeon's and the baseline's wall seconds, pigeon's peak RSS. */
export function rowOf(work: string, mode: string, pigeon: Sample[], versus: Sample[], versusName: string, target: number): SummaryRow {
  return {
    work,
    mode,
    pigeon: pigeon.map((s) => s.seconds),
    versus: versus.map((s) => s.seconds),
    versusName,
    target,
    rssMB: Math.max(...pigeon.map((s) => s.maxRssKiB)) / 1024,
  };
}
