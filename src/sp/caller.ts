/**
 * The caller (nncp-caller): runs the `calls` schedules of the neighbours'
 * configuration. Each call of each node is its own loop:
 *
 *   next fire time of its cron (local time zone) → sleep until then →
 *   if a call to that node is already running: skip this time →
 *   with when-tx-exists (and not rx-only): skip unless the node's tx queue
 *   holds a packet with niceness <= the call's →
 *   call the node with the call's nice, xx, addr, deadlines, rates, nock
 *   and auto-toss options (a command-line -autotoss* flag turns the
 *   matching option on for every call).
 *
 * A schedule with no future fire time logs an error record and its loop
 * ends; the caller returns when every loop has ended (or when stopped).
 *
 * Beyond the reference: a fire time that does not lie in the future (the
 * reference's cron can give one when a DST change skips the scheduled wall
 * time) fires at most once, instead of again and again.
 *
 * With multicast discovery (opts.mcd: mcd-listen in the config), the
 * addresses learned for the node in the last two minutes are tried before
 * the call's own, unless the call has mcd-ignore.
 *
 * The call itself is a function passed in (`callNode` of src/sp/call.ts in
 * the program), and so is the clock, so the scheduler can be tested alone.
 * All calls share one CheckQueue: received packets are checksummed one at a
 * time, as by the reference's single checker.
 */
import type { CallConfig, Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { parseCron, type Cron } from '../cron/cronexpr.js';
import { ConfigError, PigeonError } from '../errors.js';
import type { LogFields } from '../log/log.js';
import type { TossOptions, TossSwitches } from '../toss/toss.js';
import type { CallOptions } from './call.js';
import { CheckQueue } from './checkqueue.js';

/** What a call needs: src/sp/call.ts's options. */
export type CallNodeOptions = CallOptions;

export type CallNodeFn = (ctx: Context, opts: CallNodeOptions) => Promise<{ ok: boolean }>;

/** Time as the scheduler sees it (a fake one in tests). */
export interface Clock {
  now(): Date;
  /** Resolve at `t` or later (never earlier), or as soon as `signal` fires. */
  sleepUntil(t: Date, signal?: AbortSignal): Promise<void>;
}

/** Longest single timer: the wall clock is looked at again after it (suspend, clock changes). */
const MAX_SLEEP_MS = 60_000;

export const systemClock: Clock = {
  now: () => new Date(),
  async sleepUntil(t, signal) {
    for (;;) {
      const left = t.getTime() - Date.now();
      if (left <= 0 || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, MAX_SLEEP_MS));
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  },
};

/** The command line's -autotoss* flags; each one is OR'ed with the call's own. */
export interface AutoTossFlags extends TossSwitches {
  autoToss?: boolean;
}

export interface CallerOptions {
  /** The nodes to call (see callerNodes); default: every neighbour with calls. */
  nodes?: Neighbour[];
  callNode: CallNodeFn;
  autoToss?: AutoTossFlags;
  clock?: Clock;
  /** Stops the schedules: no call starts after it fires; calls under way are awaited. */
  signal?: AbortSignal;
  /** Addresses learned by multicast discovery (an McdListener on the mcd-listen interfaces); tried first unless the call has mcd-ignore. */
  mcd?: { addrs(node: Neighbour): string[] };
}

function nodeFields(node: Neighbour, index: number): LogFields {
  return [
    ['Node', node.idB32],
    ['CallIndex', index],
  ];
}

/**
 * The nodes `pigeon caller NODE…` would call: the named ones (each must be
 * known and have a noisepub), or all neighbours; those without calls are
 * left out with a debug record, as the reference does.
 */
export function callerNodes(ctx: Context, names: readonly string[] = []): Neighbour[] {
  const picked: Neighbour[] = [];
  const candidates = names.length > 0 ? names.map((n) => namedNode(ctx, n)) : [...ctx.cfg.neighbours.values()];
  for (const node of candidates) {
    if (node.calls.length === 0) {
      ctx.log.debug('caller-no-calls', [['Node', node.idB32]], `${node.name} node has no calls, skipping`);
      continue;
    }
    picked.push(node);
  }
  return picked;
}

function namedNode(ctx: Context, name: string): Neighbour {
  const node = ctx.cfg.byName.get(name) ?? ctx.cfg.neighbours.get(name);
  if (!node) throw new ConfigError(`unknown node ${name}: not in neigh of ${ctx.cfg.path}`);
  if (!node.noisePub) throw new ConfigError(`node ${name} has no noisepub in ${ctx.cfg.path}: it cannot be called online`);
  return node;
}

/** The cron of every call of `nodes`, parsed up front: a bad expression is a ConfigError naming the call. */
export function parseCalls(ctx: Context, nodes: readonly Neighbour[]): Map<CallConfig, Cron> {
  const crons = new Map<CallConfig, Cron>();
  for (const node of nodes) {
    node.calls.forEach((call, i) => {
      try {
        crons.set(call, parseCron(call.cron));
      } catch (err) {
        if (!(err instanceof PigeonError)) throw err;
        throw new ConfigError(`${ctx.cfg.path}: neigh.${node.name}.calls[${i}].cron: ${err.message}`);
      }
    });
  }
  return crons;
}

/** How far ahead to look for a future fire time when the cron gives a past one. */
const PROBE_STEP_MS = 60_000;
const PROBE_LIMIT = 3 * 24 * 60;

/**
 * The next fire time strictly after `now`, or null when there is none.
 * When the cron's answer is not in the future (a DST gap), later starting
 * points are tried, a minute apart, for up to three days.
 */
export function nextFireTime(cron: Cron, now: Date): Date | null {
  let t = cron.next(now);
  for (let i = 1; t !== null && t.getTime() <= now.getTime(); i++) {
    if (i > PROBE_LIMIT) return null;
    t = cron.next(new Date(now.getTime() + i * PROBE_STEP_MS));
  }
  return t;
}

/** Go's time.Time.String() for a local time, for the debug records. */
function goTimeString(t: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const off = -t.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  let zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(t).find((x) => x.type === 'timeZoneName')?.value ?? '';
  if (off === 0 && (zone === 'GMT' || zone === 'UTC' || zone === '')) zone = 'UTC';
  const frac = t.getMilliseconds() ? `.${p(t.getMilliseconds(), 3).replace(/0+$/, '')}` : '';
  return (
    `${p(t.getFullYear(), 4)}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}:${p(t.getSeconds())}${frac}` +
    ` ${sign}${p(Math.floor(a / 60))}${p(a % 60)} ${zone}`
  );
}

/** Auto-toss options for a call, or undefined when neither the call nor the command line asks for it. */
export function autoTossFor(node: Neighbour, call: CallConfig, flags: AutoTossFlags = {}): TossOptions | undefined {
  if (!call.autoToss && !flags.autoToss) return undefined;
  return {
    node,
    nice: call.nice,
    doSeen: call.autoTossDoSeen || !!flags.doSeen,
    noFile: call.autoTossNoFile || !!flags.noFile,
    noFreq: call.autoTossNoFreq || !!flags.noFreq,
    noExec: call.autoTossNoExec || !!flags.noExec,
    noTrns: call.autoTossNoTrns || !!flags.noTrns,
    noArea: call.autoTossNoArea || !!flags.noArea,
    noAck: call.autoTossNoACK || !!flags.noAck,
    genAck: call.autoTossGenAck || !!flags.genAck,
  };
}

/** Does the node's tx queue hold a packet with niceness <= nice? */
async function txExists(ctx: Context, node: Neighbour, nice: number): Promise<boolean> {
  return (await ctx.spool.list(node.idB32, 'tx', { nice })).length > 0;
}

/** Run the schedules until each has no future fire time, or until opts.signal fires. */
export async function runCaller(ctx: Context, opts: CallerOptions): Promise<void> {
  const nodes = opts.nodes ?? callerNodes(ctx);
  const crons = parseCalls(ctx, nodes);
  const clock = opts.clock ?? systemClock;
  const busy = new Set<string>();
  const checks = new CheckQueue();

  const loop = async (node: Neighbour, index: number, call: CallConfig, cron: Cron): Promise<void> => {
    const fields = nodeFields(node, index);
    const what = `${node.name} node, call ${index}`;
    while (!opts.signal?.aborted) {
      const t = nextFireTime(cron, clock.now());
      if (t === null) {
        ctx.log.error('caller', fields, 'got zero time', what);
        return;
      }
      ctx.log.debug('caller-time', fields, `${what}: ${goTimeString(t)}`);
      await clock.sleepUntil(t, opts.signal);
      if (opts.signal?.aborted) return;
      if (busy.has(node.idB32)) {
        ctx.log.debug('caller-busy', fields, `${what}: busy`);
        continue;
      }
      busy.add(node.idB32);
      try {
        await fire(node, call, fields, what);
      } catch (err) {
        ctx.log.error('caller', fields, err, what);
      } finally {
        busy.delete(node.idB32);
      }
    }
  };

  const fire = async (node: Neighbour, call: CallConfig, fields: LogFields, what: string): Promise<void> => {
    if (call.whenTxExists && call.xx !== 'rx') {
      ctx.log.debug('caller', fields, `${what}: checking tx existence`);
      if (!(await txExists(ctx, node, call.nice))) {
        ctx.log.debug('caller-no-tx', fields, `${what}: no tx`);
        return;
      }
    }
    await opts.callNode(ctx, {
      node,
      addr: call.addr,
      nice: call.nice,
      xx: call.xx,
      onlineDeadline: call.onlineDeadline,
      maxOnlineTime: call.maxOnlineTime,
      rxRate: call.rxRate,
      txRate: call.txRate,
      noCK: call.noCK,
      autoToss: autoTossFor(node, call, opts.autoToss),
      checks,
      mcdAddrs: call.mcdIgnore ? undefined : opts.mcd?.addrs(node),
    });
  };

  const loops: Promise<void>[] = [];
  for (const node of nodes) node.calls.forEach((call, i) => loops.push(loop(node, i, call, crons.get(call)!)));
  await Promise.all(loops);
}
