/**
 * The privileged half of a privilege-separated daemon (OpenSMTPD's design:
 * the parent holds the configuration and keys, an unprivileged child talks
 * to the network).
 *
 * The parent loads the configuration, listens, and accepts connections
 * (src/sp/daemon.ts listenDaemon: -maxconn is counted here), but reads not
 * one byte from a peer: each accepted socket is handed, paused, to the
 * network child (child.ts) over the IPC channel, and the parent's copy is
 * closed. One child serves every connection of the listener (as OpenSMTPD's
 * smtp process does): a Node process costs ~50 MB and ~0.2 s to start, so a
 * child per connection would make -maxconn 128 cost gigabytes and add the
 * start-up to every call; the price is that sessions share one child.
 *
 * What only the parent does: write the log (the child sends records, the
 * parent validates and writes them), auto-toss (tossing decrypts packets,
 * so it needs exchprv and signprv), and start a fresh child when one dies:
 * the sessions it served end, the listener stays, the next connection goes
 * to the new child. A child that sends a malformed message is killed and
 * replaced the same way. The child never receives exchprv or signprv: they
 * have no field in the messages (messages.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import type { Context } from '../context.js';
import { errorLine } from '../errors.js';
import { startAutoToss, type CallOptions, type CallOutcome, type CallRunner } from '../sp/call.js';
import { listenDaemon, type Daemon, type DaemonOptions, type ListenOptions } from '../sp/daemon.js';
import { ensureDir } from '../spool/atomic.js';
import { parseToParent, ProtocolError, type CallRequest, type ChildInit, type ToChild, type ToParent } from './messages.js';
import { childEnv, childExecArgv, childScript, childSpoolDirs, type RunAs } from './sandbox.js';

export interface PrivsepOptions {
  /** Run the child as this user (the parent must be root). */
  user?: RunAs;
}

/** A fresh array of exactly these bytes (a view into a larger buffer must not take its neighbours along). */
const copy = (b: Uint8Array): Uint8Array => Uint8Array.from(b);

/** What the child is told: public keys, the Noise key pair, session settings. Never exchprv/signprv. */
export function childInit(ctx: Context, opts: DaemonOptions, stdioAddr?: string): ChildInit {
  const self = ctx.cfg.self!;
  const init: ChildInit = {
    t: 'init',
    cfgPath: ctx.cfg.path,
    self: { id: copy(self.id), idB32: self.idB32, exchPub: copy(self.exchPub), signPub: copy(self.signPub), noisePub: copy(self.noisePub), noisePrv: copy(self.noisePrv) },
    neighbours: callable(ctx).map((n) => ({
      name: n.name,
      id: copy(n.id),
      idB32: n.idB32,
      exchPub: copy(n.exchPub),
      signPub: copy(n.signPub),
      noisePub: copy(n.noisePub!),
      rxRate: n.rxRate,
      txRate: n.txRate,
      onlineDeadline: n.onlineDeadline,
      maxOnlineTime: n.maxOnlineTime,
    })),
    spool: { root: path.resolve(ctx.spool.root), noHdr: ctx.spool.noHdr, noSync: ctx.spool.noSync },
    nice: opts.nice,
    noCK: opts.noCK,
    autoToss: opts.autoToss !== undefined,
    debug: ctx.debug,
    progress: ctx.progress,
  };
  if (ctx.spool.umask !== undefined) init.spool.umask = ctx.spool.umask;
  if (stdioAddr !== undefined) init.stdio = { addr: stdioAddr };
  return init;
}

/** Neighbours that can call us: those with a Noise public key. */
function callable(ctx: Context) {
  return [...ctx.cfg.neighbours.values()].filter((n) => n.noisePub !== undefined);
}

/** The spool directories the child writes, made now (and given to the child's user when they are new). */
async function prepareDirs(ctx: Context, user: RunAs | undefined): Promise<string[]> {
  const ids = callable(ctx).map((n) => n.idB32);
  const made: string[] = [];
  const want = [ctx.spool.tmpDir(), ...ids.flatMap((id) => [ctx.spool.nodeDir(id), ctx.spool.queueDir(id, 'rx'), ctx.spool.queueDir(id, 'tx')])];
  for (const d of want) {
    if (await fsp.stat(d).then(() => true, () => false)) continue;
    await ensureDir(d, ctx.spool.dirMode);
    made.push(d);
  }
  if (user) for (const d of made) await fsp.chown(d, user.uid, user.gid);
  return childSpoolDirs(path.resolve(ctx.spool.root), ids);
}

interface Conn {
  done: () => void;
  toss: { stop(): Promise<boolean> } | null;
}

/**
 * One network child at a time, restarted when it dies. `handOff` gives it a
 * socket and resolves when that connection is over.
 */
export class NetworkChild implements CallRunner {
  private child: ChildProcess | null = null;
  private readonly calls = new Map<number, (r: CallOutcome) => void>();
  private ready: Promise<ChildProcess> | null = null;
  private readonly conns = new Map<number, Conn>();
  private readonly checkWaiters = new Map<number, () => void>();
  private seq = 0;
  private stopping = false;
  /** Set once the first child was ready: only then is a dead child replaced. */
  private serving = false;
  private exited: Promise<void> = Promise.resolve();
  private dirs: string[] = [];
  /** -ucspi: resolves when the one session is over (and its auto-toss done). */
  readonly stdioDone: Promise<void>;

  constructor(
    private readonly ctx: Context,
    private readonly opts: DaemonOptions,
    private readonly priv: PrivsepOptions,
    private readonly stdioAddr?: string,
  ) {
    this.stdioDone = stdioAddr === undefined ? Promise.resolve() : new Promise((resolve) => this.conns.set(0, { done: resolve, toss: null }));
  }

  /** Start the child; resolves once it is ready to take connections (stdio: once it runs). */
  async start(): Promise<void> {
    this.dirs = await prepareDirs(this.ctx, this.priv.user);
    await this.spawn();
    this.serving = true;
  }

  /** The running child's pid (tests kill it). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private spawn(): Promise<ChildProcess> {
    const started = Date.now();
    const stdio = this.stdioAddr !== undefined;
    const child = fork(childScript(), [], {
      execArgv: childExecArgv(this.dirs),
      env: childEnv(process.env),
      serialization: 'advanced',
      stdio: stdio ? [0, 1, 'ignore', 'ipc'] : ['ignore', 'ignore', 'inherit', 'ipc'],
      uid: this.priv.user?.uid,
      gid: this.priv.user?.gid,
    });
    this.child = child;
    let markExit!: () => void;
    this.exited = new Promise((resolve) => (markExit = resolve));
    this.ready = new Promise<ChildProcess>((resolve, reject) => {
      child.on('message', (raw: unknown) => {
        let m: ToParent;
        try {
          m = parseToParent(raw);
        } catch (err) {
          this.ctx.log.error('privsep', [['Pid', child.pid ?? 0]], err, 'Network child sent a malformed message: killing it');
          child.kill('SIGKILL');
          return;
        }
        if (m.t === 'ready') resolve(child);
        else this.onMessage(m, child);
      });
      child.once('error', (err) => {
        this.ctx.log.error('privsep', [], err, 'Starting the network child');
        reject(err);
      });
      child.once('exit', (code, signal) => {
        reject(new Error(`network child exited before it was ready (${signal ?? `code ${code}`})`));
        this.onExit(child, code, signal, Date.now() - started);
        markExit();
      });
    });
    this.ready.catch(() => {});
    if (stdio) this.ready = Promise.resolve(child);
    this.send(child, childInit(this.ctx, this.opts, this.stdioAddr));
    return this.ready;
  }

  private send(child: ChildProcess, m: ToChild, handle?: net.Socket, cb?: (err: Error | null) => void): void {
    if (!child.connected) {
      cb?.(new Error('network child is gone'));
      return;
    }
    child.send(m, handle, {}, cb ?? (() => {}));
  }

  private onMessage(m: Exclude<ToParent, { t: 'ready' }>, child: ChildProcess): void {
    const { ctx } = this;
    switch (m.t) {
      case 'log':
        if (m.level === 'info') ctx.log.info(m.who, m.fields, m.human);
        else if (m.level === 'error') ctx.log.error(m.who, m.fields, m.err ?? '', m.human);
        else ctx.log.debug(m.who, m.fields, m.human);
        return;
      case 'session': {
        const c = this.conns.get(m.conn);
        const node = ctx.cfg.neighbours.get(m.node);
        if (c === undefined || node === undefined || c.toss !== null) {
          ctx.log.error('privsep', [['Pid', child.pid ?? 0]], new ProtocolError(`session ${m.conn} with ${m.node}: no such connection or node`), 'Network child sent a malformed message: killing it');
          child.kill('SIGKILL');
          return;
        }
        if (this.opts.autoToss) c.toss = startAutoToss(ctx, node, this.opts.nice, this.opts.autoToss);
        return;
      }
      case 'end':
        return void this.finish(m.conn);
      case 'called':
        this.calls.get(m.conn)?.({ started: m.started, ok: m.ok });
        this.calls.delete(m.conn);
        return;
      case 'checked':
        this.checkWaiters.get(m.req)?.();
        this.checkWaiters.delete(m.req);
        return;
    }
  }

  private async finish(conn: number): Promise<void> {
    const c = this.conns.get(conn);
    if (c === undefined) return;
    this.conns.delete(conn);
    if (c.toss) await c.toss.stop();
    c.done();
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null, livedMs: number): void {
    if (this.child === child) this.child = null;
    for (const conn of [...this.conns.keys()]) void this.finish(conn);
    for (const w of this.checkWaiters.values()) w();
    this.checkWaiters.clear();
    // A call whose child died is over, and not a success (what it received stays as .part, resumable).
    for (const c of this.calls.values()) c({ started: true, ok: false });
    this.calls.clear();
    if (this.stopping || !this.serving || this.stdioAddr !== undefined) return;
    const how = signal ?? `exit status ${code}`;
    this.ctx.log.error('privsep', [['Pid', child.pid ?? 0]], how, 'Network child died: starting a new one');
    // A child that dies at once would die again: do not spin.
    const wait = livedMs < 1000 ? 1000 : 0;
    this.ready = new Promise((resolve) => setTimeout(resolve, wait)).then(() => (this.stopping ? Promise.reject(new Error('stopping')) : this.spawn()));
    this.ready.catch(() => {});
  }

  /** The running (or restarting) child, to be given `sock`; null (the socket destroyed) when stopping or none can start. */
  private async childFor(sock: net.Socket): Promise<ChildProcess | null> {
    try {
      if (this.stopping || this.ready === null) throw new Error('stopping');
      return await this.ready;
    } catch {
      sock.destroy();
      return null;
    }
  }

  /** Serve `sock` in the child; resolves when the connection is over. */
  async handOff(sock: net.Socket, addr: string): Promise<void> {
    const child = await this.childFor(sock);
    if (child === null) return;
    const conn = ++this.seq;
    await new Promise<void>((resolve) => {
      this.conns.set(conn, { done: resolve, toss: null });
      this.send(child, { t: 'conn', conn, addr }, sock, (err) => {
        if (err === null) return;
        sock.destroy();
        void this.finish(conn);
      });
    });
  }

  /**
   * A call's session, run by the child over the socket dialled here (the
   * parent reads nothing from it); resolves when the session is over and
   * what it received is checksummed.
   */
  async runCall(sock: net.Socket, addr: string, o: CallOptions): Promise<CallOutcome> {
    const child = await this.childFor(sock);
    if (child === null) return { started: false, ok: false };
    sock.pause();
    const conn = ++this.seq;
    const m: CallRequest = {
      t: 'call',
      conn,
      node: o.node.idB32,
      addr,
      nice: o.nice,
      listOnly: o.listOnly ?? false,
      noCK: o.noCK,
      rxRate: o.rxRate,
      txRate: o.txRate,
      onlineDeadline: o.onlineDeadline,
      maxOnlineTime: o.maxOnlineTime,
    };
    if (o.xx !== undefined) m.xx = o.xx;
    if (o.pkts !== undefined) m.pkts = o.pkts;
    return new Promise<CallOutcome>((resolve) => {
      this.calls.set(conn, resolve);
      this.send(child, m, sock, (err) => {
        if (err === null) return;
        sock.destroy();
        this.calls.delete(conn);
        resolve({ started: false, ok: false });
      });
    });
  }

  /** Resolves once the child has checksummed everything received so far. */
  async checksIdle(): Promise<void> {
    const child = this.child;
    if (child === null || !child.connected) return;
    const req = ++this.seq;
    await new Promise<void>((resolve) => {
      this.checkWaiters.set(req, resolve);
      this.send(child, { t: 'checks', req }, undefined, (err) => {
        if (err !== null) resolve();
      });
    });
  }

  /** Ask the child to end its sessions and exit (killed after 10 s); resolves when it has. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child === null) return;
    const exited = this.exited;
    this.send(child, { t: 'stop' });
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}

/** `pigeon daemon` with privilege separation: listen here, serve in the network child. */
export async function listenPrivsep(ctx: Context, opts: ListenOptions, priv: PrivsepOptions = {}): Promise<Daemon & { child: NetworkChild }> {
  const child = new NetworkChild(ctx, opts, priv);
  await child.start();
  let d: Daemon;
  try {
    d = await listenDaemon(ctx, { ...opts, handOff: (sock, addr) => child.handOff(sock, addr) });
  } catch (err) {
    await child.stop();
    throw err;
  }
  return {
    child,
    address: d.address,
    active: () => d.active(),
    checksIdle: () => child.checksIdle(),
    async close(): Promise<void> {
      await Promise.all([child.stop(), d.close()]);
    },
  };
}

/** `pigeon daemon -ucspi` with privilege separation: the child gets descriptors 0 and 1, the parent logs and tosses. */
export async function serveStdioPrivsep(ctx: Context, opts: DaemonOptions, addr: string, priv: PrivsepOptions = {}): Promise<void> {
  const child = new NetworkChild(ctx, opts, priv, addr);
  try {
    await child.start();
  } catch (err) {
    ctx.log.error('privsep', [], errorLine(err), 'Serving over stdin/stdout');
    return;
  }
  await child.stdioDone;
}

/**
 * The network child of `pigeon call`/`caller`: started before dialling,
 * given each TCP socket the parent dials (CallRunner); stop() when done.
 * The parent keeps the keys, the log and -autotoss, as for the daemon.
 */
export async function startCallChild(ctx: Context, priv: PrivsepOptions = {}): Promise<NetworkChild> {
  const child = new NetworkChild(ctx, { nice: 255, noCK: false }, priv);
  await child.start();
  return child;
}
