/**
 * Typed errors. Every error a user can provoke is a PigeonError whose message
 * is one line naming the file, node or flag at fault and what to do about it.
 * Commands print `message` alone (never a stack) and exit with `exitCode`.
 */
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

/** Render any thrown value as one human line (no stack trace). */
export function errorLine(err: unknown): string {
  if (err instanceof PigeonError) return err.message;
  if (err && typeof err === 'object') {
    const e = err as NodeJS.ErrnoException;
    if (e.code && e.syscall) {
      const where = e.path ? ` ${e.path}` : '';
      return `${e.syscall}${where}: ${e.code} (${describeErrno(e.code)})`;
    }
    if (typeof e.message === 'string') return e.message.split('\n')[0];
  }
  return String(err).split('\n')[0];
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
