/**
 * Multicast discovery (MCD), as NNCP 8.8.2 does it.
 *
 * An announcement is one UDP datagram of 40 bytes (XDR of two fixed-size
 * fields): the magic "NNCPD" 0 0 1, then the sender's 32-byte node id. A
 * daemon sends it to [ff02::4e4e:4350]:5400 on each interface whose name
 * matches an `mcd-send` regexp, from its -bind port, at once and then every
 * INTERVAL seconds; the datagram's source (link-local address, port) is thus
 * where the daemon answers. A listener (`mcd-listen` interfaces) joins the
 * group on each matching interface and learns `[fe80::...%IFACE]:PORT` for
 * every known neighbour it hears; a learned address is forgotten two
 * minutes after it was last heard (as the reference).
 *
 * The codec is pure (encodeMcd/decodeMcd); the rest faces sockets.
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { nodeById, type Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { errorLine, PigeonError } from '../errors.js';
import { joinHostPort, splitHostPort } from './call.js';

/** "NNCPD" 0 0 1: the reference's MCD magic (MagicNNCPDv1). */
export const MCD_MAGIC = Uint8Array.of(0x4e, 0x4e, 0x43, 0x50, 0x44, 0, 0, 1);
/** The link-scope group ("NNCP" in hex) and port announcements go to. */
export const MCD_GROUP = 'ff02::4e4e:4350';
export const MCD_PORT = 5400;
/** Size of an announcement: magic and node id. */
export const MCD_SIZE = MCD_MAGIC.length + 32;
/** How long a learned address is kept after it was last heard. */
export const MCD_ADDR_LIFETIME_MS = 2 * 60 * 1000;

/** The announcement of node `id` (32 bytes). */
export function encodeMcd(id: Uint8Array): Buffer {
  if (id.length !== 32) throw new PigeonError('EUSAGE', `MCD: a node id is 32 bytes, got ${id.length}`);
  const b = Buffer.alloc(MCD_SIZE);
  b.set(MCD_MAGIC, 0);
  b.set(id, MCD_MAGIC.length);
  return b;
}

/** The sender's node id of an announcement, or null when it is not one (size or magic). */
export function decodeMcd(b: Uint8Array): Uint8Array | null {
  if (b.length !== MCD_SIZE) return null;
  for (let i = 0; i < MCD_MAGIC.length; i++) if (b[i] !== MCD_MAGIC[i]) return null;
  return Uint8Array.prototype.slice.call(b, MCD_MAGIC.length);
}

/** Compile config regexps (Go's, unanchored: a match anywhere in the name), naming the key on a bad one. */
function compile(key: string, res: Iterable<string>): RegExp[] {
  return [...res].map((s) => {
    try {
      return new RegExp(s);
    } catch (err) {
      throw new PigeonError('ECONFIG', `${key}: bad interface regexp ${JSON.stringify(s)}: ${errorLine(err)}`);
    }
  });
}

/** Names of this host's interfaces (those with an address), in the system's order. */
export function interfaceNames(): string[] {
  return Object.keys(os.networkInterfaces());
}

/** The interfaces to send on, with the interval of the first mcd-send regexp matching each. */
export function mcdSendInterfaces(mcdSend: ReadonlyMap<string, number>, names = interfaceNames()): [string, number][] {
  const entries = [...mcdSend];
  const res = compile('mcd-send', mcdSend.keys());
  const out: [string, number][] = [];
  for (const name of names) {
    const i = res.findIndex((re) => re.test(name));
    if (i >= 0) out.push([name, entries[i][1]]);
  }
  return out;
}

/** The interfaces to listen on: those matching an mcd-listen regexp. */
export function mcdListenInterfaces(mcdListen: readonly string[], names = interfaceNames()): string[] {
  const res = compile('mcd-listen', mcdListen);
  return names.filter((n) => res.some((re) => re.test(n)));
}

/** The port of a -bind address (HOST:PORT, [V6]:PORT). */
export function bindPort(bind: string): number {
  return splitHostPort(bind).port;
}

/** One sending socket: bound to the daemon's port, multicasting on one interface. */
async function senderSocket(iface: string, port: number): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: 'udp6', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ port, address: '::' }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  try {
    sock.setMulticastInterface(`::%${iface}`);
  } catch (err) {
    sock.close();
    throw err;
  }
  return sock;
}

function send(sock: dgram.Socket, pkt: Buffer, iface: string): Promise<void> {
  return new Promise((resolve, reject) => sock.send(pkt, MCD_PORT, `${MCD_GROUP}%${iface}`, (err) => (err ? reject(err) : resolve())));
}

function sendError(iface: string, port: number, err: unknown): PigeonError {
  return new PigeonError('EIO', `sending to [${MCD_GROUP}%${iface}]:${MCD_PORT} from port ${port}: ${errorLine(err)}`, { cause: err });
}

/**
 * `daemon -mcd-once`: one announcement on each mcd-send interface. Every
 * interface is tried; failures are logged and the result is false if any
 * failed (the reference stops at the first one).
 */
export async function mcdSendOnce(ctx: Context, port: number): Promise<boolean> {
  const self = ctx.cfg.self!;
  const pkt = encodeMcd(self.id);
  let ok = true;
  for (const [iface] of mcdSendInterfaces(ctx.cfg.mcdSend)) {
    const les: [string, string][] = [['If', iface]];
    try {
      const sock = await senderSocket(iface, port);
      try {
        await send(sock, pkt, iface);
      } finally {
        sock.close();
      }
      ctx.log.debug('mcd', les, `MCD on ${iface}/${MCD_PORT}/${port}: sent`);
    } catch (err) {
      ok = false;
      ctx.log.error('mcd', les, sendError(iface, port, err), `MCD on ${iface}/${MCD_PORT}/${port}`);
    }
  }
  return ok;
}

/**
 * The daemon's announcements: on each mcd-send interface, at once and then
 * every interval; a failed send is logged and tried again next time.
 * Returns a stop function.
 */
export function startMcdSend(ctx: Context, port: number): () => void {
  const self = ctx.cfg.self!;
  const pkt = encodeMcd(self.id);
  const timers: NodeJS.Timeout[] = [];
  const socks = new Map<string, dgram.Socket>();
  let stopped = false;
  const tick = async (iface: string): Promise<void> => {
    const les: [string, string][] = [['If', iface]];
    try {
      let sock = socks.get(iface);
      if (!sock) {
        sock = await senderSocket(iface, port);
        if (stopped) return void sock.close();
        socks.set(iface, sock);
      }
      await send(sock, pkt, iface);
    } catch (err) {
      if (!stopped) ctx.log.error('mcd', les, sendError(iface, port, err), `MCD on ${iface}/${MCD_PORT}/${port}`);
    }
  };
  for (const [iface, interval] of mcdSendInterfaces(ctx.cfg.mcdSend)) {
    void tick(iface);
    const t = setInterval(() => void tick(iface), interval * 1000);
    t.unref();
    timers.push(t);
  }
  return () => {
    stopped = true;
    for (const t of timers) clearInterval(t);
    for (const s of socks.values()) s.close();
    socks.clear();
  };
}

interface Learned {
  addr: string;
  seen: number;
}

/**
 * Listens for announcements on the mcd-listen interfaces and keeps the
 * learned addresses of known neighbours.
 */
export class McdListener {
  private readonly socks: dgram.Socket[] = [];
  private readonly learned = new Map<string /* idB32 */, Map<string /* addr */, Learned>>();
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly ctx: Context,
    private readonly now: () => number,
  ) {}

  /** Start listening on the interfaces (default: those matching the config's mcd-listen). Failures to listen are logged. */
  static async start(ctx: Context, opts: { ifaces?: string[]; now?: () => number } = {}): Promise<McdListener> {
    const l = new McdListener(ctx, opts.now ?? Date.now);
    for (const iface of opts.ifaces ?? mcdListenInterfaces(ctx.cfg.mcdListen)) {
      try {
        l.socks.push(await l.listen(iface));
      } catch (err) {
        ctx.log.error('mcd', [['If', iface]], err, `MCD: can not listen on ${iface} ([${MCD_GROUP}%${iface}]:${MCD_PORT})`);
      }
    }
    return l;
  }

  private async listen(iface: string): Promise<dgram.Socket> {
    const sock = dgram.createSocket({ type: 'udp6', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      // Bound to the group with the interface as zone: the kernel ties the socket to that interface.
      sock.bind({ port: MCD_PORT, address: `${MCD_GROUP}%${iface}` }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    try {
      sock.addMembership(MCD_GROUP, `::%${iface}`);
    } catch (err) {
      sock.close();
      throw err;
    }
    sock.on('error', (err) => this.ctx.log.error('mcd', [['If', iface]], err, `MCD on ${iface}`));
    sock.on('message', (msg, rinfo) => this.heard(iface, msg, rinfo.address, rinfo.port));
    return sock;
  }

  /** One datagram from ADDRESS:PORT on IFACE (public for tests). */
  heard(iface: string, msg: Uint8Array, address: string, port: number): void {
    const id = decodeMcd(msg);
    if (!id) {
      this.ctx.log.debug('mcd', [['If', iface], ['Addr', address]], `MCD on ${iface}: not an announcement from ${address}, ignored`);
      return;
    }
    const node = nodeById(this.ctx.cfg, id);
    if (!node) {
      this.ctx.log.debug('mcd', [['If', iface], ['Addr', address]], `MCD on ${iface}: an unknown node at ${address}, ignored`);
      return;
    }
    const host = address.includes('%') || !address.toLowerCase().startsWith('fe80:') ? address : `${address}%${iface}`;
    const addr = joinHostPort(host, port);
    let m = this.learned.get(node.idB32);
    if (!m) this.learned.set(node.idB32, (m = new Map()));
    if (!m.has(addr)) this.ctx.log.info('mcd-add', [['If', iface], ['Node', node.idB32]], `MCD discovered ${node.name}'s address: ${addr}`);
    m.set(addr, { addr, seen: this.now() });
    for (const w of this.waiters) w();
  }

  /** Addresses of the node heard within the last two minutes, the most recently heard first. */
  addrs(node: Neighbour): string[] {
    const m = this.learned.get(node.idB32);
    if (!m) return [];
    const now = this.now();
    for (const [k, v] of m) if (now - v.seen > MCD_ADDR_LIFETIME_MS) m.delete(k);
    return [...m.values()].sort((a, b) => b.seen - a.seen).map((l) => l.addr);
  }

  /** Wait up to `seconds` for an address of the node; [] if none came. */
  async wait(node: Neighbour, seconds: number): Promise<string[]> {
    let have = this.addrs(node);
    if (have.length > 0 || seconds <= 0) return have;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        if (this.addrs(node).length === 0) return;
        finish();
      };
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(finish, seconds * 1000);
      this.waiters.add(done);
    });
    have = this.addrs(node);
    return have;
  }

  close(): void {
    for (const s of this.socks) s.close();
    this.socks.length = 0;
    this.waiters.clear();
  }
}

/**
 * `call -mcd-wait N`: listen on the mcd-listen interfaces up to N seconds
 * for the node's announcement; its learned addresses, which the call uses
 * instead of any other (as the reference). None: an error (exit 1).
 */
export async function waitMcd(ctx: Context, node: Neighbour, seconds: number): Promise<string[]> {
  const ifaces = mcdListenInterfaces(ctx.cfg.mcdListen);
  const l = await McdListener.start(ctx, { ifaces });
  try {
    const addrs = await l.wait(node, seconds);
    if (addrs.length === 0) {
      const where = ifaces.length ? `on ${ifaces.join(', ')}` : `on no interface (mcd-listen ${JSON.stringify(ctx.cfg.mcdListen)} in ${ctx.cfg.path} matches none)`;
      throw new PigeonError('EIO', `no MCD announcement of ${node.name} within ${seconds} s ${where}; is its daemon running with mcd-send?`);
    }
    return addrs;
  } finally {
    l.close();
  }
}
