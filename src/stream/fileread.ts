/**
 * Reading a file (or stdin) as a stream of chunks with one reused buffer:
 * constant memory and no allocation per chunk. Each yielded chunk is a view
 * that is overwritten by the next read, so the consumer must be done with it
 * (copied it, or processed it synchronously, as the encryptor does) before
 * asking for the next one. Consumers that keep chunks need copyChunks().
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

export const READ_CHUNK = 1 << 20;

export async function* readReused(source: string | FileHandle, opts: { chunk?: number; start?: number } = {}): AsyncGenerator<Uint8Array> {
  const fh = typeof source === 'string' ? await open(source, 'r') : source;
  const size = opts.chunk ?? READ_CHUNK;
  const buf = Buffer.allocUnsafe(size);
  let pos: number | null = opts.start ?? (typeof source === 'string' ? 0 : null);
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, size, pos);
      if (bytesRead === 0) return;
      if (pos !== null) pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    if (typeof source === 'string') await fh.close();
  }
}

/** Give each chunk of a reused-buffer stream its own copy (for consumers that keep chunks). */
export async function* copyChunks(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const c of src) yield Uint8Array.prototype.slice.call(c);
}
