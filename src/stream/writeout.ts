/**
 * Writing to a stream we do not own (stdout) in constant memory: one chunk
 * at a time, each awaited until the stream has taken it (handed it to the
 * kernel, or failed), so that the caller may then reuse the chunk's buffer.
 */

/** Write `chunk` to `out`; resolves once it is written, rejects with the write's error. */
export function writeOut(out: NodeJS.WritableStream, chunk: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(chunk, (err) => (err ? reject(err) : resolve()));
  });
}
