/**
 * Receipt acknowledgements (manual: nncp-ack): an ACK packet's plain path is
 * the raw 32-byte id of the packet received, with no payload. ackRx() makes
 * one for every packet waiting in a node's rx queue (except ACKs themselves)
 * and reports each new packet as "NODE/PKT", the line the reference writes
 * to file descriptor 4; ack() is the whole of nncp-ack.
 */
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import { base32Decode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import { nodeById } from '../config/types.js';
import { node as findNeighbour, type Context } from '../context.js';
import { ConfigError, PigeonError } from '../errors.js';
import { DEFAULT_NICE_FREQ } from '../nice.js';
import { decryptPacket, openPlain } from '../packet/encrypted.js';
import { PktType } from '../packet/header.js';
import { readReused } from '../stream/fileread.js';
import { logTxFailure } from './file.js';
import { parseVia } from './route.js';
import { txPacket, TxResult } from './send.js';

export interface TxAckOptions {
  to: Neighbour;
  /** Base32 id of the packet being acknowledged. */
  pktId: string;
  nice: number;
  minSize?: number;
  via?: Uint8Array[];
  /**
   * An ACK made automatically (toss -gen-ack, carry, xfer -rx of a packet
   * seen before): marked in tx/ack/ before it is committed, so that carry
   * and xfer -tx dequeue it once it is on a medium (nobody ACKs an ACK).
   */
  auto?: boolean;
}

function ackFields(o: TxAckOptions, newPkt: string) {
  return [
    ['Type', 'ack'],
    ['Node', o.to.idB32],
    ['Nice', o.nice],
    ['Pkt', o.pktId],
    ['NewPkt', newPkt],
  ] as const;
}

/** Queue an ACK of packet `pktId` for `to`. */
export async function txAck(ctx: Context, o: TxAckOptions): Promise<TxResult> {
  const raw = base32Decode(o.pktId);
  if (raw === null || raw.length !== 32) {
    throw new PigeonError('EUSAGE', `packet id ${JSON.stringify(o.pktId)} is not a packet id: expected 52 Base32 characters (a 32-byte MTH)`);
  }
  const msg = `ACK to ${o.to.name} of ${o.pktId} is sent`;
  try {
    const res = await txPacket(ctx, {
      to: o.to,
      plain: { type: PktType.Ack, nice: o.nice, path: raw },
      nice: o.nice,
      payload: (async function* () {})(),
      minSize: o.minSize,
      via: o.via,
      beforeCommit: o.auto ? (pktId, hop) => ctx.spool.markAckPacket(hop.idB32, pktId) : undefined,
    });
    ctx.log.info('tx', ackFields(o, res.pktId), msg);
    return res;
  } catch (err) {
    logTxFailure(ctx, ackFields(o, ''), err, msg);
    throw err;
  }
}

/** The line the reference writes to fd 4 for a new ACK packet: "NODEID/PKTID". */
function ackLine(node: Neighbour, pktId: string): string {
  return `${node.idB32}/${pktId}`;
}

/**
 * The plain packet type inside a packet file addressed to us (in rx/ or on
 * a medium), reading (and authenticating) only its first block.
 */
export async function plainTypeOf(ctx: Context, file: string): Promise<PktType> {
  const self = ctx.cfg.self;
  if (!self) throw new ConfigError(`${ctx.cfg.path}: no self section with private keys: cannot read packets`);
  const fh = await open(file, 'r');
  try {
    const dec = await decryptPacket({
      self,
      lookup: (id) => nodeById(ctx.cfg, id),
      input: readReused(fh, { chunk: 256 * 1024 }),
      what: file,
    });
    const { plain } = await openPlain(dec.plaintext, file);
    return plain.type;
  } finally {
    await fh.close();
  }
}

/**
 * Queue an automatic ACK (marked in tx/ack/) of packet `pktId` received
 * from `node`, with the niceness and minimal size of the node's `ack`
 * section (default: NORMAL, no padding).
 */
export function autoAck(ctx: Context, node: Neighbour, pktId: string): Promise<TxResult> {
  return txAck(ctx, { to: node, pktId, nice: node.ack?.nice ?? DEFAULT_NICE_FREQ, minSize: node.ack?.minSize, auto: true });
}

interface AckRxOptions {
  nodes: Neighbour[];
  nice: number;
  minSize?: number;
  /** Called with "NODEID/PKTID" for every ACK packet queued. */
  onCreated?: (line: string) => void;
}

/**
 * ACK every packet in the rx queues of `nodes`, sent directly or by the
 * nodes' configured via (the reference ignores -via here). Returns false
 * when some packet could not be read (logged; the others are still
 * acknowledged).
 */
async function ackRx(ctx: Context, o: AckRxOptions): Promise<boolean> {
  let ok = true;
  for (const node of o.nodes) {
    const { jobs, skipped } = await ctx.spool.scan(node.idB32, 'rx');
    for (const s of skipped) {
      ok = false;
      ctx.log.error('ack-read-read', [['Node', node.idB32], ['Pkt', s.name]], s.reason, `ACKing ${node.name}/${s.name}: reading ${s.path}`);
    }
    for (const job of jobs) {
      const sender = nodeById(ctx.cfg, job.header.sender);
      const senderName = sender?.name ?? job.sender;
      const les = [['Node', job.sender], ['Pkt', job.id]] as const;
      const msg = `ACKing ${senderName}/${job.id}`;
      if (!sender) {
        ok = false;
        ctx.log.error('ack-read', les, 'unknown node', msg);
        continue;
      }
      let type: PktType;
      try {
        type = await plainTypeOf(ctx, job.path);
      } catch (err) {
        ok = false;
        ctx.log.error('ack-read-unmarshal', les, err, `${msg}: unmarshal`);
        continue;
      }
      if (type === PktType.Ack) {
        ctx.log.info('ack-read-if-ack', les, `${msg}: it is ACK, skipping`);
        continue;
      }
      const res = await txAck(ctx, { to: node, pktId: job.id, nice: o.nice, minSize: o.minSize });
      o.onCreated?.(ackLine(node, res.pktId));
    }
  }
  return ok;
}

export interface AckOptions {
  /** Every neighbour's rx queue. */
  all?: boolean;
  /** These neighbours' rx queues (comma list of names or ids). */
  node?: string;
  /** Only this packet (with exactly one `node`). */
  pkt?: string;
  /** The -via flag, used with `pkt` only (as the reference). */
  via?: string;
  nice: number;
  minSize?: number;
  /** Called with "NODEID/PKTID" for every ACK packet queued. */
  onCreated?: (line: string) => void;
}

/** nncp-ack: -all, -node NODE[,...] or -node NODE -pkt PKT. False when some packet could not be read. */
export async function ack(ctx: Context, o: AckOptions): Promise<boolean> {
  let nodes: Neighbour[] = [];
  if (o.node) nodes = o.node.split(',').map((n) => findNeighbour(ctx, n));
  if (o.all) {
    if (nodes.length > 0) throw new PigeonError('EUSAGE', 'give either -all or -node, not both');
    nodes = [...ctx.cfg.neighbours.values()];
  } else if (nodes.length === 0) {
    throw new PigeonError('EUSAGE', 'name the node whose packets to acknowledge: -node NODE[,...], or -all');
  }
  if (o.pkt) {
    if (nodes.length !== 1) throw new PigeonError('EUSAGE', '-pkt needs exactly one -node');
    const res = await txAck(ctx, { to: nodes[0], pktId: o.pkt, nice: o.nice, minSize: o.minSize, via: parseVia(ctx, o.via) });
    o.onCreated?.(ackLine(nodes[0], res.pktId));
    return true;
  }
  return ackRx(ctx, { nodes, nice: o.nice, minSize: o.minSize, onCreated: o.onCreated });
}

/** Where the reference lists new ACK packets. */
const ACKS_FD = 4;

function fdFlags(fd: number): number | null {
  try {
    const m = /^flags:\s*([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m ? parseInt(m[1], 8) : null;
  } catch {
    return null;
  }
}

/**
 * True when file descriptor 4 was handed to us open for writing (`4>acks`,
 * `4>&1`). Node's runtime opens descriptors of its own (event loop pipes,
 * eventfds) that may land on 4 when the caller left it closed; those are
 * told apart: anonymous inodes, read-only ends, or pipes whose read end is
 * also ours. Where /proc is missing, nothing is written.
 */
function callerFd(fd: number): boolean {
  const flags = fdFlags(fd);
  if (flags === null || (flags & 3) === 0) return false;
  let target: string;
  try {
    target = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  if (target.startsWith('anon_inode:')) return false;
  if (target.startsWith('pipe:')) {
    for (const other of fs.readdirSync('/proc/self/fd')) {
      if (Number(other) === fd) continue;
      try {
        if (fs.readlinkSync(`/proc/self/fd/${other}`) !== target) continue;
      } catch {
        continue;
      }
      const f = fdFlags(Number(other));
      if (f !== null && (f & 3) === 0) return false; // we hold its read end: an internal pipe
    }
  }
  return true;
}

/**
 * What `ack` does with each "NODE/PKT" line: written to `fd` (4) when the
 * caller handed it to us open for writing, else dropped.
 */
export function ackFdWriter(fd = ACKS_FD): (line: string) => void {
  if (!callerFd(fd)) return () => {};
  return (line) => {
    try {
      fs.writeSync(fd, line + '\n');
    } catch {
      // like the reference: a closed or broken fd 4 is not an error
    }
  };
}
