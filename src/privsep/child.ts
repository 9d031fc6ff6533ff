/**
 * The network child: the unprivileged half of a privilege-separated daemon.
 * It parses everything a peer sends (Noise handshake, SP frames, INFO and
 * FILE payloads) and writes what it receives into the spool, under Node's
 * permission model and, when the daemon was started as root, as another
 * user (see sandbox.ts for what it may touch).
 *
 * It starts knowing nothing: the parent's first message (ChildInit) gives
 * the Noise key pair, the neighbours' public keys and settings, the spool
 * root. From those it builds a Context whose configuration has no packet
 * private keys (exchPrv and signPrv are empty arrays) and whose logger
 * sends each record to the parent, which owns the log file. Then it serves
 * each socket the parent hands over (`conn`), one sync session per socket,
 * exactly as the single-process daemon does (src/sp/daemon.ts), and tells
 * the parent when a session with a node starts (for -autotoss, which the
 * parent runs: tossing needs exchprv) and when a connection ends.
 *
 * When the parent goes away (the IPC channel closes) the child exits at
 * once: nothing it holds is worth finishing without its parent, and every
 * .part it leaves is resumable.
 */
import net from 'node:net';
import type { Config, Neighbour, SelfNode } from '../config/types.js';
import type { Context } from '../context.js';
import { errorLine } from '../errors.js';
import { Logger, type LogFields } from '../log/log.js';
import { runInitiator, sessionParams, socketLink, type Link } from '../sp/call.js';
import { CheckQueue } from '../sp/checkqueue.js';
import { serveConnection, serveStdio, type DaemonOptions } from '../sp/daemon.js';
import { Spool } from '../spool/spool.js';
import { parseToChild, type CallRequest, type ChildInit, type ToParent } from './messages.js';

type Send = (m: ToParent) => void;

/** Log values as plain strings and numbers (what the channel carries), printing as the originals would. */
function plainFields(fields: LogFields): [string, string | number][] {
  const out: [string, string | number][] = [];
  for (const [k, v] of fields) {
    if (typeof v === 'string' || typeof v === 'number') out.push([k, v]);
    else if (typeof v === 'bigint') out.push([k, v.toString()]);
    else if (typeof v === 'boolean') out.push([k, v ? 'true' : 'false']);
    else if (v.length > 0) out.push([k, v.join('\n')]); // the reference omits empty lists
  }
  return out;
}

/** A Logger that writes nothing itself: every record goes to the parent. */
export class ChannelLogger extends Logger {
  constructor(private readonly send: Send, debug: boolean) {
    super({ path: '', quiet: true, debug, stderr: { write: () => true } });
  }

  override info(who: string, fields: LogFields, human: string): void {
    this.send({ t: 'log', level: 'info', who, fields: plainFields(fields), human });
  }

  override error(who: string, fields: LogFields, err: unknown, human: string): void {
    this.send({ t: 'log', level: 'error', who, fields: plainFields(fields), human, err: typeof err === 'string' ? err : errorLine(err) });
  }

  override debug(who: string, fields: LogFields, human: string): void {
    if (this.debugOn) this.send({ t: 'log', level: 'debug', who, fields: plainFields(fields), human });
  }
}

/** The configuration the child works from: public keys and session settings only. */
export function childConfig(init: ChildInit): Config {
  const self: SelfNode = {
    ...init.self,
    // Not given to the child: it neither encrypts nor decrypts packets.
    exchPrv: new Uint8Array(0),
    signPrv: new Uint8Array(0),
  };
  const neighbours = new Map<string, Neighbour>();
  const byName = new Map<string, Neighbour>();
  for (const n of init.neighbours) {
    const node: Neighbour = { ...n, exec: new Map(), freq: {}, via: [], addrs: new Map(), calls: [], ack: {} };
    neighbours.set(n.idB32, node);
    byName.set(n.name, node);
  }
  return {
    path: init.cfgPath,
    spool: init.spool.root,
    log: '',
    umask: init.spool.umask,
    noProgress: !init.progress,
    noHdr: init.spool.noHdr,
    self,
    neighbours,
    byName,
    areas: new Map(),
    areasById: new Map(),
    mcdListen: [],
    mcdSend: new Map(),
    yggdrasilAliases: new Map(),
    warnings: [],
  };
}

function childContext(init: ChildInit, send: Send): Context {
  const cfg = childConfig(init);
  return {
    cfg,
    spool: new Spool({ root: init.spool.root, noHdr: init.spool.noHdr, noSync: init.spool.noSync, umask: init.spool.umask }),
    log: new ChannelLogger(send, init.debug),
    quiet: true,
    debug: init.debug,
    progress: init.progress,
  };
}

/** Run the child on this process's IPC channel until the parent says stop or goes away. */
export function runChild(): void {
  if (!process.send) {
    process.stderr.write('pigeon privsep child: no IPC channel (it is started by pigeon daemon, not by hand)\n');
    process.exit(2);
  }
  const send: Send = (m) => {
    if (process.connected) process.send!(m);
  };
  const fatal = (why: string): never => {
    process.stderr.write(`pigeon privsep child: ${why}\n`);
    process.exit(3);
  };
  process.on('disconnect', () => process.exit(0));

  let state: { init: ChildInit; ctx: Context } | null = null;
  const checks = new CheckQueue();
  const links = new Set<Link>();
  const sessions = new Set<Promise<void>>();

  const optsFor = (init: ChildInit, conn: number): DaemonOptions => ({
    nice: init.nice,
    noCK: init.noCK,
    autoTossVia: init.autoToss
      ? (node) => {
          send({ t: 'session', conn, node: node.idB32 });
          return { stop: async () => true }; // the parent stops its toss when the connection ends
        }
      : undefined,
  });

  const onInit = (init: ChildInit): void => {
    const ctx = childContext(init, send);
    state = { init, ctx };
    if (!init.stdio) return send({ t: 'ready' });
    void serveStdio(ctx, optsFor(init, 0), init.stdio.addr)
      .catch((err) => fatal(errorLine(err)))
      .finally(() => {
        send({ t: 'end', conn: 0 });
        process.disconnect();
      });
  };

  const onConn = (conn: number, addr: string, handle: unknown): void => {
    if (!(handle instanceof net.Socket) || state === null) {
      if (handle instanceof net.Socket) handle.destroy();
      return send({ t: 'end', conn });
    }
    const link = socketLink(handle);
    links.add(link);
    const p = serveConnection(state.ctx, link, addr, optsFor(state.init, conn), checks).finally(() => {
      links.delete(link);
      sessions.delete(p);
      send({ t: 'end', conn });
    });
    sessions.add(p);
  };

  /** A call: the initiator's session over the socket the parent dialled; `called` once it and its checksums are done. */
  const onCall = (m: CallRequest, handle: unknown): void => {
    const node = state?.ctx.cfg.neighbours.get(m.node);
    if (!(handle instanceof net.Socket) || state === null || node === undefined) {
      if (handle instanceof net.Socket) handle.destroy();
      return send({ t: 'called', conn: m.conn, started: false, ok: false });
    }
    const ctx = state.ctx;
    const link = socketLink(handle);
    links.add(link);
    const p = (async () => {
      const params = sessionParams(ctx, { ...m, node, checks }, checks);
      const r = await runInitiator(params, link, m.addr);
      await checks.idle();
      return r;
    })()
      .catch((err) => {
        ctx.log.error('call', [['Node', node.idB32]], err, `Calling ${node.name} (${m.addr})`);
        return { started: true, ok: false };
      })
      .then((r) => {
        links.delete(link);
        sessions.delete(p);
        send({ t: 'called', conn: m.conn, started: r.started, ok: r.ok });
      });
    sessions.add(p);
  };

  const onStop = async (): Promise<void> => {
    // As the single-process daemon's close(): interrupt the running check (its .nock stays, checked next time).
    checks.stop();
    for (const l of links) l.close();
    await Promise.allSettled([...sessions]);
    await checks.idle();
    process.disconnect();
  };

  process.on('message', (raw: unknown, handle: unknown) => {
    let m;
    try {
      m = parseToChild(raw);
    } catch (err) {
      return fatal(`bad message from the parent: ${errorLine(err)}`);
    }
    if ((m.t === 'init') !== (state === null)) return fatal(m.t === 'init' ? 'a second init' : `${m.t} before init`);
    switch (m.t) {
      case 'init':
        return onInit(m);
      case 'conn':
        return onConn(m.conn, m.addr, handle);
      case 'call':
        return onCall(m, handle);
      case 'checks':
        return void checks.idle().then(() => send({ t: 'checked', req: m.req }));
      case 'stop':
        return void onStop();
    }
  });
}
