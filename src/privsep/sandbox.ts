/**
 * What the network child may touch, as Node permission-model flags, and
 * who it runs as.
 *
 * Read: Pigeon's own code (dist/, node_modules/, build/, package.json) and
 * the spool directories below. Read and write: `<spool>/<NODE>/` of each
 * neighbour that can call (it has a noisepub) and `<spool>/tmp/` (hdr/
 * files are written through it). Nothing else: not the configuration, not
 * the log, not incoming/ or freq paths. Child processes are refused;
 * worker threads are allowed (whole-file checksums of resumed packets run
 * on them, and a worker inherits the same limits); addons are allowed
 * (BLAKE3, ChaCha20-Poly1305 and flock(2) are native: see README,
 * "Privilege separation", for the measurement and what it costs).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PigeonError } from '../errors.js';
import { SpoolLayout } from '../spool/layout.js';

/** The package root (dist/src/privsep/ or src/privsep/ → root). */
export function packageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const up = path.basename(path.resolve(here, '../..')) === 'dist' ? '../../..' : '../..';
  return path.resolve(here, up);
}

/** The directories the child writes: each callable neighbour's node directory, and tmp/. */
export function childSpoolDirs(spoolRoot: string, nodeIds: readonly string[]): string[] {
  const layout = new SpoolLayout(spoolRoot);
  return [...nodeIds.map((id) => layout.nodeDir(id)), layout.tmpDir()];
}

/** node's execArgv for the child: the permission model limited to the code and those directories. */
export function childExecArgv(spoolDirs: readonly string[]): string[] {
  const root = packageRoot();
  const code = ['dist', 'node_modules', 'build', 'package.json'].map((p) => path.join(root, p));
  return [
    '--experimental-permission',
    '--no-warnings=ExperimentalWarning',
    ...[...code, ...spoolDirs].map((p) => `--allow-fs-read=${p}`),
    ...spoolDirs.map((p) => `--allow-fs-write=${p}`),
    '--allow-addons',
    '--allow-worker',
  ];
}

/** The child's entry script. */
export function childScript(): string {
  return path.join(packageRoot(), 'dist', 'cmd', 'privsep-child.js');
}

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** The user (name or number) the child runs as, with its primary group (getent passwd). */
export function lookupUser(name: string): RunAs {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '';
  } catch {
    throw new PigeonError('EUSAGE', `-user ${name}: no such user`);
  }
  const f = line.split(':');
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (f.length < 4 || !Number.isInteger(uid) || !Number.isInteger(gid)) throw new PigeonError('EUSAGE', `-user ${name}: unreadable passwd entry`);
  if (uid === 0) throw new PigeonError('EUSAGE', `-user ${name}: is root; name an unprivileged user for the network child`);
  return { uid, gid, name: f[0] ?? name };
}

/** Only what the child's code reads from the environment (no NNCPCFG, no secrets by accident). */
export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const keep = ['NNCPNOSYNC', 'NNCPDEADLINE', 'PIGEON_NATIVE', 'PIGEON_BLAKE3', 'PIGEON_WRITE_PIECE', 'TZ', 'LANG'];
  const out: NodeJS.ProcessEnv = {};
  for (const k of keep) if (env[k] !== undefined) out[k] = env[k];
  return out;
}
