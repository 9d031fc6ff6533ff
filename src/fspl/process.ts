/**
 * Running jobs: one job's command (queue-process and stdin-process share
 * it), and the queue loop with fspl's ordering and error policies.
 *
 * Crash safety (queue-process in Sequence order): after a job succeeds the
 * queue's nextseq is advanced first (temporary file, fsync, rename, fsync of
 * the directory) and the job file is deleted after that, as fspl does. A
 * kill between the command's exit and the nextseq update runs the job again
 * on the next queue-process (at least once); a kill between the update and
 * the deletion leaves a job file whose number is below nextseq, which no
 * Sequence run touches again (queue-ls still lists it; remove it by hand).
 * In Timestamp order there is no nextseq: a kill between the command's exit
 * and the deletion runs the job again.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { errorLine, PigeonError } from '../errors.js';
import { envStrings, jobEnv, jobPath, type JobPlace } from './env.js';
import type { JobHeader } from './jobfile.js';
import { childExit, openJob, pump, splitHeader } from './io.js';
import type { FsplLog } from './log.js';
import { byTimestamp, requireQueue, scanQueue, seqIndex, seqPath } from './queue.js';
import { lockSeqfile, nextSeq, readSeq, writeSeq } from './seqfile.js';

export interface CommandOptions {
  /** Executable (not run through a shell). */
  command: string;
  /** Arguments given after "--" on our command line. */
  params: string[];
  allowJobParams?: boolean;
  ignorePayload?: boolean;
  /** Seconds before the command is killed (SIGKILL) and counted as failed. */
  timeout?: number;
  log: FsplLog;
}

/** null on success, else why the job failed. */
export type Outcome = string | null;

/**
 * Run one job: NOP succeeds and Fail fails without running anything; a
 * Command job runs `command` with the job's environment and its payload on
 * stdin. `output`, when given, receives the command's stdout and stderr.
 */
export async function runJob(
  header: JobHeader,
  payload: number | AsyncIterable<Uint8Array>,
  place: JobPlace | undefined,
  opts: CommandOptions,
  output?: number,
): Promise<Outcome> {
  if (header.kind === 'NOP') return null;
  if (header.kind === 'Fail') return 'it is a Fail job';
  const args = [...opts.params];
  if (opts.allowJobParams) args.push(...header.params.map((p) => Buffer.from(p).toString('utf8')));
  else if (header.params.length > 0) opts.log.at('warn', 'Parameters given in job ignored because --allow-job-params not given');
  const stdin = opts.ignorePayload ? 'ignore' : typeof payload === 'number' ? payload : 'pipe';
  const out = output ?? 'inherit';
  opts.log.at('debug', `running ${opts.command} ${JSON.stringify(args)} for job ${header.seq}`);
  const child = spawn(opts.command, args, { env: { ...process.env, ...envStrings(jobEnv(header, place)) }, stdio: [stdin, out, out] });
  const exited = childExit(child);
  let timedOut = false;
  const timer = opts.timeout === undefined ? null : setTimeout(() => ((timedOut = true), child.kill('SIGKILL')), opts.timeout * 1000);
  if (stdin === 'pipe' && typeof payload !== 'number') {
    const input = child.stdin!;
    input.on('error', () => {}); // the command may exit without reading its stdin
    try {
      await pump(payload, input);
      input.end();
    } catch {
      input.destroy();
    }
  }
  const how = await exited;
  if (timer) clearTimeout(timer);
  if (how.startsWith('error ')) throw new PigeonError('EIO', `cannot run ${opts.command}: ${how.slice(6)}`);
  if (timedOut) return `${opts.command} ran past --timeout ${opts.timeout} s and was killed`;
  return how === 'exit 0' ? null : `${opts.command} ended with ${how}`;
}

/** stdin-process: one job read from `src`; failure is an error. */
export async function processStdin(src: AsyncIterable<Uint8Array>, opts: CommandOptions): Promise<void> {
  const { header, rest } = await splitHeader(src);
  const why = await runJob(header, rest, undefined, opts);
  if (why !== null) throw new PigeonError('EIO', `job ${header.seq} failed: ${why}`);
}

export type OnError = 'Retry' | 'Delete' | 'Leave';
export type OrderBy = 'Sequence' | 'Timestamp';

export interface QueueProcessOptions extends CommandOptions {
  queuedir: string;
  decoder?: string;
  onError?: OnError;
  orderBy?: OrderBy;
  neverDelete?: boolean;
  /** At most this many jobs (-n). */
  maxJobs?: number;
  /** SaveBoth: the command's stdout and stderr go to jobs/FILE.out instead of ours. */
  saveOutput?: boolean;
}

/** Jobs run (successful or not) by one queue-process. */
export async function processQueue(o: QueueProcessOptions): Promise<number> {
  const q = o.queuedir;
  const seqFile = seqPath(q);
  await requireQueue(q);
  const lock = lockSeqfile(seqFile, false, `queue ${q}`);
  try {
    const order = o.orderBy ?? 'Sequence';
    const jobs = await scanQueue(q, o.decoder, o.log);
    let next = order === 'Sequence' ? await readSeq(seqFile) : null;
    if (order === 'Sequence' && next === null) throw new PigeonError('ENOTFOUND', `queue ${q} has no ${seqFile}; an append-only queue cannot be processed (queue-set-next -q ${q} 1 makes one)`);
    const index = order === 'Sequence' ? seqIndex(q, jobs) : null;
    const queue = order === 'Timestamp' ? byTimestamp(jobs) : [];
    let done = 0;
    while (o.maxJobs === undefined || done < o.maxJobs) {
      const job = index ? index.get(next!) : queue.shift();
      if (!job) {
        if (index) o.log.at('debug', `no job ${next} in ${q}: stopping (it has not arrived yet)`);
        break;
      }
      const place = { queuedir: q, filename: job.filename };
      const file = jobPath(q, job.filename);
      o.log.at('debug', `processing job ${job.header.seq} from ${file}`);
      const opened = await openJob(file, o.decoder);
      let output: number | undefined;
      let why: Outcome;
      try {
        if (o.saveOutput) output = openSync(`${file}.out`, 'w');
        why = await runJob(opened.header, opened.payload, place, o, output);
      } catch (err) {
        await opened.close().catch(() => null);
        throw err;
      } finally {
        if (output !== undefined) closeSync(output);
      }
      const decodeFailure = await opened.close();
      if (why === null) why = decodeFailure;
      done++;
      if (why !== null) {
        o.log.at('error', `job ${job.header.seq} (${file}) failed: ${why}`);
        if ((o.onError ?? 'Retry') === 'Retry') {
          throw new PigeonError(
            'EIO',
            `job ${job.header.seq} (${file}) failed: ${why}; it stays queued for the next queue-process (to skip it: queue-process -q ${q} --on-error Delete -n 1 ..., or queue-set-next)`,
          );
        }
      }
      // Advance first, then delete: see the crash-safety note at the top.
      if (index) {
        next = nextSeq(next!);
        await writeSeq(seqFile, next);
      }
      const keep = o.neverDelete || (why !== null && o.onError === 'Leave');
      if (!keep) await removeJob(file);
    }
    return done;
  } finally {
    lock.release();
  }
}

async function removeJob(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PigeonError('EIO', `cannot delete processed job ${file}: ${errorLine(err)}`, { cause: err });
  }
}
