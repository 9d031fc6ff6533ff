/**
 * Typed errors. Every error a user can provoke is a PigeonError whose message
 * is one line naming the file, node or flag at fault and what to do about it.
 * Commands print `message` alone (never a stack) and exit with `exitCode`.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
export type ErrorCode =
  | 'ECONFIG' // configuration file is missing or invalid
  | 'EUSAGE' // bad command-line usage
  | 'EPACKET' // malformed, truncated or tampered packet
  | 'EAUTH' // bad signature, unknown sender, wrong recipient
  | 'ELOCKED' // somebody else holds a spool lock
  | 'ENOTFOUND' // unknown node, missing file
  | 'EIO'; // filesystem trouble

export class PigeonError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PigeonError';
    this.code = code;
    this.exitCode = options?.exitCode ?? 1;
  }
}

export class ConfigError extends PigeonError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ECONFIG', message, options);
    this.name = 'ConfigError';
  }
}

export class PacketError extends PigeonError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EPACKET', message, options);
    this.name = 'PacketError';
  }
}

export class AuthError extends PigeonError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EAUTH', message, options);
    this.name = 'AuthError';
  }
}

/** The errno code of a system error ('ENOENT', 'EPIPE'...), undefined for anything else. */
export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** Whether `err` says a path does not exist (ENOENT). */
export function isMissing(err: unknown): boolean {
  return errCode(err) === 'ENOENT';
}

/** Run a clean-up step whose failure changes nothing (closing what is being dropped; the error that matters is already on its way). */
export function quietly(f: () => void): void {
  try {
    f();
  } catch {
    // nothing to add
  }
}

/** Render any thrown value as one human line (no stack trace). */
export function errorLine(err: unknown): string {
  if (err instanceof PigeonError) return err.message;
  if (err && typeof err === 'object') {
    const e = err as NodeJS.ErrnoException;
    if (e.code && e.syscall) {
      const where = e.path ? ` ${e.path}` : '';
      const hint = (e.code === 'EACCES' || e.code === 'EPERM') && e.path ? permissionHint(e.path) : '';
      return `${e.syscall}${where}: ${e.code} (${describeErrno(e.code)}${hint})`;
    }
    if (typeof e.message === 'string') return e.message.split('\n')[0];
  }
  return String(err).split('\n')[0];
}

/** Name of user `uid` from /etc/passwd, else "uid N". */
function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid) return f[0];
    }
  } catch {
    // no passwd file: the number will do
  }
  return `uid ${uid}`;
}

/** For a permission error on `p`: who owns it (or its nearest existing parent) and what to do. */
function permissionHint(p: string): string {
  let at = p;
  for (;;) {
    try {
      const st = statSync(at);
      const me = process.getuid?.();
      if (me === undefined) return '';
      const owner = userName(st.uid);
      if (st.uid === me) return `; ${at} is ours (${owner}): check its mode, e.g. chmod u+rwX`;
      return `; ${at} belongs to ${owner}, this runs as ${userName(me)}: run as ${owner} (sudo -u ${owner} pigeon ...) or give the spool to this user`;
    } catch {
      const up = dirname(at);
      if (up === at) return '';
      at = up;
    }
  }
}

function describeErrno(code: string): string {
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'ENOSPC': return 'no space left on device';
    case 'EEXIST': return 'already exists';
    case 'EISDIR': return 'is a directory';
    case 'ENOTDIR': return 'not a directory';
    case 'EROFS': return 'read-only filesystem';
    default: return code;
  }
}
