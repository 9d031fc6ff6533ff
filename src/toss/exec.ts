/**
 * exec and exec-fat packets: run a handle from the sender's `exec`
 * allowlist with the packet's arguments appended, the body on its stdin
 * (zstd-decompressed on the fly for `exec`, as is for `exec-fat`).
 *
 * As in the reference, the handle's environment holds exactly NNCP_SELF,
 * NNCP_SENDER and NNCP_NICE (the plain header's niceness, i.e. the sender's
 * -replynice), its stdout and stderr are collected together and logged
 * (as Output) only when it fails, and a handle named without a slash is
 * looked up in our own $PATH.
 *
 * The body is written to the handle with backpressure (a slow reader slows
 * the decryption, nothing piles up in memory). If the packet turns out to
 * be corrupt or truncated, the handle never sees the end of its input: it
 * runs in a process group of its own, and the whole group is killed
 * (SIGKILL) before its stdin is closed, so that neither the handle nor a
 * command it started (`cat > file` in a shell) takes the authentic prefix
 * for the whole; the packet is quarantined (toss.ts). A handle that exits
 * 0 without reading all of its stdin succeeds only once the rest of the
 * packet has been read and verified.
 *
 * The handle's output is mailed when notify.exec asks for it (toss/notify.ts).
 *
 * Exactly once, except for a kill while the handle runs: the delivery
 * record says "started" before the handle is started and "done" once it
 * succeeded. A toss that finds "started" runs the handle again with
 * PIGEON_RETRY=1 in its environment: it may have run before (README: Crash
 * consistency).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants as FS, write as fsWrite } from 'node:fs';
import { Socket } from 'node:net';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { errorLine, PacketError } from '../errors.js';
import { iBytes } from '../format.js';
import { PktType } from '../packet/header.js';
import { zstd } from '../tx/exec.js';
import { checkAbort, drain, noteDelivery, TossAborted, TossFailure, tossingPrefix, withFields, type Outcome, type Tossing } from './common.js';
import { killpoint } from '../killpoint.js';
import { nativeModule } from '../native.js';
import { notifyHandled } from './notify.js';

/** How to remove a packet that will never toss, or toss it again after a fix. */
function retryOrRemove(t: Tossing): string {
  return `then run pigeon toss again; or remove the packet: echo ${t.pktName} | pigeon rm -node ${t.origin.name} -pkt`;
}

/** For an exec packet naming a handle the sender may not use: the handles it may use, and what to do. */
function noHandleHint(t: Tossing, handle: string): string {
  const known = [...t.origin.exec.keys()];
  const has = known.length > 0 ? `${t.origin.name} may use: ${known.join(', ')}` : `${t.origin.name} has no exec handles`;
  return `${has}; to accept it, add ${JSON.stringify(handle)} to neigh.${t.origin.name}.exec in ${t.ctx.cfg.path}, ${retryOrRemove(t)}`;
}

/** For a handle that could not be started: its program missing or not executable. */
function handleErrorHint(t: Tossing, handle: string, cmdline: readonly string[], code: string | undefined): string | undefined {
  const where = `neigh.${t.origin.name}.exec.${handle} in ${t.ctx.cfg.path}`;
  if (code === 'ENOENT') return `${cmdline[0]} not found: install it or fix ${where}, ${retryOrRemove(t)}`;
  if (code === 'EACCES') return `${cmdline[0]} is not executable by this user: chmod +x it or fix ${where}, ${retryOrRemove(t)}`;
  return undefined;
}

/** Set (to "1") in the environment of a handle that may have run before for the same packet. */
export const RETRY_ENV = 'PIGEON_RETRY';

/** How much of a failing handle's output goes into the log. */
const OUTPUT_LIMIT = 64 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Handle and arguments of an exec path: NUL-separated, handle first. */
function splitExecPath(raw: Uint8Array): string[] {
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i <= raw.length; i++) {
    if (i === raw.length || raw[i] === 0) {
      parts.push(utf8.decode(raw.subarray(start, i)));
      start = i + 1;
    }
  }
  return parts;
}

export async function tossExec(t: Tossing): Promise<Outcome> {
  const { ctx, opts, origin, plain } = t;
  let parts: string[];
  let badText = false;
  try {
    parts = splitExecPath(plain.path);
  } catch {
    parts = new TextDecoder().decode(plain.path).split('\0');
    badText = true;
  }
  const [handle, ...args] = parts;
  const dst = parts.join(' ');
  const fields = withFields(t.fields, ['Type', 'exec'], ['Dst', dst]);
  const prefix = `${tossingPrefix(t, 'exec')}: ${dst}`;
  const cmdline = origin.exec.get(handle);
  if (!cmdline || cmdline.length === 0) throw new TossFailure('rx-no-handle', fields, 'No handle found', prefix, noHandleHint(t, handle));
  if (badText) throw new TossFailure('rx-handle', fields, 'handle arguments are not valid UTF-8', `${prefix}: handling`);

  if (opts.dryRun) {
    try {
      await drain(t.body, opts.signal);
    } catch (err) {
      throw new TossFailure('rx-handle', fields, err, `${prefix}: handling`);
    }
  } else {
    const stdin = plain.type === PktType.Exec ? zstdDecompress(t.body) : t.body;
    const env: NodeJS.ProcessEnv = {
      NNCP_SELF: ctx.cfg.self!.idB32,
      NNCP_SENDER: origin.idB32,
      NNCP_NICE: String(plain.nice),
    };
    const rec = t.delivery?.record;
    if (rec?.kind === 'exec' && rec.state === 'started') env[RETRY_ENV] = '1';
    else {
      try {
        await noteDelivery(t, { kind: 'exec', state: 'started' });
      } catch (err) {
        throw new TossFailure('rx-record', fields, err, `${prefix}: recording the delivery`);
      }
    }
    killpoint('toss-exec-started');
    const r = await runHandle([...cmdline, ...args], env, stdin, opts.signal);
    killpoint('toss-exec-returned');
    if (r.error !== undefined) {
      if (r.killed) ctx.log.debug('rx-handle-killed', fields, `${prefix}: handle killed before the end of its input: ${errorLine(r.error)}`);
      throw new TossFailure('rx-handle', withFields(fields, ['Output', outputLines(r.output)]), r.error, `${prefix}: handling`, handleErrorHint(t, handle, cmdline, r.spawnCode));
    }
    await notifyHandled(t, { kind: 'exec', handle, subject: `Exec from ${origin.name}: ${dst}`, body: r.output, fields, prefix });
  }
  ctx.log.info('rx', fields, `Got exec from ${origin.name} to ${dst} (${iBytes(t.size)})`);
  return 'done';
}

/** The output as the reference logs it: newlines trimmed at both ends, one entry per line. */
function outputLines(out: Buffer): string[] {
  return out.toString('utf8').replace(/^\n+|\n+$/g, '').split('\n');
}

export interface HandleResult {
  /** Undefined on success; else the reason, worded like Go's exec errors ("exit status 3"). */
  error?: unknown;
  /** Combined stdout and stderr (at most OUTPUT_LIMIT bytes); empty when the handle never ran. */
  output: Buffer;
  /** The input failed (or the toss was stopped): the handle's process group was killed instead of seeing the end of it. */
  killed?: boolean;
  /** Why the handle could not be started (ENOENT, EACCES, ...). */
  spawnCode?: string;
}

/** Go's LookPath: a name without a slash is searched in our $PATH. */
function lookPath(file: string): string | null {
  if (file.includes('/')) return file;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir === '' ? '.' : dir, file);
    try {
      accessSync(p, FS.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

const SIGNAL_TEXT: Record<string, string> = {
  SIGKILL: 'killed',
  SIGTERM: 'terminated',
  SIGINT: 'interrupt',
  SIGHUP: 'hangup',
  SIGPIPE: 'broken pipe',
  SIGSEGV: 'segmentation fault',
  SIGABRT: 'aborted',
  SIGBUS: 'bus error',
  SIGFPE: 'floating point exception',
  SIGQUIT: 'quit',
};

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  ENOEXEC: 'exec format error',
  ENOTDIR: 'not a directory',
  E2BIG: 'argument list too long',
};

/** SIGKILL the process group a handle leads (its own: spawned detached), or the handle alone if that fails. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/**
 * Run argv with exactly `env`, feed `stdin` with backpressure, collect the
 * combined output. A failure of `stdin` (corrupt packet) kills the child's
 * process group before its stdin is closed: it never sees an end of input.
 */
export async function runHandle(argv: string[], env: NodeJS.ProcessEnv, stdin: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<HandleResult> {
  const file = lookPath(argv[0]);
  if (file === null) return { error: `exec: "${argv[0]}": executable file not found in $PATH`, output: Buffer.alloc(0), spawnCode: 'ENOENT' };
  const own = ownPipe();
  let child: ChildProcess;
  try {
    // detached: a process group of its own, which killGroup ends whole (no terminal signal reaches it; the toss's own handling does).
    child = spawn(file, argv.slice(1), { env, stdio: [own ? own[0] : 'pipe', 'pipe', 'pipe'], argv0: argv[0], detached: true });
  } catch (err) {
    if (own) closeSync(own[1]);
    throw err;
  } finally {
    if (own) closeSync(own[0]); // the child has its copy
  }
  const chunks: Buffer[] = [];
  let kept = 0;
  const collect = (b: Buffer) => {
    if (kept >= OUTPUT_LIMIT) return;
    const part = b.length > OUTPUT_LIMIT - kept ? b.subarray(0, OUTPUT_LIMIT - kept) : b;
    chunks.push(part);
    kept += part.length;
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let spawnError: NodeJS.ErrnoException | null = null;
  const finished = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      spawnError = err as NodeJS.ErrnoException;
      if (child.pid === undefined) resolve({ code: null, sig: null });
    });
    child.once('close', (code, sig) => resolve({ code, sig }));
  });
  const input = own ? fdFeed(own[1]) : streamFeed(child.stdin!);

  // Asked to stop: the handle goes (a handle that does not read would otherwise hold us forever).
  const onAbort = () => killGroup(child);
  signal?.addEventListener('abort', onAbort, { once: true });
  let feedError: unknown;
  try {
    for await (const chunk of stdin) {
      checkAbort(signal);
      if (input.gone() || spawnError) continue; // keep reading: the rest must still verify
      // Wait until the kernel has the chunk: the source may then reuse its buffer, and a
      // handle that reads slowly holds the decryption back instead of filling our memory.
      await input.write(chunk);
    }
    input.end();
  } catch (err) {
    feedError = err;
    killGroup(child);
    input.destroy();
  }
  const { code, sig } = await finished;
  signal?.removeEventListener('abort', onAbort);
  if (signal?.aborted && feedError === undefined) feedError = new TossAborted();
  const output = Buffer.concat(chunks);
  if (spawnError !== null && child.pid === undefined) {
    const e = spawnError as NodeJS.ErrnoException;
    return { error: `fork/exec ${file}: ${ERRNO_TEXT[e.code ?? ''] ?? errorLine(e)}`, output, spawnCode: e.code };
  }
  if (feedError !== undefined) return { error: feedError, output, killed: true };
  if (sig) return { error: `signal: ${SIGNAL_TEXT[sig] ?? sig}`, output };
  if (code !== 0) return { error: `exit status ${code}`, output };
  return { output };
}

/** Capacity asked for the addon's stdin pipe: Linux's default ceiling for unprivileged users (/proc/sys/fs/pipe-max-size). */
const PIPE_SIZE = 1 << 20;

/**
 * A pipe for the handle's stdin from the addon, or null (no addon: Node's
 * own pipe is used). Node writes its pipe from the main thread, which then
 * spends its time copying the body into the kernel (some 0.12 s of 0.6 for
 * a 256 MiB exec packet); this one is written on the thread pool while the
 * main thread decompresses the next piece (fdFeed), and 1 MiB of capacity
 * wakes the handle a sixteenth as often.
 */
function ownPipe(): [number, number] | null {
  const fds = nativeModule()?.pipe?.(PIPE_SIZE);
  return Array.isArray(fds) ? fds : null;
}

/** Where the handle's stdin is written. */
interface Feed {
  /** The handle closed its end (EPIPE): what is left is read and verified, not written. */
  gone(): boolean;
  /** Resolves once the kernel has all of `chunk`, or the handle's end is gone. */
  write(chunk: Uint8Array): Promise<void>;
  /** The end of the input. */
  end(): void;
  /** Close without an end of input the handle could act on (its group is killed first). */
  destroy(): void;
}

/**
 * The write end of the addon's pipe. Node holds it as a socket, which makes
 * it non-blocking; each piece is first written with write(2) on the thread
 * pool, and what the pipe has no room for (the handle reads slower than we
 * decrypt) goes through the socket, whose write the event loop finishes as
 * the handle reads. So no thread-pool thread ever waits on a handle: one
 * that never reads holds only its own toss, as with Node's pipe.
 */
function fdFeed(fd: number): Feed {
  const socket = new Socket({ fd, readable: false, writable: true });
  // Set at once, never through an event alone: after it the fd may already be closed (and its number reused).
  let dead = false;
  const die = () => {
    if (dead) return;
    dead = true;
    socket.destroy();
  };
  socket.on('error', die); // EPIPE: the handle stopped reading
  socket.on('close', () => (dead = true));
  return {
    gone: () => dead,
    write: (chunk) =>
      new Promise((resolve) => {
        const from = (off: number): void => {
          if (dead) return resolve();
          fsWrite(fd, chunk, off, chunk.length - off, null, (err, n) => {
            if (err?.code === 'EINTR') return from(off);
            if (err?.code === 'EAGAIN') {
              // The pipe is full: the event loop finishes this piece as the handle reads.
              socket.write(chunk.subarray(off), (e) => {
                if (e) die();
                resolve();
              });
              return;
            }
            if (err) {
              die(); // EPIPE: the handle closed its end
              return resolve();
            }
            if (off + n < chunk.length) return from(off + n);
            resolve();
          });
        };
        from(0);
      }),
    end: () => {
      if (!dead) socket.end();
    },
    destroy: die,
  };
}

/** Node's own pipe to the child (child.stdin). */
function streamFeed(w: Writable): Feed {
  let gone = false;
  w.on('error', () => (gone = true)); // EPIPE: the handle stopped reading
  w.on('close', () => (gone = true));
  return {
    gone: () => gone,
    write: (chunk) =>
      new Promise((resolve) => {
        const done = () => {
          w.off('close', done);
          resolve();
        };
        w.on('close', done);
        w.write(chunk, done);
      }),
    end: () => {
      if (!gone) w.end();
    },
    destroy: () => w.destroy(),
  };
}

/** Size of the pieces zstdDecompress hands out: the addon's pipe capacity, so one write fills it. */
const ZSTD_OUT = 1 << 20;

/**
 * Streaming zstd decompression of an async byte stream, pulled: the next
 * piece of output is only produced when the consumer asks for it, so a
 * small input that expands enormously (a GiB of zeros compresses to a few
 * KiB) never piles up in memory. Every piece is a view of one reused
 * buffer, valid until the next one is asked for. A truncated frame at the
 * end is an error, as is data that is not zstd.
 */
export async function* zstdDecompress(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const z = zstd();
  const dctx = new z.DCtx();
  const out = Buffer.allocUnsafe(ZSTD_OUT);
  let filled = 0;
  let inFrame = false;
  for await (const chunk of src) {
    let input = chunk;
    for (;;) {
      let produced: number;
      let consumed: number;
      let ret: number;
      try {
        [ret, produced, consumed] = dctx.decompressStream(out.subarray(filled), input);
      } catch (err) {
        throw new PacketError(`exec body is not valid zstd data: ${errorLine(err)}`);
      }
      input = input.subarray(consumed);
      // A call that moved nothing (asked for more output just after a frame ended) says nothing of the frame.
      if (consumed > 0 || produced > 0) inFrame = ret !== 0;
      filled += produced;
      if (filled === out.length) {
        yield out;
        filled = 0;
        continue; // zstd may hold more output for this input
      }
      // Room left in `out`: all of this input is consumed, unless a frame ended within it.
      if (input.length === 0) break;
    }
  }
  if (filled > 0) yield out.subarray(0, filled);
  if (inFrame) throw new PacketError('exec body ends in the middle of a zstd frame');
}
