/**
 * MTH: NNCP's Merkle Tree Hashing (manual page "MTH").
 *
 * Data is cut into 128 KiB blocks. A leaf is keyed BLAKE3-256 of its block
 * (key = plain BLAKE3-256("NNCP MTH LEAF")), a node is keyed BLAKE3-256 of its
 * two children's hashes concatenated (key = plain BLAKE3-256("NNCP MTH NODE")).
 * Levels are built by pairing neighbours; an unpaired last node goes up a level
 * unchanged. One leaf is paired with itself; empty input is one leaf of the
 * empty block, also paired with itself.
 *
 * Streaming: we keep a stack of finished subtrees, each tagged with its level
 * and its index within that level; two neighbours of one level merge when the
 * left one has an even index. Memory is O(log n).
 *
 * Resuming (the reference's `nncp-hash -seek N` and resumed online downloads):
 * `new MTH({ size, offset })` hashes the data from `offset` to `size` first
 * (fed with `update`), starting at the first leaf boundary at or after
 * `offset`; then the caller feeds the file from its start with `preadd` (only
 * the first `prefixSize` bytes are used: every leaf that begins before
 * `offset`), and `digest()` joins both. The leaf/node bookkeeping, and so the
 * `onEvent` trace, follows the reference step by step, so `nncp-hash -debug`
 * output can be reproduced exactly.
 *
 * Longer than 600 lines on purpose: the file and worker-thread drivers
 * (mthOfFile, MthWorker) use the tree's leaf-level entry points, and the
 * worker threads run mth-worker.ts, which calls back into this module
 * (mthWorkerMain).
 */
import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parentPort, Worker } from 'node:worker_threads';
import { errorLine, PigeonError } from '../errors.js';
import { blake3Hasher, type Blake3Hasher256 } from './blake3.js';

export const MTH_BLOCK_SIZE = 128 * 1024;
export const MTH_SIZE = 32;

/**
 * Key of leaf hashes: plain BLAKE3-256 of the ASCII string `NNCP MTH LEAF`
 * (checked against `nncp-hash -debug`, and against @noble/hashes in
 * spec/mth.test.ts). Written out: hashing it when the module loads cost
 * every start some 2 ms (BLAKE3's first run, before it is compiled).
 */
export const MTH_LEAF_KEY: Uint8Array = Uint8Array.from(Buffer.from('e18bccbb41cb5a1110514fe50d85ea750f3d56f6238c12ac84ee2736d1f48b0b', 'hex'));
/** Key of node hashes: BLAKE3-256 of `NNCP MTH NODE`, written out as the leaf key is. */
export const MTH_NODE_KEY: Uint8Array = Uint8Array.from(Buffer.from('daa8f800d826a1c15a23317c4697f283761253e8a05e93074eadf0ed3e2d68a9', 'hex'));

/** One step of the computation: a leaf or promoted node pushed ('Add'), or two merged ('Fold'). */
export interface MthEvent {
  type: 'Add' | 'Fold';
  level: number;
  /** Index of the subtree within its level. */
  counter: number;
  hash: Uint8Array;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** An event as `nncp-hash -debug` prints it: `Add\t000\t000001\t<hex>`. */
export function formatMthEvent(e: MthEvent): string {
  return `${e.type}\t${String(e.level).padStart(3, '0')}\t${String(e.counter).padStart(6, '0')}\t${hex(e.hash)}`;
}

export interface MthOptions {
  /** Total size of the data; with `offset`, enables resuming. 0 or absent: plain streaming. */
  size?: number;
  /** Where the data fed with `update` starts. */
  offset?: number;
  /** Called at every step (debugging, `pigeon hash -debug`). */
  onEvent?: (e: MthEvent) => void;
}

interface Entry {
  level: number;
  counter: number;
  hash: Uint8Array;
}

function checkLength(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`MTH: ${name} must be a non-negative integer, got ${v}`);
}

export class MTH {
  /** How many bytes from the start of the data `preadd` wants (the reference's PreaddSize). */
  readonly prefixSize: number;
  private readonly leafHasher: Blake3Hasher256 = blake3Hasher(MTH_LEAF_KEY);
  private readonly nodeHasher: Blake3Hasher256 = blake3Hasher(MTH_NODE_KEY);
  private readonly onEvent?: (e: MthEvent) => void;
  private stack: Entry[] = [];
  /** Index the next leaf will get. */
  private counter = 0;
  /** Bytes already fed to `leafHasher` for the leaf being built. */
  private leafFill = 0;
  /** Bytes at the start of `update` data that belong to a leaf `preadd` will hash. */
  private toSkip = 0;
  private phase: 'data' | 'prefix' | 'done' = 'data';
  private saved: Entry[] = [];
  private savedCounter = 0;
  private prefixLeft = 0;
  private root?: Uint8Array;

  constructor(opts: MthOptions = {}) {
    const size = opts.size ?? 0;
    const offset = opts.offset ?? 0;
    checkLength('size', size);
    checkLength('offset', offset);
    this.onEvent = opts.onEvent;
    this.prefixSize = 0;
    if (size === 0) return;
    // Leaves that start before `offset` are hashed later from the prefix; the
    // part of a leaf straddling `offset` is skipped here.
    const whole = Math.floor(offset / MTH_BLOCK_SIZE);
    const within = offset - whole * MTH_BLOCK_SIZE;
    const leaves = within === 0 ? whole : whole + 1;
    let skip = within === 0 ? 0 : MTH_BLOCK_SIZE - within;
    if (offset + skip > size) skip = size - offset; // may go negative (offset past end): no skip
    this.counter = leaves;
    this.prefixSize = Math.min(leaves * MTH_BLOCK_SIZE, size);
    this.toSkip = Math.max(skip, 0);
  }

  /** Feed the next bytes of data (from `offset` on, when resuming). Any chunking gives the same result. */
  update(chunk: Uint8Array): this {
    if (this.phase !== 'data') throw new Error(this.phase === 'done' ? 'MTH: update after digest' : 'MTH: update after preadd');
    let off = 0;
    if (this.toSkip > 0) {
      off = Math.min(this.toSkip, chunk.length);
      this.toSkip -= off;
    }
    this.feed(chunk, off);
    return this;
  }

  /**
   * Feed the data from its very start (after all `update` calls), for a
   * resumed hash. Bytes past `prefixSize` are ignored; `digest()` requires
   * the whole prefix.
   */
  preadd(chunk: Uint8Array): this {
    if (this.phase === 'done') throw new Error('MTH: preadd after digest');
    if (this.phase === 'data') this.startPrefix();
    const n = Math.min(chunk.length, this.prefixLeft);
    if (n === 0) return this;
    this.prefixLeft -= n;
    this.feed(n === chunk.length ? chunk : chunk.subarray(0, n), 0);
    return this;
  }

  /**
   * Add a whole leaf hashed elsewhere (keyed BLAKE3-256 of 128 KiB with
   * MTH_LEAF_KEY), as if its bytes had been fed with `update`; only at a leaf
   * boundary of the data.
   */
  addLeafHash(hash: Uint8Array): this {
    if (this.phase !== 'data') throw new Error('MTH: addLeafHash after preadd or digest');
    if (this.leafFill !== 0 || this.toSkip !== 0) throw new Error('MTH: addLeafHash off a leaf boundary');
    this.pushLeaf(hash);
    return this;
  }

  /** Like `addLeafHash`, for a whole leaf of the prefix (see `preadd`). */
  preaddLeafHash(hash: Uint8Array): this {
    if (this.phase === 'done') throw new Error('MTH: preaddLeafHash after digest');
    if (this.phase === 'data') this.startPrefix();
    if (this.leafFill !== 0 || this.prefixLeft < MTH_BLOCK_SIZE) throw new Error('MTH: preaddLeafHash off a leaf boundary of the prefix');
    this.prefixLeft -= MTH_BLOCK_SIZE;
    this.pushLeaf(hash);
    return this;
  }

  /** `preadd` everything an async source yields (stops reading once the prefix is complete). */
  async preaddFrom(source: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.phase === 'data') this.startPrefix();
    if (this.prefixLeft === 0) return;
    for await (const chunk of source) {
      this.preadd(chunk);
      if (this.prefixLeft === 0) break;
    }
  }

  /** The 32-byte root. Idempotent. */
  digest(): Uint8Array {
    if (this.root) return new Uint8Array(this.root);
    if (this.phase === 'data' && this.prefixSize > 0) {
      throw new Error(`MTH: resumed hash needs the first ${this.prefixSize} bytes fed with preadd before digest`);
    }
    if (this.phase === 'prefix') this.endPrefix();
    if (this.leafFill > 0) this.finishLeaf();
    if (this.counter === 0) this.finishLeaf(); // empty input: one leaf of nothing
    if (this.counter === 1) {
      // A lone leaf is paired with itself.
      const dup: Entry = { level: 0, counter: 1, hash: this.stack[0].hash };
      this.counter = 2;
      this.stack.push(dup);
      this.emit('Add', dup);
      this.fold();
    }
    // Promote the right-most subtree to its left neighbour's level, merge, repeat.
    while (this.stack.length >= 2) {
      const left = this.stack[this.stack.length - 2];
      const right = this.stack[this.stack.length - 1];
      right.level = left.level;
      right.counter = left.counter + 1;
      this.emit('Add', right);
      const before = this.stack.length;
      this.fold();
      if (this.stack.length === before) throw new Error('MTH: inconsistent tree (resumed with a wrong size or prefix?)');
    }
    this.root = this.stack[0].hash;
    this.phase = 'done';
    return new Uint8Array(this.root);
  }

  private feed(chunk: Uint8Array, off: number): void {
    const len = chunk.length;
    while (off < len) {
      const n = Math.min(MTH_BLOCK_SIZE - this.leafFill, len - off);
      this.leafHasher.update(off === 0 && n === len ? chunk : chunk.subarray(off, off + n));
      this.leafFill += n;
      off += n;
      if (this.leafFill === MTH_BLOCK_SIZE) this.finishLeaf();
    }
  }

  private finishLeaf(): void {
    const hash = this.leafHasher.digest();
    this.leafHasher.reset();
    this.leafFill = 0;
    this.pushLeaf(hash);
  }

  private pushLeaf(hash: Uint8Array): void {
    if (hash.length !== MTH_SIZE) throw new RangeError(`MTH: leaf hash must be ${MTH_SIZE} bytes, got ${hash.length}`);
    const e: Entry = { level: 0, counter: this.counter++, hash: Uint8Array.from(hash) };
    this.stack.push(e);
    this.emit('Add', e);
    this.fold();
  }

  private fold(): void {
    const s = this.stack;
    while (s.length >= 2) {
      const left = s[s.length - 2];
      const right = s[s.length - 1];
      if (left.counter % 2 === 1 || left.level !== right.level) break;
      this.nodeHasher.update(left.hash);
      this.nodeHasher.update(right.hash);
      left.hash = this.nodeHasher.digest();
      this.nodeHasher.reset();
      left.level++;
      left.counter /= 2;
      s.pop();
      this.emit('Fold', left);
    }
  }

  /** Close the data part: its last partial leaf is final; set its subtrees aside. */
  private startPrefix(): void {
    if (this.leafFill > 0) this.finishLeaf();
    this.saved = this.stack;
    this.savedCounter = this.counter;
    this.stack = [];
    this.counter = 0;
    this.prefixLeft = this.prefixSize;
    this.phase = 'prefix';
  }

  /** Put the data part's subtrees back after the prefix's. */
  private endPrefix(): void {
    if (this.prefixLeft > 0) {
      throw new Error(`MTH: resumed hash is missing ${this.prefixLeft} of the ${this.prefixSize} prefix bytes`);
    }
    for (const e of this.saved) {
      this.stack.push(e);
      this.fold();
    }
    this.saved = [];
    // A partial prefix leaf (data ending inside the prefix) is the last leaf.
    this.counter = this.leafFill > 0 ? this.savedCounter - 1 : this.savedCounter;
  }

  private emit(type: MthEvent['type'], e: Entry): void {
    if (this.onEvent) this.onEvent({ type, level: e.level, counter: e.counter, hash: e.hash.slice() });
  }
}

/**
 * The steps the reference's MTHFat implementation (`nncp-hash -force-fat`)
 * reports for these leaf hashes (in data order; a lone leaf paired with
 * itself, as MTH's own trace has it): every leaf added first, then each
 * level folded whole, left to right, an unpaired last node added to the
 * next level as it is. The root is the same as MTH's.
 */
export function mthFatTrace(leaves: readonly Uint8Array[], onEvent: (e: MthEvent) => void): Uint8Array {
  const node = blake3Hasher(MTH_NODE_KEY);
  let level: Uint8Array[] = leaves.map((h) => Uint8Array.from(h));
  level.forEach((hash, counter) => onEvent({ type: 'Add', level: 0, counter, hash: hash.slice() }));
  for (let depth = 1; level.length > 1; depth++) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      let hash = level[i];
      let type: MthEvent['type'] = 'Add';
      if (i + 1 < level.length) {
        node.update(level[i]);
        node.update(level[i + 1]);
        hash = node.digest();
        node.reset();
        type = 'Fold';
      }
      next.push(hash);
      onEvent({ type, level: depth, counter: i / 2, hash: hash.slice() });
    }
    level = next;
  }
  return level[0];
}

/** Collects the leaves (level-0 additions, by index) of an MTH trace, for mthFatTrace. */
export function leafCollector(): { onEvent: (e: MthEvent) => void; leaves: () => Uint8Array[] } {
  const byIndex: Uint8Array[] = [];
  return {
    onEvent: (e) => {
      if (e.type === 'Add' && e.level === 0) byIndex[e.counter] = e.hash;
    },
    leaves: () => byIndex,
  };
}

/** MTH of everything an async source yields. */
export async function mthOfStream(source: AsyncIterable<Uint8Array>, opts?: { onEvent?: (e: MthEvent) => void }): Promise<Uint8Array> {
  const mth = new MTH({ onEvent: opts?.onEvent });
  for await (const chunk of source) mth.update(chunk);
  return mth.digest();
}

/** Progress of `mthOfFile`: phase 'hash' (from seek to end), then 'prehash' (the prefix). */
export type MthProgress = (phase: 'hash' | 'prehash', done: number, total: number) => void;

export interface MthFileOptions {
  /** Like `nncp-hash -seek`: hash from here to the end, then the leaves before it. */
  seek?: number;
  onEvent?: (e: MthEvent) => void;
  onProgress?: MthProgress;
  /**
   * Worker threads hashing whole leaves in parallel (the main thread only
   * assembles the tree and stays free). 0 hashes on this thread. Default:
   * up to 2 for files of WORKERS_FROM_BYTES or more, else 0. Given, they
   * take over from PARALLEL_MIN_BYTES of whole leaves.
   */
  workers?: number;
}

const STRIPE_LEAVES = 32; // one worker job: 32 leaves, 4 MiB
const PARALLEL_MIN_BYTES = 16 << 20;
/**
 * Below this, starting workers costs more than they save: with the native
 * BLAKE3, 256 MiB hashes in 70-100 ms on this thread and in 110-120 ms with
 * two workers; 1 GiB in 280-340 ms against 255-270 ms (2 cores).
 */
const WORKERS_FROM_BYTES = 512 << 20;
const WORKER_TAG = 'pigeonMthWorker'; // workerData[WORKER_TAG]: 'leaves' | 'stream'
/** The worker threads' entry (a separate module, so importing this one does not load node:worker_threads's state at start-up). */
const WORKER_URL = new URL('./mth-worker.js', import.meta.url);

function shortRead(pos: number): PigeonError {
  return new PigeonError('EIO', `file ended early at byte ${pos} while hashing it (changed under us?); hash it again`);
}

function readFullSync(fd: number, buf: Uint8Array, pos: number): void {
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, pos + got);
    if (n === 0) throw shortRead(pos + got);
    got += n;
  }
}

/**
 * Keyed leaf hashes of `count` whole leaves starting at byte `pos`, on this
 * thread. One leaf per positioned synchronous read: the copy lands in cache
 * right before it is hashed, which measured twice as fast here as async reads
 * (whose copy happens on another core). Yields to the event loop every 8 MiB.
 */
async function leavesHere(fd: number, pos: number, count: number, onLeaf: (h: Uint8Array) => void): Promise<void> {
  const buf = Buffer.allocUnsafe(MTH_BLOCK_SIZE);
  const hasher = blake3Hasher(MTH_LEAF_KEY);
  for (let i = 0; i < count; i++) {
    if (i > 0 && i % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    readFullSync(fd, buf, pos + i * MTH_BLOCK_SIZE);
    hasher.update(buf);
    onLeaf(hasher.digest());
    hasher.reset();
  }
}

interface LeafJob { stripe: number; pos: number; count: number }
type LeafReply = { stripe: number; hashes: Uint8Array } | { error: string };

/**
 * Keyed leaf hashes of `count` whole leaves starting at byte `pos`, computed
 * by `n` workers reading the same descriptor with positioned reads, handed
 * to `onLeaf` in order.
 */
function leavesInWorkers(fd: number, n: number, pos: number, count: number, onLeaf: (h: Uint8Array) => void): Promise<void> {
  const stripes = Math.ceil(count / STRIPE_LEAVES);
  if (stripes === 0) return Promise.resolve();
  const window = 8 * n; // stripes allowed ahead of the one awaited
  const ready = new Map<number, Uint8Array>();
  const workers: Worker[] = [];
  const idle: Worker[] = [];
  let next = 0;
  let wanted = 0;
  let settled = false;
  return new Promise<void>((resolve, reject) => {
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      // Let every worker stop before the caller closes the descriptor.
      void Promise.all(workers.map((w) => w.terminate())).then(() => (err === undefined ? resolve() : reject(err)));
    };
    const dispatch = (w: Worker): void => {
      if (next >= stripes || next - wanted >= window) {
        idle.push(w);
        return;
      }
      const first = next * STRIPE_LEAVES;
      const job: LeafJob = { stripe: next++, pos: pos + first * MTH_BLOCK_SIZE, count: Math.min(STRIPE_LEAVES, count - first) };
      w.postMessage(job);
    };
    const deliver = (): void => {
      for (let hs = ready.get(wanted); hs; hs = ready.get(wanted)) {
        ready.delete(wanted++);
        for (let o = 0; o < hs.length; o += MTH_SIZE) onLeaf(hs.subarray(o, o + MTH_SIZE));
      }
      while (idle.length > 0 && next < stripes && next - wanted < window) dispatch(idle.pop()!);
      if (wanted === stripes) finish();
    };
    for (let i = 0; i < n; i++) {
      const w = new Worker(WORKER_URL, { workerData: { [WORKER_TAG]: 'leaves', fd } });
      workers.push(w);
      w.on('message', (m: LeafReply) => {
        if (settled) return;
        if ('error' in m) return finish(new PigeonError('EIO', m.error));
        ready.set(m.stripe, m.hashes);
        try {
          dispatch(w);
          deliver();
        } catch (err) {
          finish(err);
        }
      });
      w.on('error', (err) => finish(err));
      w.on('exit', (code) => finish(new Error(`MTH worker stopped (exit code ${code})`)));
      dispatch(w);
      dispatch(w); // two jobs queued per worker, so it never waits for us
    }
  });
}

/** Worker side of `leavesInWorkers`. */
function leafWorker(fd: number): void {
  const port = parentPort!;
  const buf = Buffer.allocUnsafe(MTH_BLOCK_SIZE); // one leaf: stays in cache between read and hash
  const hasher = blake3Hasher(MTH_LEAF_KEY);
  port.on('message', (job: LeafJob) => {
    try {
      const hashes = new Uint8Array(job.count * MTH_SIZE);
      for (let i = 0; i < job.count; i++) {
        readFullSync(fd, buf, job.pos + i * MTH_BLOCK_SIZE);
        hasher.update(buf);
        hashes.set(hasher.digest(), i * MTH_SIZE);
        hasher.reset();
      }
      port.postMessage({ stripe: job.stripe, hashes } satisfies LeafReply, [hashes.buffer]);
    } catch (err) {
      port.postMessage({ error: errorLine(err) } satisfies LeafReply);
    }
  });
}

/**
 * MTH of a file, like `nncp-hash -file PATH [-seek N]`: with `seek`, hash from
 * N to the end first, then the leaves before N from the start of the file
 * (same result, same `onEvent` trace as the reference). Reads `size` bytes as
 * stat'ed when opened.
 */
export async function mthOfFile(path: string, opts: MthFileOptions = {}): Promise<Uint8Array> {
  checkLength('seek', opts.seek ?? 0);
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    return await mthOfFd(fh.fd, size, opts);
  } finally {
    await fh.close();
  }
}

/**
 * MTH of the first `size` bytes of the file open as `fd` (mthOfFile's
 * work, for a caller that holds the file open: it hashes exactly the file
 * it has checked, whatever its name meanwhile names). `fd` must stay open
 * until this resolves.
 */
export async function mthOfFd(fd: number, size: number, opts: MthFileOptions = {}): Promise<Uint8Array> {
  const seek = opts.seek ?? 0;
  checkLength('seek', seek);
  const mth = new MTH({ size, offset: seek, onEvent: opts.onEvent });
  const workers = Math.max(0, Math.floor(opts.workers ?? (size >= WORKERS_FROM_BYTES ? Math.min(2, availableParallelism()) : 0)));
  const report = opts.onProgress;

  // Bytes [from, to) as one piece (at most a leaf) to `sink`.
  const piece = (from: number, to: number, sink: (b: Uint8Array) => void): void => {
    if (to <= from) return;
    const b = Buffer.allocUnsafe(to - from);
    readFullSync(fd, b, from);
    sink(b);
  };
  // Whole leaves [from, from + count * leaf) as hashes to `add`.
  const leaves = async (from: number, count: number, add: (h: Uint8Array) => void, tick: (n: number) => void): Promise<void> => {
    const onLeaf = (h: Uint8Array): void => {
      add(h);
      tick(MTH_BLOCK_SIZE);
    };
    if (workers > 0 && count * MTH_BLOCK_SIZE >= PARALLEL_MIN_BYTES) await leavesInWorkers(fd, workers, from, count, onLeaf);
    else await leavesHere(fd, from, count, onLeaf);
  };
  const counter = (phase: 'hash' | 'prehash', total: number) => {
    let done = 0;
    return (n: number): void => {
      done += n;
      report?.(phase, done, total);
    };
  };

  // The data from `seek` on: the rest of the leaf `seek` falls in (skipped
  // by MTH, hashed with the prefix), whole leaves, then the partial last one.
  if (seek < size) {
    const tick = counter('hash', size - seek);
    const boundary = Math.min(Math.ceil(seek / MTH_BLOCK_SIZE) * MTH_BLOCK_SIZE, size);
    const whole = Math.floor((size - boundary) / MTH_BLOCK_SIZE);
    const tail = boundary + whole * MTH_BLOCK_SIZE;
    piece(seek, boundary, (b) => { mth.update(b); tick(b.length); });
    await leaves(boundary, whole, (h) => mth.addLeafHash(h), tick);
    piece(tail, size, (b) => { mth.update(b); tick(b.length); });
  }
  // The leaves before `seek`, read from the start.
  if (seek !== 0 && mth.prefixSize > 0) {
    const tick = counter('prehash', mth.prefixSize);
    const whole = Math.floor(mth.prefixSize / MTH_BLOCK_SIZE);
    await leaves(0, whole, (h) => mth.preaddLeafHash(h), tick);
    piece(whole * MTH_BLOCK_SIZE, mth.prefixSize, (b) => { mth.preadd(b); tick(b.length); });
  }
  return mth.digest();
}

const STAGE_SIZE = 1 << 20;

type StreamMsg = { op: 'update' | 'preadd'; data: Uint8Array<ArrayBuffer> } | { op: 'digest' };
type StreamReply = { ack: number; spent?: Uint8Array<ArrayBuffer> } | { root: Uint8Array } | { error: string };

/**
 * An MTH computed on a worker thread, so that a producer on this thread (the
 * encryptor: ChaCha20-Poly1305 blocks) and the hashing use both cores. Each
 * chunk is copied once into a 1 MiB staging buffer that is handed over when
 * full (or at `digest`); `update` resolves at once unless more than
 * `maxInFlight` bytes (default 8 MiB) wait in the worker, which bounds memory
 * when the producer is faster. Same results as `MTH`. Call `digest` or
 * `close`: a live worker keeps the process running.
 */
export class MthWorker {
  private readonly worker: Worker;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private waiters: Array<() => void> = [];
  private failure?: Error;
  private rootWaiter?: { resolve: (h: Uint8Array) => void; reject: (e: Error) => void };
  private closed = false;
  private stage: Uint8Array<ArrayBuffer> = new Uint8Array(STAGE_SIZE);
  private spare: Array<Uint8Array<ArrayBuffer>> = [];
  private stageLen = 0;
  private stageOp: 'update' | 'preadd' = 'update';

  constructor(opts: { size?: number; offset?: number; maxInFlight?: number } = {}) {
    checkLength('size', opts.size ?? 0);
    checkLength('offset', opts.offset ?? 0);
    this.maxInFlight = opts.maxInFlight ?? 8 << 20;
    this.worker = new Worker(WORKER_URL, {
      workerData: { [WORKER_TAG]: 'stream', size: opts.size ?? 0, offset: opts.offset ?? 0 },
    });
    this.worker.on('message', (m: StreamReply) => {
      if ('ack' in m) {
        this.inFlight -= m.ack;
        if (m.spent && this.spare.length < 4) this.spare.push(m.spent);
        this.wake();
      } else if ('root' in m) {
        this.rootWaiter?.resolve(m.root);
        void this.close();
      } else {
        this.fail(new Error(m.error));
      }
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => { if (!this.closed) this.fail(new Error(`MTH worker stopped (exit code ${code})`)); });
  }

  /** Like `MTH.update`; await it to respect the in-flight limit. */
  update(chunk: Uint8Array): Promise<void> {
    return this.send('update', chunk);
  }

  /** Like `MTH.preadd`. */
  preadd(chunk: Uint8Array): Promise<void> {
    return this.send('preadd', chunk);
  }

  /** The root; the worker ends afterwards. */
  digest(): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('MTH worker: digest after close'));
    this.flush();
    return new Promise<Uint8Array>((resolve, reject) => {
      this.rootWaiter = { resolve, reject };
      this.worker.postMessage({ op: 'digest' } satisfies StreamMsg);
    });
  }

  /** Stop the worker without a result. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }

  private async send(op: 'update' | 'preadd', chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error(`MTH worker: ${op} after digest or close`);
    if (op !== this.stageOp) this.flush();
    this.stageOp = op;
    // Copy into the staging buffer; hand it over whenever it fills up.
    for (let off = 0; off < chunk.length; ) {
      const n = Math.min(chunk.length - off, this.stage.length - this.stageLen);
      this.stage.set(n === chunk.length ? chunk : chunk.subarray(off, off + n), this.stageLen);
      this.stageLen += n;
      off += n;
      if (this.stageLen === this.stage.length) this.flush();
    }
    while (this.inFlight > this.maxInFlight && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure;
  }

  /** Move the staged bytes to the worker (one message per MiB, not per chunk: messages cost ~40 µs). */
  private flush(): void {
    if (this.stageLen === 0) return;
    const data = this.stageLen === this.stage.length ? this.stage : this.stage.slice(0, this.stageLen);
    this.inFlight += data.length;
    this.worker.postMessage({ op: this.stageOp, data } satisfies StreamMsg, [data.buffer]);
    if (data === this.stage) this.stage = this.spare.pop() ?? new Uint8Array(STAGE_SIZE);
    this.stageLen = 0;
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.wake();
    this.rootWaiter?.reject(err);
    void this.close();
  }
}

/** Worker side of `MthWorker`. */
function streamWorker(size: number, offset: number): void {
  const port = parentPort!;
  const mth = new MTH({ size, offset });
  port.on('message', (m: StreamMsg) => {
    try {
      if (m.op === 'digest') {
        const root = mth.digest();
        port.postMessage({ root } satisfies StreamReply);
        return;
      }
      if (m.op === 'update') mth.update(m.data);
      else mth.preadd(m.data);
      // Full staging buffers go back for reuse (no fresh 1 MiB allocation per message).
      if (m.data.length === STAGE_SIZE) port.postMessage({ ack: m.data.length, spent: m.data } satisfies StreamReply, [m.data.buffer]);
      else port.postMessage({ ack: m.data.length } satisfies StreamReply);
    } catch (err) {
      port.postMessage({ error: errorLine(err) } satisfies StreamReply);
    }
  });
}

/** A worker thread's start (mth-worker.ts): serve the job its workerData names. */
export function mthWorkerMain(workerData: unknown): void {
  if (workerData === null || typeof workerData !== 'object') return;
  const wd = workerData as Record<string, unknown>;
  if (wd[WORKER_TAG] === 'leaves') leafWorker(wd.fd as number);
  else if (wd[WORKER_TAG] === 'stream') streamWorker(wd.size as number, wd.offset as number);
}
