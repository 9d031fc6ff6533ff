/**
 * Splitting the head off a byte stream without copying the rest: the
 * plain header off decrypted plaintext, an inner packet's header off a
 * transit or area payload; and putting a head back in front.
 */

/**
 * Split `n` bytes off the front of a stream. Returns them (fewer when the
 * stream is shorter) and the rest of the stream.
 */
export async function takeHead(src: AsyncIterable<Uint8Array>, n: number): Promise<{ head: Uint8Array; rest: AsyncGenerator<Uint8Array> }> {
  const it = src[Symbol.asyncIterator]();
  const head = new Uint8Array(n);
  let have = 0;
  let leftover: Uint8Array | null = null;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const take = Math.min(n - have, r.value.length);
    head.set(r.value.subarray(0, take), have);
    have += take;
    if (take < r.value.length) leftover = r.value.subarray(take);
  }
  // Later chunks pass through as they come: no copy beyond the head.
  async function* rest(): AsyncGenerator<Uint8Array> {
    try {
      if (leftover) yield leftover;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    } finally {
      await it.return?.();
    }
  }
  return { head: head.subarray(0, have), rest: rest() };
}

/** `head` followed by the chunks of `rest`. */
export async function* prepend(head: Uint8Array, rest: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (head.length > 0) yield head;
  yield* rest;
}
