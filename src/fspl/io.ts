/**
 * Byte plumbing for job files: read a header off the front of a stream and
 * hand on the rest, write chunks with backpressure, and open a job file
 * (directly, or through a --decoder shell command) with its payload ready
 * to become a command's stdin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { errorLine, PigeonError } from '../errors.js';
import { readReused } from '../stream/fileread.js';
import { readJobHeader, type JobHeader } from './jobfile.js';

/** Write one chunk and wait until the stream is done with it (chunks may be reused buffers). */
export function writeChunk(w: Writable, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => w.write(chunk, (err) => (err ? reject(err) : resolve())));
}

/** Write every chunk of `src` to `w`, in order, with backpressure. */
export async function pump(src: AsyncIterable<Uint8Array>, w: Writable): Promise<void> {
  for await (const chunk of src) await writeChunk(w, chunk);
}

/**
 * Read a job header off the front of `src`; `rest` yields the payload (the
 * bytes read past the header first). Chunks of `src` may be reused buffers:
 * each chunk of `rest` is valid until the next is asked for.
 */
export async function splitHeader(src: AsyncIterable<Uint8Array>): Promise<{ header: JobHeader; length: number; rest: AsyncIterable<Uint8Array> }> {
  const it = src[Symbol.asyncIterator]();
  let left: Uint8Array = new Uint8Array(0);
  let ended = false;
  const read = async (n: number): Promise<Uint8Array> => {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < n) {
      if (left.length === 0) {
        if (ended) break;
        const r = await it.next();
        if (r.done) {
          ended = true;
          break;
        }
        left = r.value;
        continue;
      }
      const take = Math.min(n - have, left.length);
      parts.push(left.slice(0, take));
      left = left.subarray(take);
      have += take;
    }
    return Buffer.concat(parts, have);
  };
  const { header, length } = await readJobHeader(read);
  async function* rest(): AsyncGenerator<Uint8Array> {
    if (left.length > 0) yield left;
    if (ended) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { header, length, rest: rest() };
}

/** The shell fspl runs decoders with: $SHELL, else /bin/sh. */
function shell(): string {
  return process.env.SHELL || '/bin/sh';
}

/** A job file opened for reading: its header, and its payload as a command's stdin. */
export interface OpenedJob {
  header: JobHeader;
  /** A descriptor positioned at the payload (plain files), or the payload's chunks (decoded files). */
  payload: number | AsyncIterable<Uint8Array>;
  /** The payload as chunks (each valid until the next is asked for), for writing somewhere other than a command. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Close the file; for a decoder, wait for it and report a failure that cut the payload short. */
  close(): Promise<string | null>;
}

/**
 * Open `file`. Without a decoder the header is read with read(2) from the
 * descriptor itself, so that the descriptor is left at the payload and can
 * be given to the command as its stdin: no copy. With a decoder, `$SHELL -c
 * DECODER` gets the file on stdin and the header is read from its output.
 */
export async function openJob(file: string, decoder?: string): Promise<OpenedJob> {
  const fh = await openInput(file, 'job file');
  try {
    if (decoder === undefined) {
      const read = async (n: number) => {
        const buf = Buffer.alloc(n);
        let have = 0;
        while (have < n) {
          const { bytesRead } = await fh.read(buf, have, n - have, null);
          if (bytesRead === 0) break;
          have += bytesRead;
        }
        return buf.subarray(0, have);
      };
      const { header } = await readJobHeader(read);
      return { header, payload: fh.fd, chunks: () => readReused(fh), close: async () => (await fh.close(), null) };
    }
    const child = spawn(shell(), ['-c', decoder], { stdio: [fh.fd, 'pipe', 'inherit'] });
    const exited = childExit(child);
    let split: Awaited<ReturnType<typeof splitHeader>>;
    try {
      split = await splitHeader(child.stdout!);
    } catch (err) {
      child.stdout!.destroy();
      await exited;
      throw err;
    }
    let drained = false;
    async function* payload(): AsyncGenerator<Uint8Array> {
      yield* split.rest;
      drained = true;
    }
    const chunks = payload();
    return {
      header: split.header,
      payload: chunks,
      chunks: () => chunks,
      close: async () => {
        child.stdout!.destroy();
        const how = await exited;
        await fh.close();
        return drained && how !== 'exit 0' ? `decoder ${JSON.stringify(decoder)} failed (${how})` : null;
      },
    };
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
}

/** How a child ended: "exit N", "signal SIG", or "error ..." (it never started). */
export function childExit(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    child.once('error', (err) => resolve(`error ${errorLine(err)}`));
    child.once('close', (code, signal) => resolve(signal ? `signal ${signal}` : `exit ${code}`));
  });
}

/** Open a file for reading, with a one-line error naming it. */
export async function openInput(file: string, what: string): Promise<FileHandle> {
  try {
    return await open(file, 'r');
  } catch (err) {
    throw new PigeonError('ENOTFOUND', `cannot open ${what} ${file}: ${errorLine(err)}`, { cause: err });
  }
}
