/**
 * Event-driven watching for `xfer -watch` and `toss -watch`: a directory
 * tree watched through chokidar (inotify on Linux: no polling, nothing to do
 * while nothing happens), and a queue that runs the work those events call
 * for one job at a time.
 *
 * TreeWatch follows a directory that may come and go (a stick unplugged, a
 * synced folder removed and recreated): while it exists, its tree is
 * watched down to `depth`, with `keep` deciding which paths matter (the
 * rest is not even watched); when it disappears, the nearest existing
 * ancestor is watched, one level deep, until the next component of the path
 * appears, and then the directory again — its files then arrive as `add`
 * events, like the ones present at the start.
 *
 * JobQueue runs keyed jobs serially: a job scheduled again while it waits
 * runs once; one scheduled while it runs runs again afterwards; a delay
 * debounces (each new schedule restarts it); a job may ask to be run again
 * after some milliseconds (a busy lock, a file still being written).
 */
import fs, { promises as fsp } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export type TreeEvent = 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';

/** When a new directory is looked into again (ms after chokidar reported it). */
const RESCAN_MS = [250, 2000];

export interface TreeWatchOptions {
  /** The directory to watch (made absolute). */
  root: string;
  /** Levels of sub-directories below root to watch (0: root's entries only). */
  depth: number;
  /** Whether a path (its components below root) matters; others are neither watched nor reported. */
  keep: (parts: readonly string[]) => boolean;
  /** Report existing entries as `add`/`addDir` when the root is (re)armed (default: only what happens afterwards). */
  initial?: boolean;
  onEvent: (event: TreeEvent, parts: readonly string[], abs: string) => void;
  /** The root is watched (after the initial events, if any). */
  onReady: () => void;
  /** The root went away; it is awaited now. */
  onGone: () => void;
  onError: (err: unknown) => void;
}

export class TreeWatch {
  readonly root: string;
  private w: FSWatcher | null = null;
  /** The root's own inotify watch: its removal, which chokidar misses while it reads new sub-directories. */
  private guard: fs.FSWatcher | null = null;
  private closed = false;
  /** Bumped on each (re)arming: events of an older watcher are dropped. */
  private gen = 0;
  private present = false;

  constructor(private readonly opts: TreeWatchOptions) {
    this.root = path.resolve(opts.root);
    this.real = this.root;
  }

  /** Whether the root is there and watched. */
  get watching(): boolean {
    return this.present;
  }

  /** Start watching: resolves once the root (after its initial events) or its nearest ancestor is watched. */
  async start(): Promise<void> {
    const armed = new Promise<void>((resolve) => (this.armed = resolve));
    await this.arm();
    await armed;
  }

  private armed: (() => void) | null = null;

  private settled(): void {
    this.armed?.();
    this.armed = null;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.settled();
    this.gen++;
    const w = this.w;
    this.w = null;
    this.guard?.close();
    this.guard = null;
    await w?.close();
  }

  /** The root with symbolic links resolved (a root that is a link is followed; links below it are not). */
  private real: string;

  private parts(abs: string): string[] {
    const rel = path.relative(this.real, abs);
    return rel === '' ? [] : rel.split(path.sep);
  }

  private async arm(): Promise<void> {
    if (this.closed) return;
    const gen = ++this.gen;
    const old = this.w;
    this.w = null;
    this.guard?.close();
    this.guard = null;
    await old?.close();
    if (this.closed || gen !== this.gen) return;
    if (await isDir(this.root)) {
      this.real = await fsp.realpath(this.root).catch(() => this.root);
      if (gen === this.gen && !this.closed) this.watchRoot(gen);
    } else await this.awaitRoot(gen);
  }

  private rearm(gen: number): void {
    if (gen !== this.gen || this.closed) return;
    this.arm().catch((err) => this.opts.onError(err));
  }

  private watchRoot(gen: number): void {
    const { depth, keep, initial, onEvent, onReady, onGone, onError } = this.opts;
    const real = this.real;
    const w = watch(real, {
      depth,
      ignoreInitial: !initial,
      followSymlinks: false,
      atomic: false,
      persistent: true,
      ignored: (p: string) => {
        const parts = this.parts(p);
        return parts.length > 0 && (parts[0] === '..' || !keep(parts));
      },
    });
    this.w = w;
    const gone = (): void => {
      if (gen !== this.gen) return;
      this.present = false;
      onGone();
      this.rearm(gen);
    };
    /** Is the root still there? Asked on every change of its own entries, and on errors. */
    const check = (): void => {
      isDir(this.root).then((there) => {
        if (!there) gone();
      }, onError);
    };
    this.guardDir(real, check);
    w.on('all', (event, p) => {
      if (gen !== this.gen) return;
      if (p === real) {
        if (event === 'unlinkDir') gone();
        return;
      }
      const parts = this.parts(p);
      onEvent(event as TreeEvent, parts, path.join(this.root, ...parts));
      if (event === 'addDir') for (const ms of RESCAN_MS) setTimeout(() => this.rescan(gen, w, p), ms).unref();
    });
    w.on('error', (err) => {
      if (gen !== this.gen) return;
      onError(err);
      check();
    });
    w.on('ready', () => {
      if (gen !== this.gen) return;
      // It may have gone between the check and the watch.
      isDir(this.root).then((there) => {
        if (gen !== this.gen) return;
        if (!there) return this.rearm(gen);
        this.present = true;
        onReady();
        this.settled();
      }, onError);
    });
  }

  /**
   * Look again into a directory that just appeared: what was placed in it
   * between chokidar's listing and its watch being in place (a rename right
   * after a mkdir, as synchronisers do) is reported as added, and a
   * sub-directory it missed is watched. Entries chokidar knows are left to it.
   */
  private rescan(gen: number, w: FSWatcher, dir: string): void {
    if (gen !== this.gen) return;
    const known = new Set(w.getWatched()[dir] ?? []);
    fsp.readdir(dir, { withFileTypes: true }).then(
      (ents) => {
        for (const e of ents) {
          if (gen !== this.gen) return;
          if (known.has(e.name)) continue;
          const p = path.join(dir, e.name);
          const parts = this.parts(p);
          if (!this.opts.keep(parts)) continue;
          if (e.isDirectory()) {
            if (parts.length <= this.opts.depth) w.add(p);
          } else if (e.isFile()) this.opts.onEvent('add', parts, path.join(this.root, ...parts));
        }
      },
      () => {}, // gone meanwhile: its removal is reported
    );
  }

  /**
   * A plain inotify watch of `dir` itself (the guard): `onChange` on every
   * change of its entries, on its removal and on the watch's errors; once,
   * soon, when the watch cannot be set up (`dir` gone already).
   */
  private guardDir(dir: string, onChange: () => void): void {
    try {
      this.guard = fs.watch(dir, { persistent: false }, onChange);
      this.guard.on('error', onChange);
    } catch {
      queueMicrotask(onChange);
    }
  }

  /** Watch the nearest existing ancestor until the next component towards the root appears. */
  private async awaitRoot(gen: number): Promise<void> {
    let next = this.root;
    let anc = path.dirname(next);
    while (!(await isDir(anc)) && anc !== path.dirname(anc)) {
      next = anc;
      anc = path.dirname(anc);
    }
    if (gen !== this.gen || this.closed) return;
    const w = watch(anc, {
      depth: 0,
      ignoreInitial: true,
      followSymlinks: false,
      atomic: false,
      persistent: true,
      ignored: (p: string) => p !== anc && p !== next,
    });
    this.w = w;
    w.on('all', (event, p) => {
      if (gen !== this.gen) return;
      if (p === next || (p === anc && event === 'unlinkDir')) this.rearm(gen);
    });
    w.on('error', (err) => {
      if (gen === this.gen) this.opts.onError(err);
    });
    /**
     * Has `next` appeared, or `anc` gone too (a removal still in progress
     * when `anc` was chosen, which chokidar may never report)? Then look
     * again from the root. With `settle`, say otherwise that we are waiting.
     */
    const recheck = (settle: boolean): void => {
      Promise.all([isDir(anc), isDir(next)]).then(([ancThere, nextThere]) => {
        if (gen !== this.gen) return;
        if (!ancThere || nextThere) this.rearm(gen);
        else if (settle) this.settled();
      }, this.opts.onError);
    };
    // The ancestor's own inotify watch, as the root's: any change of its entries, or its removal.
    this.guardDir(anc, () => recheck(false));
    // What appeared (or went) before the watch was in place.
    w.on('ready', () => recheck(true));
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** A job's answer: nothing more, or run it again after this many milliseconds. */
export type JobResult = void | number;

interface Slot {
  fn: () => Promise<JobResult>;
  timer?: NodeJS.Timeout;
  queued: boolean;
  running: boolean;
  again: boolean;
}

export class JobQueue {
  private readonly slots = new Map<string, Slot>();
  private readonly fifo: string[] = [];
  private busy: Promise<void> | null = null;
  private stopped = false;

  /** `onError`: a job threw (the queue goes on). */
  constructor(private readonly onError: (key: string, err: unknown) => void) {}

  /** Run `fn` under `key` (after `delayMs` of quiet, if given); the latest fn of a key is the one run. */
  schedule(key: string, fn: () => Promise<JobResult>, delayMs = 0): void {
    if (this.stopped) return;
    let s = this.slots.get(key);
    if (!s) {
      s = { fn, queued: false, running: false, again: false };
      this.slots.set(key, s);
    }
    s.fn = fn;
    if (s.queued) return;
    if (s.running) {
      s.again = true;
      return;
    }
    clearTimeout(s.timer);
    s.timer = undefined;
    if (delayMs > 0) {
      s.timer = setTimeout(() => {
        s.timer = undefined;
        this.enqueue(key, s);
      }, delayMs);
    } else this.enqueue(key, s);
  }

  /** Forget a key's pending run (one running finishes). */
  cancel(key: string): void {
    const s = this.slots.get(key);
    if (!s) return;
    clearTimeout(s.timer);
    s.again = false;
    if (s.queued) {
      s.queued = false;
      this.fifo.splice(this.fifo.indexOf(key), 1);
    }
    if (!s.running) this.slots.delete(key);
  }

  /** Whether a key has a run pending or in progress. */
  has(key: string): boolean {
    return this.slots.has(key);
  }

  /** Start nothing more; resolves when the job in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.slots.values()) clearTimeout(s.timer);
    this.fifo.length = 0;
    await this.busy;
  }

  private enqueue(key: string, s: Slot): void {
    if (this.stopped) return;
    s.queued = true;
    this.fifo.push(key);
    this.kick();
  }

  private kick(): void {
    if (this.busy || this.stopped) return;
    this.busy = this.drain().finally(() => {
      this.busy = null;
      if (this.fifo.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    for (let key = this.fifo.shift(); key !== undefined && !this.stopped; key = this.fifo.shift()) {
      const s = this.slots.get(key)!;
      s.queued = false;
      s.running = true;
      let retry: JobResult = undefined;
      try {
        retry = await s.fn();
      } catch (err) {
        this.onError(key, err);
      }
      s.running = false;
      if (this.stopped) break;
      if (s.again) {
        s.again = false;
        this.enqueue(key, s);
      } else if (typeof retry === 'number') {
        this.schedule(key, s.fn, retry);
      } else if (!s.timer && !s.queued) this.slots.delete(key);
    }
  }
}
