/**
 * What a session takes before the handshake answers: the node's rx/tx
 * locks and our first INFOs. The daemon prepares between reading the
 * caller's handshake message and answering it, so a second session with a
 * node is refused there; the caller prepares before dialling out.
 */
import { PigeonError } from '../errors.js';
import type { SpoolLock } from '../spool/lock.js';
import { groupPayloads } from './packets.js';
import type { SessionParams } from './session.js';
import { ourInfos } from './txwatch.js';

/** Locks and our first INFOs, taken before the handshake answers. */
export interface Prepared {
  locks: SpoolLock[];
  /** Our announced packets: id → niceness. */
  seen: Map<string, number>;
  /** Our INFO packets, grouped into payloads of at most SP_MAX_PAYLOAD bytes. */
  infoPayloads: Uint8Array[];
  release(): void;
}

/**
 * Take the node's rx/tx locks (as the reference: rx unless -tx or -list, tx
 * unless -rx or -list) and collect our INFOs. Throws (after logging the
 * reference's lockdir-flock record) when a lock is held.
 */
export async function prepareSession(p: SessionParams): Promise<Prepared> {
  const { ctx, node } = p;
  await ctx.spool.ensureQueue(node.idB32, 'rx');
  const locks: SpoolLock[] = [];
  const release = (): void => {
    for (const l of locks.splice(0)) l.release();
  };
  const wanted: ('rx' | 'tx')[] = p.listOnly ? [] : p.xx === 'rx' ? ['rx'] : p.xx === 'tx' ? ['tx'] : ['rx', 'tx'];
  for (const which of wanted) {
    try {
      locks.push(await ctx.spool.lock(node.idB32, which));
    } catch (err) {
      release();
      const lp = ctx.spool.lockPath(node.idB32, which);
      const busy = err instanceof PigeonError && err.code === 'ELOCKED';
      ctx.log.error('lockdir-flock', [['Path', lp]], busy ? 'resource temporarily unavailable' : err, `Locking directory: locking ${lp}`);
      throw err;
    }
  }
  const seen = new Map<string, number>();
  let infoPayloads: Uint8Array[] = [];
  if (wanted.includes('tx')) {
    try {
      const jobs = await ctx.spool.list(node.idB32, 'tx', { nice: p.nice });
      infoPayloads = groupPayloads(ourInfos(ctx, node, jobs, seen));
    } catch (err) {
      release();
      throw err;
    }
  }
  return { locks, seen, infoPayloads, release };
}
