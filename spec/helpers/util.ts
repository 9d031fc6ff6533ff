/**
 * What every spec file reaches for, one copy each: temporary directories,
 * waiting for a condition, loopback ports, running programs (pigeon's CLI,
 * the reference nncp-* binaries, anything else) and long-running ones that
 * die with the test, and reading trees, packet queues and logs on disk.
 * Nodes and their configurations are made in ./nncp.ts.
 *
 * Every spawned pigeon or nncp process gets an environment stripped of
 * NNCPCFG, NNCPSPOOL, NNCPLOG, NNCPDEADLINE and NNCPNOSYNC (NNCPCFG would
 * override -cfg), plus whatever the caller passes in `env`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { parseLog, type LogRecord } from '../../src/log/log.js';

// ---------------------------------------------------------------- directories

/** A fresh directory under os.tmpdir(), removed when the test ends. */
export async function tmpDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------- waiting

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `cond` every `every` ms until it holds (true) or `ms` have passed (false). */
export async function poll(cond: () => boolean | Promise<boolean>, ms = 10_000, every = 20): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await sleep(every);
  }
}

/** Wait until `cond` holds; after `ms`, throw "timed out waiting for WHAT" (`what` may be computed then). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000, what: string | (() => string) = 'a condition'): Promise<void> {
  if (!(await poll(cond, ms))) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
}

// ---------------------------------------------------------------- loopback

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A connection to 127.0.0.1:port; rejects when nothing listens. */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolve once something accepts connections on 127.0.0.1:port (a probe connection, closed at once). */
export async function listening(port: number, ms = 15_000, what: string | (() => string) = `something to listen on 127.0.0.1:${port}`): Promise<void> {
  const up = () =>
    connect(port).then(
      (s) => (s.destroy(), true),
      () => false,
    );
  await until(up, ms, what);
}

// ---------------------------------------------------------------- programs

/** dist/cmd/pigeon.cjs (package.json's bin: the bundle under its code cache when built and fresh), next to the compiled spec/ directory. */
export const PIGEON_JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cmd/pigeon.cjs');

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Milliseconds before the process is killed; default 60 s. */
  timeout?: number;
  /** Standard input read from this file (as a shell's `< FILE` gives it) instead of a pipe fed with `input`. */
  stdinFile?: string;
  /** Descriptors 3, 4, … of the child (e.g. ['ignore', fd] for nncp-ack's fd 4). */
  extraFds?: Array<'ignore' | number>;
}

const STRIPPED_ENV = ['NNCPCFG', 'NNCPSPOOL', 'NNCPLOG', 'NNCPDEADLINE', 'NNCPNOSYNC'];

/** process.env without the NNCP* variables that would change a run, plus `extra`. */
function childEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of STRIPPED_ENV) delete env[k];
  return { ...env, ...extra };
}

/** Run a program to its end: exit code (128 when killed), stdout, stderr. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const stdinFd = opts.stdinFile === undefined ? null : openSync(opts.stdinFile, 'r');
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { env: childEnv(opts.env), cwd: opts.cwd, stdio: [stdinFd ?? 'pipe', 'pipe', 'pipe', ...(opts.extraFds ?? [])] });
    } finally {
      if (stdinFd !== null) closeSync(stdinFd);
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeout ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8') + (signal ? `\n[killed by ${signal}]` : '');
      resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {
        // the child may exit without reading its input
      });
      child.stdin.end(opts.input === undefined ? undefined : opts.input);
    }
  });
}

/** A run's stdout as text. */
export function asText(r: RunResult): { code: number; stdout: string; stderr: string } {
  return { code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr };
}

/** Run a bash script (for redirections such as `4>FILE`), with NNCPNOSYNC=1 unless `env` says otherwise. */
export async function bash(script: string, opts: Omit<RunOptions, 'input' | 'stdinFile'> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return asText(await run('bash', ['-c', script], { ...opts, env: { NNCPNOSYNC: '1', ...opts.env } }));
}

/** Fail the test with the program's stderr unless it exited 0. */
export function ok(t: ExecutionContext, what: string, r: RunResult): void {
  t.is(r.code, 0, `${what} failed: ${r.stderr}`);
}

let nncpBinDir: string | null | undefined;

/** Directory holding the nncp-* binaries ($PATH, then /usr/bin), or null. */
export function nncpDir(): string | null {
  if (nncpBinDir !== undefined) return nncpBinDir;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin'];
  nncpBinDir = null;
  for (const d of dirs) {
    try {
      accessSync(path.join(d, 'nncp-cfgnew'), constants.X_OK);
      nncpBinDir = d;
      break;
    } catch {
      // keep looking
    }
  }
  return nncpBinDir;
}

export function haveNncp(): boolean {
  return nncpDir() !== null;
}

/**
 * True when the reference is installed. Otherwise: with $CI set the test
 * fails; without it the test logs a loud SKIP, passes, and this returns false.
 */
export function requireNncp(t: ExecutionContext): boolean {
  if (haveNncp()) return true;
  if (process.env.CI) {
    t.fail('the reference NNCP binaries (nncp-cfgnew and friends) are not installed, and CI is set: interop tests cannot be skipped');
    return false;
  }
  t.log('SKIP: reference NNCP binaries (nncp-*) not found on $PATH or in /usr/bin; this interop test did not run');
  t.pass();
  return false;
}

/** The path of a reference binary: `nncpBin('file')` or `nncpBin('nncp-file')`. */
function nncpBin(bin: string): string {
  const name = bin.startsWith('nncp-') ? bin : `nncp-${bin}`;
  const dir = nncpDir();
  return dir ? path.join(dir, name) : name;
}

/** Run a reference binary: `runNncp('nncp-file', [...])` or `runNncp('file', [...])`. */
export function runNncp(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(nncpBin(bin), args, opts);
}

/** Run pigeon's CLI: `runPigeon(['cfgnew', '-nocomments'])`. */
export function runPigeon(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [PIGEON_JS, ...args], opts);
}

/** Run `pigeon CMD` or `nncp-CMD`: the same arguments to either implementation. */
export function runImpl(impl: 'pigeon' | 'nncp', cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return impl === 'nncp' ? runNncp(cmd, args, opts) : runPigeon([cmd, ...args], opts);
}

export interface Started {
  child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** What it wrote to stderr so far. */
  stderr: () => string;
}

/**
 * Start a long-running program without waiting for it; it is killed (by its
 * own pid, with `signal`) when the test ends, unless it has exited already.
 */
export function start(t: ExecutionContext, cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; signal?: NodeJS.Signals } = {}): Started {
  const child = spawn(cmd, args, { env: childEnv(opts.env), cwd: opts.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill(opts.signal ?? 'SIGTERM');
  });
  return { child, exited, stderr: () => Buffer.concat(err).toString('utf8') };
}

/** A long-running reference binary (nncp-daemon, nncp-caller, a call to be killed), SIGTERMed at teardown. */
export function startNncp(t: ExecutionContext, bin: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Started {
  return start(t, nncpBin(bin), args, opts);
}

/** A long-running pigeon process (daemon, caller, a call to be killed), SIGKILLed at teardown. */
export function startPigeon(t: ExecutionContext, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Started {
  return start(t, process.execPath, [PIGEON_JS, ...args], { ...opts, signal: 'SIGKILL' });
}

// ---------------------------------------------------------------- files

/**
 * Every file below `root` as a sorted list of '/'-separated relative paths
 * ([] when root is missing); with `dirs`, directories too, as "path/".
 */
export function listFiles(root: string, opts: { dirs?: boolean } = {}): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (opts.dirs) out.push(`${r}/`);
        walk(path.join(d, e.name), r);
      } else out.push(r);
    }
  };
  if (existsSync(root)) walk(root, '');
  return out.sort();
}

/** Relative path -> content of every regular file below `root` (no symlinks), those matching `skip` aside. */
export function fileContents(root: string, skip?: RegExp): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const f of listFiles(root)) {
    const p = path.join(root, f);
    if (!skip?.test(f) && lstatSync(p).isFile()) m.set(f, readFileSync(p));
  }
  return m;
}

/** Set a file's access and modification times `days` back. */
export function age(p: string, days: number): void {
  const when = new Date(Date.now() - days * 86400_000);
  utimesSync(p, when, when);
}

/** Write `data` to `p` (making its directory), dated `days` back; returns `p`. */
export function put(p: string, data: string | Uint8Array = '', days = 0): string {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, data);
  if (days) age(p, days);
  return p;
}

/** Names in `dir` that are packet ids (52 Base32 characters), sorted; [] when dir is missing. */
export function packetIds(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => /^[A-Z2-7]{52}$/.test(n)).sort() : [];
}

/** The records of a log file, parsed by pigeon's reader ([] when there is no log yet). */
export function logRecords(file: string): LogRecord[] {
  return existsSync(file) ? parseLog(readFileSync(file, 'utf8')) : [];
}

/**
 * The records of a log file as plain objects, split by hand ("Key: value"
 * lines, no continuation lines joined): a reader independent of pigeon's.
 */
export function logFields(file: string): Record<string, string>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n\n')
    .filter((r) => r.trim() !== '')
    .map((r) => Object.fromEntries(r.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)])));
}
