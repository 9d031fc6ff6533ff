/**
 * Announcing our tx packets to the peer: the INFOs of a session's start
 * (ourInfos, used by prepareSession) and of packets queued while the
 * session lives (TxWatch: a filesystem watch on tx/, changes settled for
 * 200 ms into one scan; without a watch, tx/ is scanned every second).
 * Every packet is announced once per session (the `seen` map).
 *
 * Also watchDir, the directory watch shared with -autotoss.
 */
import fs from 'node:fs';
import { base32Decode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { iBytes } from '../format.js';
import type { Job } from '../spool/spool.js';
import { encodeSpPackets, groupPayloads } from './packets.js';

/** A noticed change in tx/ is announced after this many ms (changes arriving together make one scan). */
const SETTLE_MS = 200;
/** Without a filesystem watch, tx/ is scanned this often. */
const POLL_MS = 1000;

/** The 32 bytes of a packet id (a name that passed isId). */
export function idBytes(id: string): Uint8Array {
  const b = base32Decode(id);
  if (b === null || b.length !== 32) throw new RangeError(`${id} is not a packet id`);
  return b;
}

/** INFO packets for those of `jobs` not yet in `seen` (recorded there), logging sp-infos-tx as the reference does. */
export function ourInfos(ctx: Context, node: Neighbour, jobs: readonly Pick<Job, 'id' | 'size' | 'nice'>[], seen: Map<string, number>): Uint8Array[] {
  const pkts: Uint8Array[] = [];
  let total = 0;
  for (const j of jobs) {
    if (seen.has(j.id)) continue;
    seen.set(j.id, j.nice);
    total += j.size;
    pkts.push(encodeSpPackets([{ t: 'info', nice: j.nice, size: j.size, hash: idBytes(j.id) }]));
    ctx.log.debug('sp-info-our', [['Node', node.idB32], ['Name', j.id], ['Size', j.size]], `Our info: ${node.name}/tx/${j.id} (${iBytes(j.size)})`);
  }
  if (total > 0) {
    ctx.log.info(
      'sp-infos-tx',
      [['XX', 'tx'], ['Node', node.idB32], ['Pkts', pkts.length], ['Size', total]],
      `We have got for ${node.name}: ${pkts.length} packets, ${iBytes(total)}`,
    );
  }
  return pkts;
}

/**
 * Watch a spool directory (made first, mode `dirMode`): `onChange` on every
 * change. Null when it cannot be watched (the caller polls instead); a watch
 * that fails later is closed and reported through `onLost`.
 */
export function watchDir(dir: string, dirMode: number | undefined, onChange: () => void, onLost: () => void): fs.FSWatcher | null {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: dirMode });
    const w = fs.watch(dir, { persistent: false }, onChange);
    w.on('error', () => {
      w.close();
      onLost();
    });
    return w;
  } catch {
    return null;
  }
}

export interface TxWatchOptions {
  ctx: Context;
  node: Neighbour;
  /** Only packets with niceness <= nice are announced. */
  nice: number;
  /** Packets announced so far in this session: id → niceness. */
  seen: Map<string, number>;
  /** New INFOs, grouped into payloads. */
  announce(payloads: Uint8Array[]): void;
  /** A scan of tx/ failed. */
  onError(err: unknown): void;
}

/** Notices packets queued in tx/ while a session lives and announces them. */
export class TxWatch {
  /** tx/ may hold something not announced yet (true at first: whatever came since prepareSession). */
  private dirty = true;
  private watcher: fs.FSWatcher | null = null;
  private settleTimer: NodeJS.Timeout | null = null;
  private scanning = false;
  private stopped = false;
  private lastPoll = Date.now();

  constructor(private readonly o: TxWatchOptions) {}

  /** Start watching tx/ (without a watch, tick() polls). */
  start(): void {
    const { ctx, node } = this.o;
    this.watcher = watchDir(
      ctx.spool.queueDir(node.idB32, 'tx'),
      ctx.spool.dirMode,
      () => {
        this.dirty = true;
        if (this.settleTimer === null) {
          this.settleTimer = setTimeout(() => {
            this.settleTimer = null;
            void this.rescan();
          }, SETTLE_MS);
        }
      },
      () => this.unwatch(),
    );
  }

  /** Called on the session's deadline tick: scans when tx/ changed, or every second without a watch. */
  tick(now: number): void {
    if (this.watcher === null && now - this.lastPoll >= POLL_MS) {
      this.lastPoll = now;
      this.dirty = true;
    }
    if (this.dirty) void this.rescan();
  }

  /** Stop for good: nothing is announced after this. */
  stop(): void {
    this.stopped = true;
    this.unwatch();
  }

  private unwatch(): void {
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    this.watcher?.close();
    this.watcher = null;
  }

  private async rescan(): Promise<void> {
    if (this.stopped || this.scanning) return;
    this.scanning = true;
    this.dirty = false;
    const { ctx, node } = this.o;
    try {
      // Announced packets are left unread: with many queued, a rescan after each change of tx/ (every DONE removes one) read them all.
      const jobs = await ctx.spool.list(node.idB32, 'tx', { nice: this.o.nice, only: (id) => !this.o.seen.has(id) });
      if (this.stopped) return;
      const infos = ourInfos(ctx, node, jobs, this.o.seen);
      if (infos.length > 0) this.o.announce(groupPayloads(infos));
    } catch (err) {
      this.o.onError(err);
    } finally {
      this.scanning = false;
    }
  }
}
