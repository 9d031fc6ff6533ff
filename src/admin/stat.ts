/**
 * `pigeon stat` (nncp-stat): per-node counts and sizes of what waits in the
 * spool, by niceness, and with -pkt one line per packet.
 *
 * It also holds the queue lister the admin commands share. It walks a queue
 * directory in the kernel's directory order (as the reference does, so
 * `-pkt` lines come out in the same order) and picks:
 *   rx / tx   files named by a packet id; the header is read from hdr/<id>
 *             when present, else from the packet, whose hdr/ file is then
 *             written (unless the configuration says nohdr);
 *   nock      rx/<id>.nock files, header read from the file itself;
 *   part      rx/<id>.part files, no header read.
 * Files whose 172-byte header cannot be read are passed over silently; a
 * readable header with a foreign magic number is reported as the reference
 * reports it (a logged "job" error) and passed over too.
 */
import fs, { constants as C } from 'node:fs';
import { base32Encode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { iBytes } from '../format.js';
import { formatNice } from '../nice.js';
import { ENC_HEADER_SIZE } from '../packet/header.js';
import { bytesEqual } from '../codec/bytes.js';
import { MAGIC_ENC, OLD_MAGICS } from '../packet/magic.js';
import { listDir, pooled } from '../spool/atomic.js';
import { listQuarantine } from '../spool/quarantine.js';
import { isId, NOCK_SUFFIX, PART_SUFFIX, partialId, readHead } from '../spool/spool.js';
import { isMissing } from '../errors.js';

export type QueueKind = 'rx' | 'tx' | 'nock' | 'part';

export interface QueueEntry {
  /** Packet id (the name without .nock/.part). */
  id: string;
  path: string;
  /** File size. */
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
  /** Niceness from the header; undefined for .part files. */
  nice?: number;
  /** Base32 sender id from the header; undefined for .part files. */
  sender?: string;
  /** The raw 172 header bytes; undefined for .part files. */
  headerRaw?: Uint8Array;
}

/** The queue directory a kind of entry lives in. */
function queueOf(kind: QueueKind): 'rx' | 'tx' {
  return kind === 'tx' ? 'tx' : 'rx';
}

/** The packet id in a queue file name for that kind of entry, or null. */
function idOf(name: string, kind: QueueKind): string | null {
  if (kind === 'nock') return partialId(name, NOCK_SUFFIX);
  if (kind === 'part') return partialId(name, PART_SUFFIX);
  return isId(name) ? name : null;
}

/** Where the entry of that kind for packet `id` lives. */
function entryPath(ctx: Context, nodeIdB32: string, kind: QueueKind, id: string): string {
  if (kind === 'nock') return ctx.spool.nockPath(nodeIdB32, id);
  if (kind === 'part') return ctx.spool.partPath(nodeIdB32, id);
  return ctx.spool.packetPath(nodeIdB32, kind, id);
}

/** What a header's first bytes say: usable, unreadable (skip silently), or foreign (report). */
export type HeaderVerdict = { ok: true; nice: number; sender: string; recipient: string } | { ok: false; foreign: string | null };

/**
 * Judge 172 header bytes the way the reference's header reader does: too
 * short or a niceness that does not fit a byte means "not readable"; a
 * readable header with a magic number other than the current encrypted
 * packet's is "foreign", with the reason.
 */
export function judgeHeader(raw: Uint8Array): HeaderVerdict {
  if (raw.length < ENC_HEADER_SIZE) return { ok: false, foreign: null };
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const nice = view.getUint32(8);
  if (nice > 255) return { ok: false, foreign: null };
  const magic = raw.subarray(0, 8);
  if (!bytesEqual(magic, MAGIC_ENC.bytes)) {
    const old = OLD_MAGICS.find((m) => bytesEqual(m.bytes, magic));
    if (old) {
      const tag = `NNCP${String.fromCharCode(magic[4])}v${(magic[5] << 16) | (magic[6] << 8) | magic[7]}`;
      return { ok: false, foreign: `${tag} (${old.name}) format is unsupported (used till ${old.tooOld})` };
    }
    return { ok: false, foreign: 'Unknown magic number' };
  }
  return { ok: true, nice, sender: base32Encode(raw.subarray(12, 44)), recipient: base32Encode(raw.subarray(44, 76)) };
}

/**
 * The entries of one queue of a node, in directory order. Never throws for
 * a missing queue (empty list) or for a single unreadable file (skipped).
 */
export async function listQueue(ctx: Context, nodeIdB32: string, kind: QueueKind): Promise<QueueEntry[]> {
  const xx = queueOf(kind);
  const dir = ctx.spool.queueDir(nodeIdB32, xx);
  let names: string[];
  try {
    names = await listDir(dir);
  } catch {
    return [];
  }
  const out: QueueEntry[] = [];
  for (const name of names) {
    const id = idOf(name, kind);
    if (id === null) continue;
    const p = entryPath(ctx, nodeIdB32, kind, id);
    let st;
    try {
      st = await pooled<fs.Stats>((cb) => fs.lstat(p, cb));
    } catch {
      continue; // vanished meanwhile
    }
    if (kind === 'part') {
      try {
        fs.closeSync(await pooled<number>((cb) => fs.open(p, C.O_RDONLY, cb)));
      } catch {
        continue;
      }
      out.push({ id, path: p, size: st.size, mtimeMs: st.mtimeMs });
      continue;
    }
    let raw: Uint8Array | null = null;
    let fromHdr = false;
    if (kind !== 'nock' && !ctx.spool.noHdr) {
      try {
        raw = await readHead(ctx.spool.hdrPath(nodeIdB32, xx, name), ENC_HEADER_SIZE);
        fromHdr = judgeHeader(raw).ok;
      } catch (err) {
        if (!isMissing(err)) continue;
      }
    }
    if (!fromHdr) {
      try {
        raw = await readHead(p, ENC_HEADER_SIZE);
      } catch {
        continue;
      }
    }
    const verdict = judgeHeader(raw!);
    if (!verdict.ok) {
      if (verdict.foreign !== null) {
        ctx.log.error('job', [['XX', xx], ['Name', name], ['Size', st.size]], verdict.foreign, `Job ${xx}/${name} size: ${iBytes(st.size)}`);
      }
      continue;
    }
    ctx.log.debug(
      'job',
      [['XX', xx], ['Node', verdict.sender], ['Name', name], ['Nice', verdict.nice], ['Size', st.size]],
      `Job ${verdict.sender}/${xx}/${name} nice: ${formatNice(verdict.nice)} size: ${iBytes(st.size)}`,
    );
    const headerRaw = Uint8Array.from(raw!.subarray(0, ENC_HEADER_SIZE));
    if (!fromHdr && kind !== 'nock' && !ctx.spool.noHdr) {
      await ctx.spool.writeHdr(nodeIdB32, xx, id, headerRaw).catch(() => {
        // hdr/ files are only a cache: listing goes on without one
      });
    }
    out.push({ id, path: p, size: st.size, mtimeMs: st.mtimeMs, nice: verdict.nice, sender: verdict.sender, headerRaw });
  }
  return out;
}

/** The neighbours a command works on: one (-node) or all, sorted by name as nncp-stat lists them. */
export function nodesByName(ctx: Context, only?: Neighbour): Neighbour[] {
  const all = [...ctx.cfg.neighbours.values()].filter((n) => !only || n.idB32 === only.idB32);
  return all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface StatOptions {
  /** Only this neighbour. */
  node?: Neighbour;
  /** One line per packet too. */
  pkt?: boolean;
  /** Receives each output line (without its newline). */
  out: (line: string) => void | Promise<void>;
}

/** Go's "% 3d" for a count: a sign column (a space), then the digits, at least 3 wide. */
function count3(n: number): string {
  return (' ' + String(n)).padStart(3);
}

interface Tally {
  nums: Map<number, number>;
  bytes: Map<number, number>;
}

function tally(entries: QueueEntry[]): Tally {
  const t: Tally = { nums: new Map(), bytes: new Map() };
  for (const e of entries) {
    t.nums.set(e.nice!, (t.nums.get(e.nice!) ?? 0) + 1);
    t.bytes.set(e.nice!, (t.bytes.get(e.nice!) ?? 0) + e.size);
  }
  return t;
}

function pktLine(xx: string, e: QueueEntry, suffix: string): string {
  return `\t${xx} ${e.id}${suffix} ${iBytes(e.size)} (nice: ${formatNice(e.nice!)})`;
}

/** Print the statistics, in nncp-stat's format. */
export async function stat(ctx: Context, opts: StatOptions): Promise<void> {
  for (const node of nodesByName(ctx, opts.node)) {
    await opts.out(node.name);
    const rx = await listQueue(ctx, node.idB32, 'rx');
    if (opts.pkt) for (const e of rx) await opts.out(pktLine('rx', e, ''));
    const nock = await listQueue(ctx, node.idB32, 'nock');
    if (opts.pkt) for (const e of nock) await opts.out(pktLine('rx', e, NOCK_SUFFIX));
    const part = await listQueue(ctx, node.idB32, 'part');
    if (opts.pkt) for (const e of part) await opts.out(`\trx ${e.id}${PART_SUFFIX} ${iBytes(e.size)}`);
    const tx = await listQueue(ctx, node.idB32, 'tx');
    if (opts.pkt) for (const e of tx) await opts.out(pktLine('tx', e, ''));

    if (part.length > 0) {
      const bytes = part.reduce((s, e) => s + e.size, 0);
      await opts.out(`\tpart: ${iBytes(bytes).padStart(10)}, ${count3(part.length)} pkts`);
    }
    const r = tally(rx);
    const t = tally(tx);
    const n = tally(nock);
    for (let nice = 1; nice <= 255; nice++) {
      if (!r.nums.has(nice) && !t.nums.has(nice) && !n.nums.has(nice)) continue;
      let line =
        `\tnice:${formatNice(nice).padStart(4)}` +
        ` | Rx: ${iBytes(r.bytes.get(nice) ?? 0).padStart(10)}, ${count3(r.nums.get(nice) ?? 0)} pkts` +
        ` | Tx: ${iBytes(t.bytes.get(nice) ?? 0).padStart(10)}, ${count3(t.nums.get(nice) ?? 0)} pkts`;
      if (n.nums.has(nice)) line += ` | NoCK: ${iBytes(n.bytes.get(nice)!).padStart(10)}, ${count3(n.nums.get(nice)!)} pkts`;
      await opts.out(line);
    }
    await statQuarantine(ctx, node.idB32, opts);
  }
}

/**
 * Pigeon's addition, printed only when there is something: the packets
 * toss moved to rx/quarantine/ (with -pkt one line each), then their total.
 */
async function statQuarantine(ctx: Context, nodeIdB32: string, opts: StatOptions): Promise<void> {
  const q = await listQuarantine(ctx.spool, nodeIdB32);
  if (q.length === 0) return;
  if (opts.pkt) for (const e of q) await opts.out(`\tquarantine ${e.id} ${iBytes(e.size)}`);
  const bytes = q.reduce((s, e) => s + e.size, 0);
  await opts.out(`\tquarantine: ${iBytes(bytes).padStart(10)}, ${count3(q.length)} pkts (failed verification; pigeon rm -quarantine removes them)`);
}
