/**
 * Test helpers for Filespooler: find the reference `fspl` (Debian package
 * filespooler), and run it or `pigeon fspl` with stdin, environment and
 * working directory of the test's choosing.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { PIGEON_JS } from './nncp.js';

export type FsplImpl = 'fspl' | 'pigeon';

export interface FsplRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

let found: string | null | undefined;

/** The fspl binary ($PATH, then /usr/bin), or null. */
export function fsplBin(): string | null {
  if (found !== undefined) return found;
  found = null;
  for (const d of [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin']) {
    try {
      accessSync(path.join(d, 'fspl'), constants.X_OK);
      found = path.join(d, 'fspl');
      break;
    } catch {
      // keep looking
    }
  }
  return found;
}

/**
 * True when fspl is installed. Otherwise: with $CI set the test fails;
 * without it the test logs a loud SKIP, passes, and this returns false.
 */
export function requireFspl(t: ExecutionContext): boolean {
  if (fsplBin() !== null) return true;
  if (process.env.CI) {
    t.fail('fspl (Debian package filespooler) is not installed, and CI is set: Filespooler interop tests cannot be skipped');
    return false;
  }
  t.log('SKIP: fspl (Debian package filespooler) not found on $PATH or in /usr/bin; this interop test did not run');
  t.pass();
  return false;
}

export interface FsplRunOptions {
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Run `fspl ARGS` or `pigeon fspl ARGS` (the same arguments: pigeon speaks fspl's command line). */
export function runFspl(impl: FsplImpl, args: readonly string[], opts: FsplRunOptions = {}): Promise<FsplRun> {
  const [cmd, pre] = impl === 'fspl' ? [fsplBin() ?? 'fspl', []] : [process.execPath, [PIGEON_JS, 'fspl']];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...pre, ...args], { env: { ...process.env, NNCPNOSYNC: '1', ...opts.env }, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr: err + (signal ? `[killed by ${signal}]` : '') }));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input);
  });
}
