/**
 * Standard input (and other streams we do not own) as chunks in constant
 * memory: readStdin() picks the reader for what fd 0 is, readAhead() wraps
 * a Node stream with bounded read-ahead, readStdinText() takes all of a
 * small input (a list of ids) as text.
 */
import { fstatSync } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { errorLine, PigeonError } from '../errors.js';
import { READ_CHUNK, readFd } from './fileread.js';
import { reclaim } from './reclaim.js';

/**
 * The one consumer of a reader waiting for its producer (data, end or an
 * error): signal() wakes it if it waits. Nothing is allocated unless the
 * consumer has to wait, as with the closures this replaces.
 */
class Waker {
  private wake: (() => void) | null = null;

  signal(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  wait(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }
}

/**
 * Read a stream (stdin) with up to `limit` bytes of read-ahead, so that the
 * writer on the other side of a pipe keeps going while we encrypt; the
 * stream is paused past the limit, so memory stays bounded.
 */
async function* readAhead(stream: NodeJS.ReadableStream, limit = 4 << 20): AsyncGenerator<Uint8Array> {
  const queue: Uint8Array[] = [];
  let queued = 0;
  let ended = false;
  let failure: unknown = null;
  const waker = new Waker();
  const onData = (c: Buffer | string) => {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    queue.push(b);
    queued += b.length;
    if (queued >= limit) stream.pause();
    waker.signal();
  };
  const onEnd = () => {
    ended = true;
    waker.signal();
  };
  const onError = (e: unknown) => {
    failure = e;
    waker.signal();
  };
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('error', onError);
  try {
    for (;;) {
      const c = queue.shift();
      if (c !== undefined) {
        queued -= c.length;
        if (queued < limit / 2 && stream.isPaused()) stream.resume();
        reclaim(c.length);
        yield c;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await waker.wait();
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.pause();
  }
}

/** Bytes per read from stdin (two such buffers alternate). */
const STDIN_CHUNK = 256 * 1024;

/**
 * A file, tty or other descriptor read with fs.read into two alternating
 * buffers: the next read is under way while the consumer works on the
 * current chunk, and nothing is allocated per chunk. Where the descriptor
 * turns out to be non-blocking (EAGAIN), the rest is read through
 * process.stdin.
 */
async function* readFdChunks(fd: number, size = STDIN_CHUNK): AsyncGenerator<Uint8Array> {
  const bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  let i = 0;
  let pending: Promise<number> = readFd(fd, bufs[0], 0, size, null);
  try {
    for (;;) {
      let n: number;
      try {
        n = await pending;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || fd !== 0) throw err;
        pending = Promise.resolve(0);
        yield* readAhead(process.stdin);
        return;
      }
      if (n === 0) return;
      const cur = bufs[i];
      i ^= 1;
      pending = readFd(fd, bufs[i], 0, size, null);
      reclaim(n);
      yield cur.subarray(0, n);
    }
  } finally {
    pending.catch(() => {});
  }
}

/** What one read from a pipe or socket can deliver (the onread buffer). */
const PIPE_READ = 64 * 1024;

/**
 * A pipe or socket read by the event loop (no thread-pool round trip per
 * 64 KiB read) into a few reused STDIN_CHUNK slots: reading pauses while
 * every slot is full, so memory stays constant however fast the writer is.
 */
async function* readPipeChunks(fd: number, slots = 4): AsyncGenerator<Uint8Array> {
  const free: Buffer[] = Array.from({ length: slots }, () => Buffer.allocUnsafe(STDIN_CHUNK));
  const ready: [Buffer, number][] = [];
  let cur: Buffer | null = null;
  let fill = 0;
  let ended = false;
  let paused = false;
  let failure: unknown = null;
  const waker = new Waker();
  const room = () => (cur ? STDIN_CHUNK - fill : 0) + free.length * STDIN_CHUNK;
  // `onread` (read into our buffer, no allocation per read) is accepted by
  // the Socket constructor, though @types/node only declares it for connect().
  const sock = new Socket({
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer: Buffer.allocUnsafe(PIPE_READ),
      callback(n: number, buf: Uint8Array): boolean {
        let off = 0;
        while (off < n) {
          if (!cur) {
            cur = free.pop()!;
            fill = 0;
          }
          const take = Math.min(n - off, STDIN_CHUNK - fill);
          cur.set(buf.subarray(off, off + take), fill);
          fill += take;
          off += take;
          if (fill === STDIN_CHUNK) {
            ready.push([cur, fill]);
            cur = null;
          }
        }
        waker.signal();
        // Stop reading until the consumer frees a slot when the next read might not fit.
        if (room() < PIPE_READ) {
          paused = true;
          return false;
        }
        return true;
      },
    },
  } as SocketConstructorOpts);
  sock.on('end', () => {
    if (cur && fill > 0) ready.push([cur, fill]);
    cur = null;
    ended = true;
    waker.signal();
  });
  sock.on('error', (err) => {
    failure = err;
    waker.signal();
  });
  let lent: Buffer | null = null;
  try {
    for (;;) {
      if (lent) {
        free.push(lent);
        lent = null;
        if (paused && room() >= PIPE_READ) {
          paused = false;
          sock.resume();
        }
      }
      const r = ready.shift();
      if (r) {
        lent = r[0];
        yield r[0].subarray(0, r[1]);
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await waker.wait();
    }
  } finally {
    sock.destroy();
  }
}

/**
 * Standard input as a stream of chunks in constant memory, each valid until
 * the next one is asked for (the encryptor and the compressor consume them
 * synchronously): pipes and sockets through the event loop, anything else
 * (files, terminals) with fs.read, a regular file READ_CHUNK at a time as
 * readReused reads files (a quarter of the thread-pool round trips of
 * STDIN_CHUNK reads).
 */
export async function* readStdin(): AsyncGenerator<Uint8Array> {
  let st;
  try {
    st = fstatSync(0);
  } catch (err) {
    throw new PigeonError('EIO', `stdin: ${errorLine(err)}`, { cause: err });
  }
  if (st.isFIFO() || st.isSocket()) yield* readPipeChunks(0);
  else yield* readFdChunks(0, st.isFile() ? READ_CHUNK : STDIN_CHUNK);
}

/** All of standard input as UTF-8 text (small inputs: lists of packet ids). */
export async function readStdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
