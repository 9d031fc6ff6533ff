/**
 * Test helpers shared by the interop tests: find and run the reference NNCP
 * binaries and pigeon's CLI, make temp dirs, and build sets of nodes that
 * know each other.
 *
 * Every spawned process gets an environment stripped of NNCPCFG, NNCPSPOOL,
 * NNCPLOG, NNCPDEADLINE and NNCPNOSYNC (NNCPCFG would override -cfg), plus
 * whatever the caller passes in `env`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { base32Encode } from '../../src/codec/base32.js';
import { parseConfigText } from '../../src/config/load.js';
import type { SelfNode } from '../../src/config/types.js';

/** dist/cmd/pigeon.js, next to the compiled spec/ directory. */
export const PIGEON_JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../cmd/pigeon.js');

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
}

const STRIPPED_ENV = ['NNCPCFG', 'NNCPSPOOL', 'NNCPLOG', 'NNCPDEADLINE', 'NNCPNOSYNC'];

function childEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of STRIPPED_ENV) delete env[k];
  return { ...env, ...extra };
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

function runProcess(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: childEnv(opts.env), cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
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
    child.stdin.on('error', () => {
      // the child may exit without reading its input
    });
    child.stdin.end(opts.input === undefined ? undefined : opts.input);
  });
}

/** Run a reference binary: `runNncp('nncp-file', [...])` or `runNncp('file', [...])`. */
export function runNncp(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const name = bin.startsWith('nncp-') ? bin : `nncp-${bin}`;
  const dir = nncpDir();
  return runProcess(dir ? path.join(dir, name) : name, args, opts);
}

/**
 * Start a long-running reference binary (nncp-daemon, nncp-caller) without
 * waiting for it; it is killed (by its own pid) when the test ends. Its
 * stderr is collected in `stderr()` for failure messages.
 */
export function startNncp(t: ExecutionContext, bin: string, args: readonly string[], opts: Omit<RunOptions, 'input' | 'timeout'> = {}): { child: ChildProcess; stderr: () => string } {
  const name = bin.startsWith('nncp-') ? bin : `nncp-${bin}`;
  const dir = nncpDir();
  const child = spawn(dir ? path.join(dir, name) : name, args, { env: childEnv(opts.env), cwd: opts.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  return { child, stderr: () => Buffer.concat(err).toString('utf8') };
}

/** Run pigeon's CLI: `runPigeon(['cfgnew', '-nocomments'])`. */
export function runPigeon(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runProcess(process.execPath, [PIGEON_JS, ...args], opts);
}

/** A fresh directory under os.tmpdir(), removed when the test ends. */
export async function tmpDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pigeon-test-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export type Generator = 'nncp' | 'pigeon';

export interface TestNode {
  name: string;
  /** Which program generated its keys. */
  generator: Generator;
  /** Its own directory: DIR/NAME. */
  dir: string;
  cfgPath: string;
  spool: string;
  log: string;
  /** Where files from any neighbour (and from itself) land. */
  incoming: string;
  /** What neighbours may freq from. */
  freqDir: string;
  keys: SelfNode;
  idB32: string;
  /** The configuration object written to cfgPath; change it and call saveNode(). */
  raw: Record<string, any>;
}

export interface MakeNodesOptions {
  /** Who generates the keys: one program for all, or per node name (default 'nncp'). */
  generator?: Generator | Record<string, Generator>;
  /** exec handles each node allows its neighbours; default { sh: ['/bin/sh', '-c'], cat: ['/bin/cat'] }. */
  exec?: Record<string, string[]>;
  /** Extra fields for neigh.NEIGH in OWNER's configuration (e.g. via, calls, addrs). */
  neighExtra?: (owner: string, neigh: string) => Record<string, unknown>;
  /** Extra top-level fields for OWNER's configuration. */
  topExtra?: (owner: string) => Record<string, unknown>;
}

/** Public keys of a generated config's self section, as a neigh entry. */
function publicEntry(self: Record<string, string>): Record<string, string> {
  return { id: self.id, exchpub: self.exchpub, signpub: self.signpub, noisepub: self.noisepub };
}

/**
 * Make nodes that all know each other: keys from `nncp-cfgnew -nocomments`
 * or `pigeon cfgnew -nocomments`, each with its own spool, log, incoming
 * and freq directories under DIR/NAME, every other node in `neigh` (with
 * incoming, exec and freq.path set), and itself as `self`.
 */
export async function makeNodes(dir: string, names: readonly string[], opts: MakeNodesOptions = {}): Promise<Record<string, TestNode>> {
  const nodes: Record<string, TestNode> = {};
  const selfRaw: Record<string, Record<string, string>> = {};
  for (const name of names) {
    const generator = typeof opts.generator === 'object' ? opts.generator[name] ?? 'nncp' : opts.generator ?? 'nncp';
    const res = generator === 'nncp' ? await runNncp('nncp-cfgnew', ['-nocomments']) : await runPigeon(['cfgnew', '-nocomments']);
    if (res.code !== 0) throw new Error(`${generator} cfgnew failed (${res.code}): ${res.stderr.trim()}`);
    const text = res.stdout.toString('utf8');
    const parsed = parseConfigText(text, `${generator} cfgnew output`, { env: {}, needSelf: true });
    const nodeDir = path.join(dir, name);
    const node: TestNode = {
      name,
      generator,
      dir: nodeDir,
      cfgPath: path.join(nodeDir, 'cfg.hjson'),
      spool: path.join(nodeDir, 'spool'),
      log: path.join(nodeDir, 'log'),
      incoming: path.join(nodeDir, 'incoming'),
      freqDir: path.join(nodeDir, 'pub'),
      keys: parsed.self!,
      idB32: parsed.self!.idB32,
      raw: {},
    };
    for (const d of [node.spool, node.incoming, node.freqDir]) await mkdir(d, { recursive: true });
    const k = node.keys;
    selfRaw[name] = {
      id: k.idB32,
      exchpub: base32Encode(k.exchPub),
      exchprv: base32Encode(k.exchPrv),
      signpub: base32Encode(k.signPub),
      signprv: base32Encode(k.signPrv),
      noisepub: base32Encode(k.noisePub),
      noiseprv: base32Encode(k.noisePrv),
    };
    nodes[name] = node;
  }
  const exec = opts.exec ?? { sh: ['/bin/sh', '-c'], cat: ['/bin/cat'] };
  for (const name of names) {
    const node = nodes[name];
    const neigh: Record<string, unknown> = {
      self: { ...publicEntry(selfRaw[name]), exec: { sendmail: ['/usr/sbin/sendmail'], ...exec }, incoming: node.incoming },
    };
    for (const other of names) {
      if (other === name) continue;
      neigh[other] = {
        ...publicEntry(selfRaw[other]),
        incoming: node.incoming,
        exec,
        freq: { path: node.freqDir },
        ...opts.neighExtra?.(name, other),
      };
    }
    node.raw = { spool: node.spool, log: node.log, self: selfRaw[name], neigh, ...opts.topExtra?.(name) };
    await saveNode(node);
  }
  return nodes;
}

/** Write node.raw to node.cfgPath (JSON is valid Hjson). */
export async function saveNode(node: TestNode): Promise<void> {
  await writeFile(node.cfgPath, JSON.stringify(node.raw, null, 2) + '\n');
}
