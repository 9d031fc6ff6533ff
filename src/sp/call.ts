/**
 * Calling a neighbour (nncp-call): connect to one of its addresses, run the
 * Noise IK handshake as initiator and a sync session over it.
 *
 * Addresses are `host:port` (TCP), `|command` (run with /bin/sh -c; its
 * stdin and stdout are the link) or UCSPI-TCP-CLIENT (descriptors 6 and 7,
 * under a UCSPI-TCP client). They are tried in turn until one gives a
 * session; each failure is logged with the reference's Who (calling,
 * call-started). Received packets are checksummed on a CheckQueue (the
 * call's own, or the one runCaller shares among its calls); the call
 * returns once those checks are over.
 *
 * Also the links (TCP, |command, UCSPI) and -autotoss, which the daemon
 * uses too.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { base32Decode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { errorLine, PigeonError } from '../errors.js';
import { iBytes } from '../format.js';
import { formatNice } from '../nice.js';
import { tossAll, type TossOptions } from '../toss/toss.js';
import { CheckQueue } from './checkqueue.js';
import { spInitiate } from './handshake.js';
import { prepareSession, type Prepared } from './prepare.js';
import { SpSession, type SessionParams, type SessionResult } from './session.js';
import { watchDir } from './txwatch.js';

/** The reference's pseudo-address for a call made under a UCSPI-TCP client (descriptors 6 and 7). */
export const UCSPI_TCP_CLIENT = 'UCSPI-TCP-CLIENT';

export interface CallOptions {
  node: Neighbour;
  /** A name from the node's addrs or an address; absent: every address of the node in turn. */
  addr?: string;
  nice: number;
  xx?: 'rx' | 'tx';
  /** Seconds. */
  onlineDeadline: number;
  /** Seconds, 0 = unlimited. */
  maxOnlineTime: number;
  /** Packets per second, 0 = unlimited. */
  rxRate: number;
  txRate: number;
  noCK: boolean;
  /** Toss the node's rx queue during and after the call with these options. */
  autoToss?: TossOptions;
  /** Only list the node's packets. */
  listOnly?: boolean;
  /** Only fetch these packets (Base32 ids). */
  pkts?: string[];
  /** Where received packets are checksummed (shared by a caller's calls); default: one for this call. */
  checks?: CheckQueue;
  /** Run sessions over TCP in a network child (privilege separation); other links stay in this process. */
  runner?: CallRunner;
  /** Addresses learned by multicast discovery (src/sp/mcd.ts), tried before the others. */
  mcdAddrs?: string[];
  /** Call the mcdAddrs only (call -mcd-wait). */
  mcdOnly?: boolean;
}

/** A byte link to the peer. */
export interface Link {
  readable: Readable;
  writable: Writable;
  /** Tear the link down (idempotent). */
  close(): void;
  /** The TCP socket under the link, when it is one (it can be handed to a network child). */
  socket?: net.Socket;
}

/** What a call's session came to: `started` is false when no session was made (the next address is tried). */
export interface CallOutcome {
  started: boolean;
  ok: boolean;
}

/**
 * Runs a call's session somewhere else: the privilege-separated call
 * (src/privsep/parent.ts) hands the dialled socket to its network child.
 */
export interface CallRunner {
  runCall(sock: net.Socket, addr: string, opts: CallOptions): Promise<CallOutcome>;
}

/** "[::1]:5400" / "host:5400" → host and port, as Go's net.Dial reads them. */
export function splitHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  if (i < 0) throw new PigeonError('EUSAGE', `address ${addr}: missing port (use host:port)`);
  let host = addr.slice(0, i);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = addr.slice(i + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new PigeonError('EUSAGE', `address ${addr}: bad port ${JSON.stringify(portText)}`);
  return { host, port };
}

/** Go's host:port rendering of a socket address ("[::1]:5400" for IPv6). */
export function joinHostPort(host: string | undefined, port: number | undefined): string {
  const h = host ?? '?';
  return `${h.includes(':') ? `[${h}]` : h}:${port ?? 0}`;
}

/** A link over a connected TCP socket. */
export function socketLink(sock: net.Socket): Link {
  sock.on('error', () => {
    // reported by whoever reads or writes; without a listener an error would crash the process
  });
  sock.setNoDelay(true);
  return { readable: sock, writable: sock, close: () => void sock.destroy(), socket: sock };
}

const DIAL_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connect: connection refused',
  ETIMEDOUT: 'connect: connection timed out',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'temporary failure in name resolution',
};

function dialTcp(addr: string): Promise<Link> {
  const { host, port } = splitHostPort(addr);
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: host === '' ? undefined : host, port });
    const onError = (err: NodeJS.ErrnoException): void => {
      const why = DIAL_ERRORS[err.code ?? ''] ?? errorLine(err);
      reject(new PigeonError('EIO', `dial tcp ${addr}: ${why}`, { cause: err }));
    };
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.off('error', onError);
      resolve(socketLink(sock));
    });
  });
}

/** `|command`: /bin/sh -c command with its stdin/stdout as the link (killed 10 s after the link closes, as the reference). */
function dialPipe(command: string): Promise<Link> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['pipe', 'pipe', 'inherit'] });
    child.once('error', reject);
    child.once('spawn', () => {
      child.stdin!.on('error', () => {});
      child.stdout!.on('error', () => {});
      let closed = false;
      resolve({
        readable: child.stdout!,
        writable: child.stdin!,
        close: () => {
          if (closed) return;
          closed = true;
          child.stdin!.destroy();
          child.stdout!.destroy();
          if (child.exitCode === null && child.signalCode === null) {
            const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
            t.unref();
            child.once('exit', () => clearTimeout(t));
          }
        },
      });
    });
  });
}

/** Descriptors 6 (read) and 7 (write) given by a UCSPI-TCP client. */
function ucspiClientLink(): Link {
  for (const fd of [6, 7]) {
    try {
      fs.fstatSync(fd);
    } catch {
      throw new PigeonError('EUSAGE', `-ucspi: no ${fd} file descriptor: run pigeon call -ucspi under a UCSPI-TCP client`);
    }
  }
  // net.Socket copes with the non-blocking pipes and sockets a UCSPI client hands over.
  const readable = new net.Socket({ fd: 6, readable: true, writable: false });
  const writable = new net.Socket({ fd: 7, readable: false, writable: true });
  readable.on('error', () => {});
  writable.on('error', () => {});
  return { readable, writable, close: () => { readable.destroy(); writable.destroy(); } };
}

/** The peer's address as a UCSPI-TCP server describes it in the environment ("" when it does not). */
export function ucspiRemoteAddr(): string {
  if (process.env.PROTO !== 'TCP') return '';
  const port = process.env.TCPREMOTEPORT ?? '';
  const host = process.env.TCPREMOTEHOST ?? '';
  return host === '' ? `[${process.env.TCPREMOTEIP ?? ''}]:${port}` : `${host}:${port}`;
}

/** An address of NNCP's built-in Yggdrasil node (yggdrasilc://PUB..., or the older yggdrasil:...). */
export function isYggdrasilAddr(addr: string): boolean {
  return addr.startsWith('yggdrasilc://') || addr.startsWith('yggdrasil:');
}

/**
 * Pigeon has no built-in Yggdrasil node: the one-line answer to a
 * yggdrasilc:// address or daemon -yggdrasil, saying how to get there over
 * the system's yggdrasil daemon (its TUN interface gives every node a
 * 200::/7 address, reached over plain TCP).
 */
export function yggdrasilUnsupported(what: string, listen = false): PigeonError {
  const how = listen
    ? 'run the system yggdrasil daemon on this host and let pigeon daemon listen on TCP there (the default -bind [::]:5400 covers its 200::/7 address); callers then use "[THAT-ADDRESS]:5400"'
    : 'run the system yggdrasil daemon on this host and call the node\'s Yggdrasil IPv6 address over TCP instead, like "[200:1234:5678::1]:5400" (yggdrasilctl getSelf on that node prints it; the port is its yggdrasils:// listener\'s)';
  return new PigeonError('EUSAGE', `${what}: Yggdrasil is not built into pigeon; ${how}`);
}

/** Open a link to an address of any supported kind. */
async function dial(addr: string): Promise<Link> {
  if (addr.startsWith('|')) return dialPipe(addr.slice(1));
  if (addr === UCSPI_TCP_CLIENT) return ucspiClientLink();
  if (isYggdrasilAddr(addr)) throw yggdrasilUnsupported(`address ${addr}`);
  return dialTcp(addr);
}

/** The reference's "H:M:S" of a call's duration (minutes are total minutes, as it prints them). */
function durationText(sec: number): string {
  return `${Math.floor(sec / 3600)}:${Math.floor(sec / 60)}:${sec % 60}`;
}

/** "Finished call with NAME (H:M:S): X received (Y/sec), Z transferred (W/sec)". */
export function finishedText(name: string, r: SessionResult): string {
  return `Finished call with ${name} (${durationText(r.durationSec)}): ${iBytes(r.rxBytes)} received (${iBytes(r.rxSpeed)}/sec), ${iBytes(r.txBytes)} transferred (${iBytes(r.txSpeed)}/sec)`;
}

/**
 * Toss the node's rx queue whenever something lands there (checked every
 * second), as the reference's -autotoss; `stop()` ends it after one last
 * toss (so a packet completed in the final second is not left behind) and
 * tells whether every toss went well.
 */
export function startAutoToss(ctx: Context, node: Neighbour, nice: number, opts: TossOptions): { stop(): Promise<boolean> } {
  let ok = true;
  let dirty = true;
  let running: Promise<void> | null = null;
  const toss = (): Promise<void> => {
    if (running) return running;
    dirty = false;
    running = tossAll(ctx, { ...opts, node, nice })
      .then((r) => {
        ok &&= r.ok;
      })
      .catch((err) => {
        ok = false;
        ctx.log.error('autotoss', [['Node', node.idB32]], err, `Auto-tossing ${node.name}`);
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  let watcher = watchDir(
    ctx.spool.queueDir(node.idB32, 'rx'),
    ctx.spool.dirMode,
    () => {
      dirty = true;
    },
    () => {
      watcher = null;
    },
  );
  const timer = setInterval(() => {
    if (dirty || watcher === null) void toss();
  }, 1000);
  return {
    async stop(): Promise<boolean> {
      clearInterval(timer);
      watcher?.close();
      if (running) await running;
      await toss();
      return ok;
    },
  };
}

export function sessionParams(ctx: Context, o: CallOptions, checks: CheckQueue): SessionParams {
  let onlyPkts: Set<string> | undefined;
  if (o.pkts && o.pkts.length > 0) {
    onlyPkts = new Set();
    for (const id of o.pkts) {
      const b = base32Decode(id);
      if (b === null || b.length !== 32) throw new PigeonError('EUSAGE', `-pkts: ${JSON.stringify(id)} is not a packet id (52 Base32 characters)`);
      onlyPkts.add(id);
    }
  }
  return {
    ctx,
    node: o.node,
    nice: o.nice,
    xx: o.xx,
    listOnly: o.listOnly,
    onlyPkts,
    noCK: o.noCK,
    rxRate: o.rxRate,
    txRate: o.txRate,
    onlineDeadline: o.onlineDeadline,
    maxOnlineTime: o.maxOnlineTime,
    checks,
  };
}

/** Whether calling the node (at `addr`, else at any of its addresses) may dial TCP: only then has a network child work to do. */
export function dialsTcp(node: Neighbour, addr?: string): boolean {
  return callAddrs(node, addr).some((a) => !a.startsWith('|') && a !== UCSPI_TCP_CLIENT);
}

/** The addresses to try: the given one (a name from addrs, or literal), else all of the node's. */
function callAddrs(node: Neighbour, addr?: string): string[] {
  if (addr !== undefined) return [node.addrs.get(addr) ?? addr];
  return [...node.addrs.values()];
}

/**
 * Call the node: try its addresses until one gives a session, run it to the
 * end (deadlines, or the peer hanging up). `ok` is false when no session
 * could be made, something was left half-transferred, or auto-tossing failed.
 */
export async function callNode(ctx: Context, opts: CallOptions): Promise<{ ok: boolean }> {
  if (!ctx.cfg.self) throw new PigeonError('ECONFIG', `${ctx.cfg.path}: no self section with private keys: cannot call`);
  const node = opts.node;
  if (!node.noisePub) throw new PigeonError('ECONFIG', `node ${node.name} has no noisepub in ${ctx.cfg.path}: it cannot be called online`);
  const checks = opts.checks ?? new CheckQueue();
  const params = sessionParams(ctx, opts, checks);
  const addrs = [...(opts.mcdAddrs ?? []), ...(opts.mcdOnly ? [] : callAddrs(node, opts.addr))];
  if (addrs.length === 0) throw new PigeonError('ECONFIG', `node ${node.name} has no addrs in ${ctx.cfg.path}: give an address (pigeon call ${node.name} HOST:PORT)`);
  const autoToss = opts.autoToss ? startAutoToss(ctx, node, opts.nice, opts.autoToss) : null;
  let ok = false;
  try {
    for (const addr0 of addrs) {
      let addr = addr0;
      const les: [string, string][] = [['Node', node.idB32], ['Addr', addr]];
      ctx.log.debug('calling', les, `Calling ${node.name} (${addr})`);
      let link: Link;
      try {
        link = await dial(addr);
      } catch (err) {
        ctx.log.error('calling', les, err, `Calling ${node.name} (${addr})`);
        continue;
      }
      if (addr === UCSPI_TCP_CLIENT) {
        addr = ucspiRemoteAddr() || UCSPI_TCP_CLIENT;
        les[1] = ['Addr', addr];
      }
      ctx.log.debug('call-connected', les, `Connected ${node.name} (${addr})`);
      let r: CallOutcome;
      if (opts.runner && link.socket) {
        r = await opts.runner.runCall(link.socket, addr, opts);
      } else {
        if (opts.runner) ctx.log.debug('privsep', les, `Calling ${node.name} (${addr}): not a TCP link, the session runs in this process`);
        r = await runInitiator(params, link, addr);
      }
      if (!r.started) continue;
      ok = r.ok;
      break;
    }
  } finally {
    await checks.idle();
    if (autoToss) ok = (await autoToss.stop()) && ok;
  }
  return { ok };
}

/**
 * The initiator's session over a connected link, logged as the reference
 * logs a call (call-started, call-finished); the link is closed at the end.
 * `started` is false when the handshake or the first exchange failed.
 */
export async function runInitiator(params: SessionParams, link: Link, addr: string): Promise<CallOutcome> {
  const { ctx, node } = params;
  const self = ctx.cfg.self!;
  const les: [string, string][] = [['Node', node.idB32], ['Addr', addr]];
  let session: SpSession;
  let prep: Prepared | undefined;
  try {
    prep = await prepareSession(params);
    const spLes: [string, string | number][] = [['Node', node.idB32], ['Nice', params.nice]];
    const spWith = `SP with ${node.name} (nice ${formatNice(params.nice)})`;
    ctx.log.debug('sp-startI', spLes, `${spWith}: sending first message`);
    const tr = await spInitiate(link, self, node, prep.infoPayloads[0] ?? new Uint8Array(0), { what: `${node.name} (${addr})` }).catch((err) => {
      ctx.log.error('sp-startI-read', spLes, err, `${spWith}: reading`);
      throw err;
    });
    session = new SpSession(params, prep, tr);
    await session.start();
  } catch (err) {
    prep?.release();
    ctx.log.error('call-started', les, err, `Connection to ${node.name} (${addr})`);
    link.close();
    return { started: false, ok: false };
  }
  ctx.log.info('call-started', les, `Connection to ${node.name} (${addr})`);
  const r = await session.run();
  link.close();
  ctx.log.info(
    'call-finished',
    [...les, ['Duration', r.durationSec], ['RxBytes', r.rxBytes], ['RxSpeed', r.rxSpeed], ['TxBytes', r.txBytes], ['TxSpeed', r.txSpeed]],
    finishedText(node.name, r),
  );
  return { started: true, ok: r.ok };
}
