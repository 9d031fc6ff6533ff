/**
 * Reads exact-size blocks out of an async byte stream with as little copying
 * as possible: a block that lies inside one incoming chunk is returned as a
 * view of it; only blocks straddling chunks are assembled into a new buffer.
 */
export class BlockReader {
  private it: AsyncIterator<Uint8Array>;
  private head: Uint8Array = new Uint8Array(0);
  private done = false;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return false;
      }
      if (r.value.length > 0) {
        this.head = r.value;
        return true;
      }
    }
    return false;
  }

  /**
   * Up to `n` bytes: exactly `n` unless the stream ends first. The returned
   * view is valid until the next call (the source may reuse its buffers).
   */
  async read(n: number): Promise<Uint8Array> {
    if (this.head.length === 0 && !(await this.fill())) return this.head;
    if (this.head.length >= n) {
      const out = this.head.subarray(0, n);
      this.head = this.head.subarray(n);
      this.consumed += n;
      return out;
    }
    // The stream may end with this chunk (the tail of a small packet): then
    // it is all there is, handed out with no block-sized buffer. Copied
    // first (only what is left of it): asking the source for more may let it
    // reuse the buffer this chunk lies in.
    const first = Uint8Array.prototype.slice.call(this.head); // a copy, even of a Buffer (whose slice is a view)
    this.head = new Uint8Array(0);
    if (!(await this.fill())) {
      this.consumed += first.length;
      return first;
    }
    const out = new Uint8Array(n);
    out.set(first);
    let have = first.length;
    while (have < n) {
      if (this.head.length === 0 && !(await this.fill())) break;
      const take = Math.min(n - have, this.head.length);
      out.set(this.head.subarray(0, take), have);
      this.head = this.head.subarray(take);
      have += take;
    }
    this.consumed += have;
    return have === n ? out : out.subarray(0, have);
  }

  /**
   * Up to `max` bytes, as a view of what the source last gave (no copy):
   * fewer when the current chunk ends first, empty only at the end of the
   * stream. Valid until the next call.
   */
  async readSome(max: number): Promise<Uint8Array> {
    if (max <= 0 || (this.head.length === 0 && !(await this.fill()))) return new Uint8Array(0);
    const out = this.head.subarray(0, Math.min(max, this.head.length));
    this.head = this.head.subarray(out.length);
    this.consumed += out.length;
    return out;
  }

  /**
   * Discard bytes until the stream continues with `pattern` (left unread),
   * as a scan for a marker in a stream that may hold garbage. False, with
   * everything discarded, when the stream ends first. Only the few bytes
   * of a match that straddles two chunks are copied.
   */
  async seek(pattern: Uint8Array): Promise<boolean> {
    const keepMax = pattern.length - 1;
    for (;;) {
      if (this.head.length === 0 && !(await this.fill())) return false;
      const at = Buffer.from(this.head.buffer, this.head.byteOffset, this.head.length).indexOf(pattern);
      if (at >= 0) {
        this.head = this.head.subarray(at);
        this.consumed += at;
        return true;
      }
      // The last bytes may start a match that the next chunk completes.
      const keep = Math.min(keepMax, this.head.length);
      this.consumed += this.head.length - keep;
      const tail = Uint8Array.prototype.slice.call(this.head, this.head.length - keep); // a copy, even of a Buffer
      this.head = new Uint8Array(0);
      if (!(await this.fill())) {
        this.consumed += keep;
        return false;
      }
      if (keep === 0) continue;
      if (this.head.length < keepMax) {
        // A tiny chunk: carry the tail with it and search again.
        const joined = new Uint8Array(keep + this.head.length);
        joined.set(tail);
        joined.set(this.head, keep);
        this.head = joined;
        continue;
      }
      const edge = new Uint8Array(keep + keepMax);
      edge.set(tail);
      edge.set(this.head.subarray(0, keepMax), keep);
      const j = Buffer.from(edge.buffer).indexOf(pattern);
      if (j >= 0 && j < keep) {
        const joined = new Uint8Array(keep - j + this.head.length);
        joined.set(tail.subarray(j));
        joined.set(this.head, keep - j);
        this.head = joined;
        this.consumed += j;
        return true;
      }
      this.consumed += keep;
    }
  }

  /** Hand over (a copy of) what was read from the source but not yet returned. */
  takeBuffered(): Uint8Array {
    const out = Uint8Array.prototype.slice.call(this.head); // a copy, even of a Buffer (whose slice is a view)
    this.head = new Uint8Array(0);
    return out;
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    if (this.head.length > 0) return false;
    return !(await this.fill());
  }

  /** Stop reading the source early (lets a file stream close). */
  async close(): Promise<void> {
    this.done = true;
    await this.it.return?.();
  }
}

/** Turn a Uint8Array into a one-chunk async iterable. */
export async function* once(data: Uint8Array): AsyncGenerator<Uint8Array> {
  yield data;
}
