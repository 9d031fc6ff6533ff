/**
 * Reading a file (or stdin) as a stream of chunks with two reused buffers:
 * constant memory, no allocation per chunk, and the next read already under
 * way while the consumer works on the current chunk. A yielded chunk stays
 * valid only until the consumer asks for the next one (that buffer is then
 * read into again), so the consumer must be done with it by then (copied it,
 * or processed it synchronously, as the encryptor does). Consumers that keep
 * chunks need copyChunks().
 */
import { read as fsRead } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

export const READ_CHUNK = 1 << 20;

export async function* readReused(source: string | FileHandle, opts: { chunk?: number; start?: number } = {}): AsyncGenerator<Uint8Array> {
  const fh = typeof source === 'string' ? await open(source, 'r') : source;
  const size = opts.chunk ?? READ_CHUNK;
  const bufs = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
  let pos: number | null = opts.start ?? (typeof source === 'string' ? 0 : null);
  const readInto = (buf: Buffer) => fh.read(buf, 0, size, pos).then((r) => r.bytesRead);
  let which = 0;
  let pending = readInto(bufs[which]);
  try {
    for (;;) {
      const n = await pending;
      if (n === 0) return;
      if (pos !== null) pos += n;
      const current = bufs[which];
      which ^= 1;
      // Start the next read into the other buffer before handing this one out.
      pending = readInto(bufs[which]);
      yield current.subarray(0, n);
    }
  } finally {
    // An abandoned read-ahead must not surface later as an unhandled rejection.
    await pending.catch(() => 0);
    if (typeof source === 'string') await fh.close();
  }
}

/**
 * A payload read straight into its consumer's buffer: fill(buf, off, len)
 * fills buf[off, off + len) and resolves to the bytes it put there, fewer
 * than `len` only at the end of the data (0: nothing was left). The
 * encryptor reads a regular file this way into the very buffer it seals,
 * with no chunk buffers and no copy.
 */
export interface FillSource {
  fill(buf: Uint8Array, off: number, len: number): Promise<number>;
}

/** The payload is a FillSource rather than a stream of chunks. */
export function isFillSource(p: AsyncIterable<Uint8Array> | FillSource): p is FillSource {
  return typeof (p as FillSource).fill === 'function';
}

/** A regular file from `start` on, read with positioned reads on the thread pool (the caller keeps and closes it). */
export function fileFiller(fh: FileHandle, start = 0): FillSource {
  let pos = start;
  return {
    async fill(buf, off, len) {
      let have = 0;
      while (have < len) {
        const { bytesRead } = await fh.read(buf, off + have, len - have, pos);
        if (bytesRead === 0) break;
        have += bytesRead;
        pos += bytesRead;
      }
      return have;
    },
  };
}

/** Give each chunk of a reused-buffer stream its own copy (for consumers that keep chunks). */
export async function* copyChunks(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const c of src) yield Uint8Array.prototype.slice.call(c);
}

/** read(2) on a raw descriptor (stdin, a pipe): at `position`, or from where it is when null. */
export function readFd(fd: number, buf: Uint8Array, off: number, len: number, position: number | null): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, buf, off, len, position, (err, n) => (err ? reject(err) : resolve(n))));
}
