/**
 * The daemon (nncp-daemon): answer calls, each connection in its own sync
 * session, many at once (at most `maxConn`; more wait for a free slot, as
 * the reference's limited listener makes them wait).
 *
 * Per connection: the caller's first Noise message tells who it is; only a
 * neighbour whose noisepub we know gets an answer (a stranger is logged as
 * sp-startR-unknown and dropped before any spool access). The node's rx/tx
 * locks are taken before answering, so a second session with a node that
 * already has one is refused. The session's niceness is the daemon's
 * -nice; rates and deadlines are the node's configuration. Packets received
 * on any connection are checksummed one at a time on the daemon's
 * CheckQueue.
 */
import net from 'node:net';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { base32Encode } from '../codec/base32.js';
import { errorLine, PigeonError } from '../errors.js';
import { formatNice } from '../nice.js';
import type { TossOptions } from '../toss/toss.js';
import { finishedText, joinHostPort, socketLink, splitHostPort, startAutoToss, type Link } from './call.js';
import { CheckQueue } from './checkqueue.js';
import { noisePubLookup, spRespond } from './handshake.js';
import { prepareSession, type Prepared } from './prepare.js';
import { SpSession, type SessionParams } from './session.js';

export interface DaemonOptions {
  /** Only packets with niceness <= nice go either way. */
  nice: number;
  noCK: boolean;
  /** Toss each caller's rx queue during and after its session. */
  autoToss?: TossOptions;
}

/**
 * Run one incoming connection to its end: handshake, session, log records
 * (call-started, call-finished). Received packets are checksummed on
 * `checks`. Never throws; the link is closed on return.
 */
async function serveConnection(ctx: Context, link: Link, addr: string, opts: DaemonOptions, checks: CheckQueue): Promise<void> {
  try {
    await serve(ctx, link, addr, opts, checks);
  } catch (err) {
    ctx.log.error('daemon', [['Addr', addr]], err, `Serving ${addr}`);
  } finally {
    link.close();
  }
}

async function serve(ctx: Context, link: Link, addr: string, opts: DaemonOptions, checks: CheckQueue): Promise<void> {
  const self = ctx.cfg.self;
  if (!self) throw new PigeonError('ECONFIG', `${ctx.cfg.path}: no self section with private keys: cannot answer calls`);
  const startLes: [string, string | number][] = [['Nice', opts.nice]];
  const waiting = `SP nice ${formatNice(opts.nice)}: waiting for first message`;
  let stranger: Uint8Array | undefined;
  let node: Neighbour | undefined;
  let params: SessionParams | undefined;
  let prep: Prepared | undefined;
  let lockFailed = false;
  const lookup = noisePubLookup(ctx.cfg.neighbours.values());
  const findByNoisePub = (pub: Uint8Array): Neighbour | undefined => {
    const n = lookup(pub);
    if (n === undefined) stranger = Uint8Array.from(pub);
    return n;
  };
  const firstPayload = async (peer: Neighbour): Promise<Uint8Array> => {
    node = peer;
    params = {
      ctx,
      node: peer,
      nice: opts.nice,
      noCK: opts.noCK,
      rxRate: peer.rxRate,
      txRate: peer.txRate,
      onlineDeadline: peer.onlineDeadline,
      maxOnlineTime: peer.maxOnlineTime,
      checks,
    };
    try {
      prep = await prepareSession(params);
    } catch (err) {
      lockFailed = true;
      throw err;
    }
    return prep.infoPayloads[0] ?? new Uint8Array(0);
  };
  ctx.log.debug('sp-startR', startLes, waiting);
  let session: SpSession;
  let answered = false;
  try {
    const tr = await spRespond(link, self, findByNoisePub, firstPayload);
    answered = true;
    session = new SpSession(params!, prep!, tr);
    await session.start();
  } catch (err) {
    prep?.release();
    if (stranger !== undefined && node === undefined) {
      const peerId = base32Encode(stranger);
      ctx.log.error('sp-startR-unknown', [...startLes, ['Peer', peerId]], `unknown peer: ${peerId}`, waiting);
    } else if (!lockFailed && node === undefined) {
      ctx.log.error('sp-startR-read', startLes, err, waiting);
    } else if (!lockFailed && !answered) {
      const n = node as Neighbour;
      ctx.log.error('sp-startR-write', [['Node', n.idB32], ['Nice', opts.nice]], err, `SP with ${n.name} (nice ${formatNice(opts.nice)}): writing`);
    }
    const who = node as Neighbour | undefined;
    ctx.log.info('call-started', [['Node', who?.idB32 ?? 'unknown']], `Connected to ${who?.name ?? 'unknown'}`);
    return;
  }
  const peer = node!;
  ctx.log.info('call-started', [['Node', peer.idB32]], `Connection with ${peer.name} (${addr})`);
  const autoToss = opts.autoToss ? startAutoToss(ctx, peer, opts.nice, opts.autoToss) : null;
  const r = await session.run();
  link.close();
  ctx.log.info(
    'call-finished',
    [['Node', peer.idB32], ['Duration', r.durationSec], ['RxBytes', r.rxBytes], ['TxBytes', r.txBytes], ['RxSpeed', r.rxSpeed], ['TxSpeed', r.txSpeed]],
    finishedText(peer.name, r),
  );
  if (autoToss) await autoToss.stop();
}

export interface ListenOptions extends DaemonOptions {
  /** host:port, e.g. "[::]:5400" or "127.0.0.1:0". */
  bind: string;
  /** Sessions at once; further connections wait. */
  maxConn: number;
}

export interface Daemon {
  /** Where it listens (the real port when bound to port 0). */
  address: { host: string; port: number };
  /** Sessions running now. */
  active(): number;
  /** Resolves once every packet received so far has been checksummed (and moved to rx/ or refused). */
  checksIdle(): Promise<void>;
  /** Stop listening and end every session; resolves when they have ended and their checks are done. */
  close(): Promise<void>;
}

/** Listen on `bind` and serve every connection (their received packets checksummed one at a time). */
export async function listenDaemon(ctx: Context, opts: ListenOptions): Promise<Daemon> {
  const { host, port } = splitHostPort(opts.bind);
  if (!Number.isInteger(opts.maxConn) || opts.maxConn < 1) throw new PigeonError('EUSAGE', `-maxconn ${opts.maxConn}: expected a positive number`);
  const checks = new CheckQueue();
  const sessions = new Set<Promise<void>>();
  const links = new Set<Link>();
  const waitingSockets: net.Socket[] = [];
  const start = (sock: net.Socket): void => {
    const addr = joinHostPort(sock.remoteAddress, sock.remotePort);
    ctx.log.debug('daemon-accepted', [['Addr', addr]], `Accepted connection with ${addr}`);
    const link = socketLink(sock);
    links.add(link);
    const p = serveConnection(ctx, link, addr, opts, checks).finally(() => {
      links.delete(link);
      sessions.delete(p);
      const next = waitingSockets.shift();
      if (next) start(next);
    });
    sessions.add(p);
  };
  const server = net.createServer((sock) => {
    if (sessions.size >= opts.maxConn) {
      sock.on('error', () => {});
      sock.pause();
      waitingSockets.push(sock);
      return;
    }
    start(sock);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : errorLine(err);
      reject(new PigeonError('EIO', `can not listen on ${opts.bind}: ${why}; choose another -bind`, { cause: err }));
    });
    server.listen({ host: host === '' ? undefined : host, port }, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  server.on('error', (err) => ctx.log.error('daemon', [['Addr', opts.bind]], err, `Listening on ${opts.bind}`));
  const a = server.address() as net.AddressInfo;
  return {
    address: { host: a.address, port: a.port },
    active: () => sessions.size,
    checksIdle: () => checks.idle(),
    async close(): Promise<void> {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of waitingSockets.splice(0)) s.destroy();
      for (const l of links) l.close();
      await Promise.allSettled([...sessions]);
      await checks.idle();
    },
  };
}

/** One session over this process's stdin/stdout (UCSPI-TCP or inetd). */
export async function serveStdio(ctx: Context, opts: DaemonOptions, addr: string): Promise<void> {
  process.stdin.on('error', () => {});
  process.stdout.on('error', () => {});
  const link: Link = {
    readable: process.stdin,
    writable: process.stdout,
    close: () => {
      process.stdin.destroy();
      process.stdout.destroy();
    },
  };
  const checks = new CheckQueue();
  await serveConnection(ctx, link, addr, opts, checks);
  await checks.idle();
}

