/**
 * Sequence files, shared with fspl: one line holding the next sequence
 * number (an unsigned 64-bit integer), beside a `.lock` file on which an
 * exclusive flock(2) is taken without waiting. The sender's seqfile is
 * created holding 1 on first use; the queue's (QUEUE/nextseq) by
 * queue-init. Updates are atomic (temporary file, fsync, rename).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { errorLine, PigeonError } from '../errors.js';
import { writeAtomic } from '../spool/atomic.js';
import { lockFile, type SpoolLock } from '../spool/lock.js';

const U64 = 1n << 64n;

/**
 * Take the exclusive lock of `seqPath` (on seqPath.lock), created when
 * `create` is set. `what` names the thing locked in messages.
 */
export function lockSeqfile(seqPath: string, create: boolean, what: string): SpoolLock {
  const lockPath = `${seqPath}.lock`;
  return lockFile(lockPath, {
    create,
    locked: `${what} is locked (${lockPath}) by another fspl or pigeon fspl; try again when it finishes`,
    missingHint: create ? undefined : `(missing: is ${what} initialised with queue-init, and not append-only?)`,
  });
}

/** Parse a sequence number as fspl takes it (decimal, 0..2^64-1). */
export function parseSeq(text: string, what: string): bigint {
  const t = text.trim();
  if (!/^\d+$/.test(t) || BigInt(t) >= U64) throw new PigeonError('EUSAGE', `${what}: ${JSON.stringify(t)} is not a sequence number (0 to 18446744073709551615)`);
  return BigInt(t);
}

/** The number in a seqfile, or null when the file does not exist. */
export async function readSeq(seqPath: string): Promise<bigint | null> {
  let text: string;
  try {
    text = await readFile(seqPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PigeonError('EIO', `cannot read sequence file ${seqPath}: ${errorLine(err)}`, { cause: err });
  }
  return parseSeq(text, `sequence file ${seqPath}`);
}

/** Replace a seqfile's number atomically. */
export async function writeSeq(seqPath: string, n: bigint): Promise<void> {
  try {
    await writeAtomic(seqPath, new TextEncoder().encode(`${n}\n`), { tmpDir: path.dirname(seqPath) });
  } catch (err) {
    throw new PigeonError('EIO', `cannot write sequence file ${seqPath}: ${errorLine(err)}`, { cause: err });
  }
}

/** Run `body` holding the seqfile's lock, with its current number (1 for a new sender seqfile, written out). */
export async function withSeqfile<T>(seqPath: string, create: boolean, what: string, body: (current: bigint) => Promise<T>): Promise<T> {
  const lock = lockSeqfile(seqPath, create, what);
  try {
    let cur = await readSeq(seqPath);
    if (cur === null) {
      if (!create) throw new PigeonError('ENOTFOUND', `${what} has no sequence file ${seqPath}; run queue-init (an append-only queue cannot be processed)`);
      cur = 1n;
      await writeSeq(seqPath, cur);
    }
    return await body(cur);
  } finally {
    lock.release();
  }
}

/**
 * The sender side of prepare: the number to use for the next job, with the
 * seqfile advanced past it (wrapping at 2^64, as fspl does). "-" means no
 * seqfile: always 1.
 */
export async function takeSeq(seqfile: string): Promise<bigint> {
  if (seqfile === '-') return 1n;
  return withSeqfile(seqfile, true, `seqfile ${seqfile}`, async (cur) => {
    await writeSeq(seqfile, nextSeq(cur));
    return cur;
  });
}

export function nextSeq(n: bigint): bigint {
  return (n + 1n) % U64;
}
