/**
 * Side-by-side: one online session moving SIZE MiB each way over loopback,
 * pigeon call ↔ pigeon daemon against nncp-call ↔ nncp-daemon, on the same
 * packets (made once by nncp-file, restored before every run).
 *
 * Reported per implementation: the transfer time (from starting the caller
 * until both packets sit complete in the receivers' rx/ and both tx/ queues
 * are empty), the caller's wall time (which adds the idle onlinedeadline of
 * 1 s), and the peak RSS of caller and daemon, medians of RUNS runs.
 *
 * Usage: node dist/bench/sp.js [SIZE_MIB=1024] [RUNS=3] [--nosync]
 * Run it on a quiet machine: both ends share its cores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNodes, type TestNode } from '../spec/helpers/nncp.js';
import { makeRandomFile, median, PIGEON_BIN, type SummaryRow } from './lib.js';



/** Run a command to its end (stderr shown); reject on a non-zero exit. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}`))));
  });
}

interface Timed {
  child: ChildProcess;
  /** Seconds, peak RSS (KiB) and CPU seconds (user + system, with its waited-for children) once it exits. */
  done: Promise<{ seconds: number; rssKiB: number; cpu: number }>;
}

/** Start a command under /usr/bin/time. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Timed {
  const child = spawn('/usr/bin/time', ['-f', '%e %M %U %S', cmd, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<{ seconds: number; rssKiB: number; cpu: number }>((resolve, reject) => {
    child.on('close', () => {
      const m = /([\d.]+) (\d+) ([\d.]+) ([\d.]+)\s*$/.exec(err.trim());
      if (!m) return reject(new Error(`${cmd}: no timing (${err.trim()})`));
      resolve({ seconds: Number(m[1]), rssKiB: Number(m[2]), cpu: Number(m[3]) + Number(m[4]) });
    });
  });
  return { child, done };
}

/** The process /usr/bin/time started (to signal it without killing time itself). */
function childOf(pid: number): number {
  const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  if (kids.length === 0) throw new Error(`process ${pid} has no child`);
  return Number(kids[0]);
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${port}`);
}

const ids = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.length === 52) : []);

/** Two nodes with one SIZE MiB packet queued each way (made once by nncp-file, restored before every run). */
export interface SpLab {
  dir: string;
  alice: TestNode;
  bob: TestNode;
  env: NodeJS.ProcessEnv;
  stash: string;
  /** Packets queued each way (1 unless the lab says otherwise). */
  packets?: number;
}

export async function makeSpLab(opts: { sizeMiB: number; sync: boolean }): Promise<SpLab> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-bench-sp-'));
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], { generator: 'nncp' });
  const env: NodeJS.ProcessEnv = opts.sync ? {} : { NNCPNOSYNC: '1' };
  const src = path.join(dir, 'payload');
  await makeRandomFile(src, opts.sizeMiB);
  await run('nncp-file', ['-quiet', '-cfg', alice.cfgPath, src, 'bob:x'], env);
  await run('nncp-file', ['-quiet', '-cfg', bob.cfgPath, src, 'alice:y'], env);
  await rm(src);
  const stash = path.join(dir, 'stash');
  await cp(queue(alice, bob, 'tx'), path.join(stash, 'a'), { recursive: true });
  await cp(queue(bob, alice, 'tx'), path.join(stash, 'b'), { recursive: true });
  return { dir, alice, bob, env, stash };
}

const queue = (n: TestNode, o: TestNode, xx: string) => path.join(n.spool, o.idB32, xx);

/** One side of a session: the program (and its leading arguments) and extra environment. */
export interface Side {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

export const PIGEON = (sub: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Side => ({ cmd: PIGEON_BIN, args: [sub, ...args], env });
export const NNCP = (bin: string): Side => ({ cmd: bin, args: [] });

export interface SessionSample {
  transfer: number;
  caller: number;
  callerRss: number;
  daemonRss: number;
  daemonCpu: number;
}

/**
 * How long after the caller's exit the packets may take to be in place. A
 * session that has not got them there by then is unfinished: its transfer
 * time is Infinity, the worst figure, for either side (nncp-call sometimes
 * hangs up before the last DONE of a 1 GiB session with fsync on: the
 * packet stays in the sender's tx/).
 */
const SETTLE_MS = 120_000;

/** One session, alice calling bob's daemon: fresh spools, the packets restored, timed until all sit in rx/. */
export async function runSession(lab: SpLab, daemonSide: Side, callerSide: Side): Promise<SessionSample> {
  const { alice, bob, env, stash } = lab;
  for (const [n, o] of [[alice, bob], [bob, alice]] as const) {
    await rm(path.join(n.spool, o.idB32), { recursive: true, force: true });
    await rm(n.log, { force: true });
  }
  await cp(path.join(stash, 'a'), queue(alice, bob, 'tx'), { recursive: true });
  await cp(path.join(stash, 'b'), queue(bob, alice, 'tx'), { recursive: true });
  const port = await freePort();
  const daemon = timed(daemonSide.cmd, [...daemonSide.args, '-quiet', '-cfg', bob.cfgPath, '-bind', `127.0.0.1:${port}`], { ...env, ...daemonSide.env });
  await listening(port);
  const t0 = Date.now();
  const caller = timed(callerSide.cmd, [...callerSide.args, '-quiet', '-cfg', alice.cfgPath, '-onlinedeadline', '1', 'bob', `127.0.0.1:${port}`], { ...env, ...callerSide.env });
  let transfer = Infinity;
  const n = lab.packets ?? 1;
  const finished = () => ids(queue(alice, bob, 'tx')).length === 0 && ids(queue(bob, alice, 'tx')).length === 0 && ids(queue(alice, bob, 'rx')).length === n && ids(queue(bob, alice, 'rx')).length === n;
  const poll = (async () => {
    while (caller.child.exitCode === null) {
      if (finished()) {
        transfer = (Date.now() - t0) / 1000;
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    // The caller may exit before the daemon has put the last packet in place (nncp-daemon with
    // fsync on takes some 10 s more for 1 GiB on these machines): the transfer lasts until it has.
    const deadline = Date.now() + SETTLE_MS;
    while (!finished() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (finished()) transfer = (Date.now() - t0) / 1000;
  })();
  const c = await caller.done;
  await poll;
  process.kill(childOf(daemon.child.pid!), 'SIGTERM');
  const d = await daemon.done;
  return { transfer, caller: c.seconds, callerRss: c.rssKiB, daemonRss: d.rssKiB, daemonCpu: d.cpu };
}

interface Row {
  transfer: number[];
  caller: number[];
  callerRss: number[];
  daemonRss: number[];
  daemonCpu: number[];
}

/** Rows of samples per variant, as a markdown table (ratio to `base`). */
export function sessionTable(title: string, rows: Record<string, Row>, base: string): string {
  const baseMed = median(rows[base].transfer);
  const out = [
    title,
    '| both ends | median transfer s | ratio | runs (s) | median daemon CPU s | runs (CPU s) | median caller wall s | peak RSS caller MB | peak RSS daemon MB |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [impl, r] of Object.entries(rows)) {
    const med = median(r.transfer);
    out.push(
      `| ${impl} | ${Number.isFinite(med) ? med.toFixed(2) : 'unfinished'} | ${(med / baseMed).toFixed(2)} | ${r.transfer.map((x) => (Number.isFinite(x) ? x.toFixed(2) : 'unfinished')).join(' ')} | ${median(r.daemonCpu).toFixed(2)} | ${r.daemonCpu.map((x) => x.toFixed(2)).join(' ')} | ${median(r.caller).toFixed(2)} | ${(Math.max(...r.callerRss) / 1024).toFixed(0)} | ${(Math.max(...r.daemonRss) / 1024).toFixed(0)} |`,
    );
  }
  return out.join('\n') + '\n';
}

/** Run each variant `runs` times, taking turns going first, logging each run on stderr. */
export async function alternate(lab: SpLab, runs: number, variants: Record<string, { daemon: Side; caller: Side }>): Promise<Record<string, Row>> {
  const rows: Record<string, Row> = {};
  for (let i = 0; i < runs; i++) {
    const entries = Object.entries(variants);
    const k = i % entries.length;
    for (const [name, v] of [...entries.slice(k), ...entries.slice(0, k)]) {
      const s = await runSession(lab, v.daemon, v.caller);
      const row = (rows[name] ??= { transfer: [], caller: [], callerRss: [], daemonRss: [], daemonCpu: [] });
      row.transfer.push(s.transfer);
      row.caller.push(s.caller);
      row.callerRss.push(s.callerRss);
      row.daemonRss.push(s.daemonRss);
      row.daemonCpu.push(s.daemonCpu);
      process.stderr.write(`run ${i + 1} ${name}: transfer ${s.transfer.toFixed(2)} s, daemon CPU ${s.daemonCpu.toFixed(2)} s, caller ${s.caller.toFixed(2)} s, RSS caller ${(s.callerRss / 1024).toFixed(0)} MB daemon ${(s.daemonRss / 1024).toFixed(0)} MB\n`);
    }
  }
  return rows;
}

/** A summary row of a session table: pigeon's transfer times against nncp's, the larger of pigeon's two peak RSS. */
export function sessionRow(work: string, mode: string, rows: Record<string, Row>, target: number): SummaryRow {
  const p = rows.pigeon;
  return { work, mode, pigeon: p.transfer, versus: rows.nncp.transfer, versusName: 'nncp-call ↔ nncp-daemon', target, rssMB: Math.max(...p.callerRss, ...p.daemonRss) / 1024 };
}

/** Target (issue 11, item 5): at most 0.7x the reference's transfer time. With `rows`, a summary row is added there. */
export async function benchSp(opts: { sizeMiB: number; runs: number; sync: boolean; rows?: SummaryRow[] }): Promise<string> {
  const lab = await makeSpLab(opts);
  try {
    const rows = await alternate(lab, opts.runs, {
      nncp: { daemon: NNCP('nncp-daemon'), caller: NNCP('nncp-call') },
      pigeon: { daemon: PIGEON('daemon'), caller: PIGEON('call') },
    });
    opts.rows?.push(sessionRow(`online session, ${opts.sizeMiB} MiB each way`, opts.sync ? 'fsync on' : 'NNCPNOSYNC=1', rows, 0.7));
    return sessionTable(`## Online session, ${opts.sizeMiB} MiB each way over loopback (${opts.runs} runs, ${opts.sync ? 'fsync on' : 'NNCPNOSYNC=1'})`, rows, 'nncp');
  } finally {
    await rm(lab.dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const sizeMiB = Number(args[0] ?? 1024);
  const runs = Number(args[1] ?? 3);
  const sync = !process.argv.includes('--nosync');
  process.stdout.write(await benchSp({ sizeMiB, runs, sync }));
}
