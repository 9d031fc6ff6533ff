/**
 * Received packets finished in the background, in groups (issue 11): a
 * session hands over each packet whose last chunk arrived and goes on with
 * the next payload, while the packets that completed meanwhile are made
 * durable together (Partials.finish: fsync each .part, rename, one fsync
 * of rx/). Each outcome then goes to `onFinished` (which sends the DONE),
 * in the order the packets completed. Finishing one packet at a time
 * inside the frame loop cost two fsync round trips per packet; a group
 * costs two for all of its packets.
 *
 * At most `limit` packets wait or finish at once: add() resolves when
 * there is room again, so a fast peer is slowed down to the disk's pace
 * (and the descriptors held open stay bounded).
 */
import type { Finished, PartialReceive, Partials } from '../spool/partial.js';

export interface RxFinisherOptions {
  partials: Partials;
  /** Told each outcome once its group is done (its errors are its own: it must not throw). */
  onFinished: (f: Finished) => void | Promise<void>;
  /** Packets waiting or finishing at most (add() waits beyond). */
  limit?: number;
  /** Packets finished together at most. */
  group?: number;
}

/** Packets a session holds open waiting or finishing at most. */
export const FINISH_LIMIT = 128;
/**
 * Packets finished together at most: enough to share the fsync of rx/ and
 * journal commits, few enough that DONEs keep flowing to the peer (a peer
 * with a short onlinedeadline hangs up when none comes for that long).
 */
export const FINISH_GROUP = 32;

export class RxFinisher {
  private readonly waiting: PartialReceive[] = [];
  /** Packets handed over and not yet through onFinished. */
  private count = 0;
  private running: Promise<void> | null = null;
  private readonly roomWaiters: (() => void)[] = [];
  private readonly limit: number;
  private readonly group: number;

  constructor(private readonly o: RxFinisherOptions) {
    this.limit = Math.max(1, o.limit ?? FINISH_LIMIT);
    this.group = Math.max(1, o.group ?? FINISH_GROUP);
  }

  /** Packets waiting or being finished. */
  get size(): number {
    return this.count;
  }

  /** Hand over a complete receive; resolves once fewer than the limit are in hand. */
  async add(rx: PartialReceive): Promise<void> {
    this.count++;
    this.waiting.push(rx);
    this.running ??= this.loop();
    while (this.count >= this.limit) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  /** Resolves once everything handed over went through onFinished. */
  async drain(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const group = this.waiting.splice(0, this.group);
        let results: Finished[];
        try {
          results = await this.o.partials.finish(group);
        } catch (err) {
          results = group.map((rx) => ({ rx, failed: 'sync', err }));
        }
        // Each is told at once, in order (what it does before its first await, such as queueing a DONE, keeps that order); their own waits (hdr/ files) overlap.
        await Promise.all(
          results.map(async (r) => {
            try {
              await this.o.onFinished(r);
            } catch {
              // onFinished reports its own failures
            }
            this.count--;
          }),
        );
        for (const w of this.roomWaiters.splice(0)) w();
      }
    } finally {
      this.running = null;
    }
  }
}
