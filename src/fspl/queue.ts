/**
 * A Filespooler queue directory, laid out as fspl lays it out:
 *
 *   QUEUE/nextseq        next sequence number to process (not in append-only queues)
 *   QUEUE/nextseq.lock   flock(2)ed while processing
 *   QUEUE/jobs/          job files, fspl-*.fspl; anything else there is ignored
 *
 * A job is in the queue once a file named fspl-*.fspl appears in jobs/, so
 * writers must make it appear whole: queue-write writes a temporary file in
 * jobs/ (named nncp..., which no scan picks up), fsyncs it and renames it.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { errorLine, PigeonError } from '../errors.js';
import { TmpFile } from '../spool/atomic.js';
import { jobPath } from './env.js';
import { JobFormatError, type JobHeader } from './jobfile.js';
import { openJob } from './io.js';
import type { FsplLog } from './log.js';
import { lockSeqfile, writeSeq } from './seqfile.js';

const JOB_NAME = /^fspl-.*\.fspl$/;

export function seqPath(queuedir: string): string {
  return path.join(queuedir, 'nextseq');
}

function jobsDir(queuedir: string): string {
  return path.join(queuedir, 'jobs');
}

/** A fresh job file name: fspl-UUID.fspl. */
export function genFilename(): string {
  return `fspl-${randomUUID()}.fspl`;
}

/** Create QUEUE, QUEUE/jobs and (unless append-only) nextseq holding 1 with its lock file. */
export async function queueInit(queuedir: string, appendOnly = false): Promise<void> {
  try {
    await mkdir(queuedir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new PigeonError('EIO', `queue ${queuedir} already exists; pick a new directory (queue-init creates it)`, { cause: err });
    }
    throw new PigeonError('EIO', `cannot create queue ${queuedir}: ${errorLine(err)}`, { cause: err });
  }
  await mkdir(jobsDir(queuedir));
  if (appendOnly) return;
  const lock = lockSeqfile(seqPath(queuedir), true, `queue ${queuedir}`);
  try {
    await writeSeq(seqPath(queuedir), 1n);
  } finally {
    lock.release();
  }
}

/** Refuse a directory that is not a queue, with what to do. */
export async function requireQueue(queuedir: string): Promise<void> {
  try {
    if ((await stat(jobsDir(queuedir))).isDirectory()) return;
  } catch {
    // fall through
  }
  throw new PigeonError('ENOTFOUND', `${queuedir} is not a queue (no ${jobsDir(queuedir)} directory); create it with queue-init -q ${queuedir}`);
}

/**
 * Save a job from `src` into the queue under a fresh fspl-UUID.fspl name,
 * atomically: it appears whole or not at all. Nothing is checked (as fspl:
 * the job may be encoded). Returns the file name.
 */
export async function queueWrite(queuedir: string, src: AsyncIterable<Uint8Array>): Promise<string> {
  await requireQueue(queuedir);
  const dir = jobsDir(queuedir);
  const tmp = await TmpFile.create(dir);
  const name = genFilename();
  try {
    for await (const chunk of src) await tmp.writeBorrowed(chunk);
    await tmp.commit(path.join(dir, name));
  } catch (err) {
    await tmp.abort();
    throw new PigeonError('EIO', `cannot write a job into ${dir}: ${errorLine(err)}`, { cause: err });
  }
  return name;
}

export interface QueuedJob {
  filename: string;
  header: JobHeader;
}

/**
 * The readable jobs in the queue, in directory order. Files whose header
 * does not parse (garbage, a job still encoded for want of --decoder) are
 * skipped and logged at debug level, as fspl does.
 */
export async function scanQueue(queuedir: string, decoder: string | undefined, log: FsplLog): Promise<QueuedJob[]> {
  await requireQueue(queuedir);
  let names: string[];
  try {
    names = await readdir(jobsDir(queuedir));
  } catch (err) {
    throw new PigeonError('EIO', `cannot list ${jobsDir(queuedir)}: ${errorLine(err)}`, { cause: err });
  }
  const jobs: QueuedJob[] = [];
  let unreadable = 0;
  for (const filename of names) {
    if (!JOB_NAME.test(filename)) continue;
    const file = jobPath(queuedir, filename);
    try {
      const job = await openJob(file, decoder);
      await job.close();
      jobs.push({ filename, header: job.header });
    } catch (err) {
      if (!(err instanceof JobFormatError) && !(err instanceof PigeonError)) throw err;
      unreadable++;
      log.at('debug', `skipping ${file}: ${errorLine(err)}`);
    }
  }
  if (unreadable > 0) log.at('debug', `${unreadable} file(s) in ${jobsDir(queuedir)} are not readable jobs${decoder === undefined ? ' (encoded? give --decoder)' : ''}`);
  return jobs;
}

/** Jobs in queue-ls order: by sequence number, then file name. */
export function bySeq(jobs: QueuedJob[]): QueuedJob[] {
  return [...jobs].sort((a, b) => (a.header.seq < b.header.seq ? -1 : a.header.seq > b.header.seq ? 1 : a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0));
}

/** Jobs in creation-time order (--order-by Timestamp), then file name. */
export function byTimestamp(jobs: QueuedJob[]): QueuedJob[] {
  const key = (j: QueuedJob) => j.header.ctimeSecs * 1_000_000_000n + BigInt(j.header.ctimeNanos);
  return [...jobs].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0;
  });
}

/** Index jobs by sequence number; two files with one number is an error, as in fspl. */
export function seqIndex(queuedir: string, jobs: QueuedJob[]): Map<bigint, QueuedJob> {
  const m = new Map<bigint, QueuedJob>();
  for (const j of jobs) {
    const seen = m.get(j.header.seq);
    if (seen) {
      throw new PigeonError(
        'EIO',
        `queue ${queuedir}: ${j.filename} and ${seen.filename} both hold job ${j.header.seq}; remove the one that should not run (queue-info shows them)`,
      );
    }
    m.set(j.header.seq, j);
  }
  return m;
}

/** The one job with sequence number `id`. */
export async function findJob(queuedir: string, id: bigint, decoder: string | undefined, log: FsplLog): Promise<QueuedJob> {
  const job = seqIndex(queuedir, await scanQueue(queuedir, decoder, log)).get(id);
  if (!job) throw new PigeonError('ENOTFOUND', `job ${id} not found in queue ${queuedir} (queue-ls lists the jobs${decoder === undefined ? '; encoded jobs need --decoder' : ''})`);
  return job;
}
