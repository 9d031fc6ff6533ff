/**
 * The spool's status as data: per neighbour, what waits in each queue
 * (counts, bytes, by niceness, the oldest packet), its last call and its
 * recent errors from the log. `pigeon stat -json` prints it one neighbour
 * per line, `pigeon stat -html` renders it as a page (html.ts), and library
 * users call spoolStatus(). The field names are documented in README
 * ("Output for scripts") and stay stable: fields may be added, never renamed.
 */
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { formatNice } from '../nice.js';
import { readLog, type LogRecord } from '../log/log.js';
import { listQuarantine } from '../spool/quarantine.js';
import { NOCK_SUFFIX, PART_SUFFIX } from '../spool/spool.js';
import { listQueue, nodesByName, type QueueEntry } from './stat.js';

/** Packets and bytes of one queue. */
export interface QueueTotals {
  pkts: number;
  bytes: number;
}

/** One file waiting in the spool. */
export interface PacketStatus {
  /** rx, tx, nock (rx/ID.nock), part (rx/ID.part) or quarantine (rx/quarantine/ID). */
  queue: 'rx' | 'tx' | 'nock' | 'part' | 'quarantine';
  id: string;
  /** The file's name in its directory (ID, ID.nock, ID.part). */
  name: string;
  size: number;
  /** Niceness 1..255 from the header; null for .part and quarantined files. */
  nice: number | null;
  /** Niceness as nncp prints it (B, N+2, ...), or null. */
  niceName: string | null;
  /** The file's modification time, ISO 8601 UTC. */
  mtime: string;
}

/** Totals of one niceness level. */
export interface NiceTotals {
  nice: number;
  niceName: string;
  rx: QueueTotals;
  tx: QueueTotals;
  nock: QueueTotals;
}

/** A log record about a neighbour. */
export interface LogEvent {
  /** The record's When, as written (RFC 3339). */
  when: string;
  /** The record's Who (call-finished, rx, ...). */
  who: string;
  msg: string;
  /** The error, when the record has one. */
  err?: string;
}

export interface NodeStatus {
  /** The neighbour's name in the configuration. */
  node: string;
  /** Its Base32 id. */
  id: string;
  rx: QueueTotals;
  tx: QueueTotals;
  nock: QueueTotals;
  part: QueueTotals;
  quarantine: QueueTotals;
  /** Rx/Tx/NoCK totals per niceness present, lowest (most urgent) first. */
  nice: NiceTotals[];
  /** Modification time of the oldest file in any queue (ISO 8601), or null when all are empty. */
  oldest: string | null;
  /** The last call-started/call-finished record of this neighbour, or null (no log, or never called). */
  lastCall: LogEvent | null;
  /** The most recent records with an error about this neighbour, newest last (at most `errors` of them). */
  errors: LogEvent[];
  /** Every file, only when asked for (stat -json -pkt). */
  packets?: PacketStatus[];
}

export interface StatusOptions {
  /** Only this neighbour. */
  node?: Neighbour;
  /** List every packet too. */
  pkt?: boolean;
  /** How many recent errors per neighbour (default 5). */
  errors?: number;
  /** Read the log for last calls and errors (default true). */
  log?: boolean;
}

const zero = (): QueueTotals => ({ pkts: 0, bytes: 0 });
const add = (t: QueueTotals, size: number): void => {
  t.pkts++;
  t.bytes += size;
};

interface LogFacts {
  lastCall: Map<string, LogEvent>;
  errors: Map<string, LogEvent[]>;
}

function eventOf(rec: LogRecord): LogEvent {
  const ev: LogEvent = { when: rec.whenRaw, who: rec.who, msg: rec.fields.get('Msg') ?? '' };
  const err = rec.fields.get('Err');
  if (err !== undefined) ev.err = err;
  return ev;
}

/** One streaming pass over the log, keeping per node its last call and its last `keep` errors. */
async function logFacts(logPath: string, keep: number): Promise<LogFacts> {
  const facts: LogFacts = { lastCall: new Map(), errors: new Map() };
  if (logPath.startsWith('FD:')) return facts;
  try {
    for await (const rec of readLog(logPath)) {
      const node = rec.fields.get('Node');
      if (node === undefined) continue;
      if (rec.who === 'call-started' || rec.who === 'call-finished') facts.lastCall.set(node, eventOf(rec));
      if (rec.fields.has('Err') && keep > 0) {
        const list = facts.errors.get(node) ?? [];
        list.push(eventOf(rec));
        if (list.length > keep) list.shift();
        facts.errors.set(node, list);
      }
    }
  } catch {
    // no log yet, or unreadable: the queues are still worth showing
  }
  return facts;
}

function packetOf(queue: PacketStatus['queue'], e: { id: string; size: number; mtimeMs: number; nice?: number }, suffix = ''): PacketStatus {
  const nice = e.nice ?? null;
  return { queue, id: e.id, name: e.id + suffix, size: e.size, nice, niceName: nice === null ? null : formatNice(nice), mtime: new Date(e.mtimeMs).toISOString() };
}

/** The status of one neighbour. */
async function nodeStatus(ctx: Context, node: Neighbour, facts: LogFacts, pkt: boolean): Promise<NodeStatus> {
  const q: Record<'rx' | 'tx' | 'nock' | 'part', QueueEntry[]> = {
    rx: await listQueue(ctx, node.idB32, 'rx'),
    nock: await listQueue(ctx, node.idB32, 'nock'),
    part: await listQueue(ctx, node.idB32, 'part'),
    tx: await listQueue(ctx, node.idB32, 'tx'),
  };
  const quarantined = await listQuarantine(ctx.spool, node.idB32);
  const st: NodeStatus = {
    node: node.name,
    id: node.idB32,
    rx: zero(),
    tx: zero(),
    nock: zero(),
    part: zero(),
    quarantine: zero(),
    nice: [],
    oldest: null,
    lastCall: facts.lastCall.get(node.idB32) ?? null,
    errors: facts.errors.get(node.idB32) ?? [],
  };
  const byNice = new Map<number, NiceTotals>();
  let oldest = Infinity;
  for (const kind of ['rx', 'nock', 'part', 'tx'] as const) {
    for (const e of q[kind]) {
      add(st[kind], e.size);
      oldest = Math.min(oldest, e.mtimeMs);
      if (kind === 'part' || e.nice === undefined) continue;
      let n = byNice.get(e.nice);
      if (!n) byNice.set(e.nice, (n = { nice: e.nice, niceName: formatNice(e.nice), rx: zero(), tx: zero(), nock: zero() }));
      add(n[kind], e.size);
    }
  }
  for (const e of quarantined) {
    add(st.quarantine, e.size);
    oldest = Math.min(oldest, e.mtimeMs);
  }
  st.nice = [...byNice.values()].sort((a, b) => a.nice - b.nice);
  st.oldest = oldest === Infinity ? null : new Date(oldest).toISOString();
  if (pkt) {
    st.packets = [
      ...q.rx.map((e) => packetOf('rx', e)),
      ...q.nock.map((e) => packetOf('nock', e, NOCK_SUFFIX)),
      ...q.part.map((e) => packetOf('part', e, PART_SUFFIX)),
      ...q.tx.map((e) => packetOf('tx', e)),
      ...quarantined.map((e) => packetOf('quarantine', e)),
    ];
  }
  return st;
}

/**
 * The status of every neighbour (or one), sorted by name, handed to `each`
 * as it is made (so `stat -json` streams), and returned.
 */
export async function spoolStatus(ctx: Context, opts: StatusOptions = {}, each?: (s: NodeStatus) => void | Promise<void>): Promise<NodeStatus[]> {
  const facts = opts.log === false ? { lastCall: new Map(), errors: new Map() } : await logFacts(ctx.cfg.log, opts.errors ?? 5);
  const out: NodeStatus[] = [];
  for (const node of nodesByName(ctx, opts.node)) {
    const s = await nodeStatus(ctx, node, facts, opts.pkt ?? false);
    out.push(s);
    if (each) await each(s);
  }
  return out;
}
