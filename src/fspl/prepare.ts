/**
 * prepare (and prepare-nop, prepare-fail): a job header with the next
 * sequence number of the sender's seqfile, followed by the payload streamed
 * from stdin or a file, written to an output stream chunk by chunk (the
 * payload is never held in memory).
 *
 * Unlike fspl 1.2, the input file is opened before a sequence number is
 * taken: a mistyped -i does not burn a number, which would leave a gap the
 * receiving queue waits on forever.
 */
import type { Writable } from 'node:stream';
import { readReused } from '../stream/fileread.js';
import { encodeJobHeader, type JobHeader, type JobKind } from './jobfile.js';
import { openInput, writeChunk } from './io.js';
import { takeSeq } from './seqfile.js';

const SET_PREFIX = 'FSPL_SET_';
const enc = new TextEncoder();

export interface PrepareOptions {
  /** Sender's seqfile, or "-" for none (sequence number 1). */
  seqfile: string;
  kind?: JobKind;
  /** "-" for stdin, a file name, or absent for no payload. */
  input?: string;
  /** Job parameters (prepare -- PARAMS). */
  params?: string[];
  /** Where FSPL_SET_ variables come from, in enumeration order (process.env keeps the environment's). */
  env?: NodeJS.ProcessEnv;
  /** Creation time; default now. */
  ctime?: { secs: bigint; nanos: number };
  /** stdin, when input is "-". */
  stdin?: AsyncIterable<Uint8Array>;
  out: Writable;
}

/** The wall clock with sub-millisecond precision, as [secs, nanos]. */
export function nowCtime(): { secs: bigint; nanos: number } {
  const ms = performance.timeOrigin + performance.now();
  const secs = Math.floor(ms / 1000);
  return { secs: BigInt(secs), nanos: Math.min(999_999_999, Math.floor((ms - secs * 1000) * 1e6)) };
}

/** FSPL_SET_x=v pairs of `env`, prefix stripped, in order. */
export function fsplSetVars(env: NodeJS.ProcessEnv): [Uint8Array, Uint8Array][] {
  return Object.entries(env)
    .filter(([k, v]) => k.startsWith(SET_PREFIX) && v !== undefined)
    .map(([k, v]) => [enc.encode(k.slice(SET_PREFIX.length)), enc.encode(v!)]);
}

/** Write one job to `o.out`; returns its sequence number. */
export async function prepare(o: PrepareOptions): Promise<bigint> {
  const kind = o.kind ?? 'Command';
  const fh = o.input !== undefined && o.input !== '-' ? await openInput(o.input, 'input file') : null;
  try {
    const seq = await takeSeq(o.seqfile);
    const ctime = o.ctime ?? nowCtime();
    const header: JobHeader = {
      seq,
      ctimeSecs: ctime.secs,
      ctimeNanos: ctime.nanos,
      kind,
      params: kind === 'Command' ? (o.params ?? []).map((p) => enc.encode(p)) : [],
      env: kind === 'Command' ? fsplSetVars(o.env ?? {}) : [],
    };
    await writeChunk(o.out, encodeJobHeader(header));
    const payload = fh !== null ? readReused(fh) : o.input === '-' ? o.stdin ?? process.stdin : null;
    if (payload) for await (const chunk of payload) await writeChunk(o.out, chunk);
    return seq;
  } finally {
    await fh?.close();
  }
}
