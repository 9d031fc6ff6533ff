/**
 * `pigeon check` (nncp-check): recompute the MTH of queued packets and
 * compare it with their names.
 *
 * Without -nock, every packet of rx/ and tx/ is checked; a mismatch is a
 * logged "checking" error and the packet is left where it is (as the
 * reference leaves it). Unlike the reference, which stops checking a node's
 * tx/ once its rx/ had a bad packet, both queues are always checked so that
 * every bad packet is reported.
 *
 * With -nock, the .nock files of rx/ (received online without checking) are
 * settled by the spool's Partials.check, as the online session settles
 * them: a good one is renamed to its packet name (directory fsynced) and
 * gets its hdr/ file; a bad one stays as it is and is reported on stderr as
 * "<path> checksum mismatch".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { base32Encode } from '../codec/base32.js';
import type { Neighbour } from '../config/types.js';
import type { Context } from '../context.js';
import { mthOfFile, type MthProgress } from '../crypto/mth.js';
import { errorLine } from '../errors.js';
import { shortId } from '../format.js';
import { Progress } from '../progress.js';
import { Partials, type Checked } from '../spool/partial.js';
import { listQuarantine } from '../spool/quarantine.js';
import { listQueue, type QueueEntry } from './stat.js';

/** MTH of a file as Base32, drawing a "check" progress line when enabled. */
async function mthName(ctx: Context, p: string, size: number, label: string): Promise<string> {
  const bar = checkBar(ctx, size, label);
  const digest = await mthOfFile(p, { onProgress: bar.onProgress });
  bar.finish();
  return base32Encode(digest);
}

/** A "check" progress line fed by mthOfFile's progress reports. */
function checkBar(ctx: Context, size: number, label: string): { onProgress: MthProgress; finish(): void } {
  const bar = new Progress({ enabled: ctx.progress, label: `check ${shortId(label)}`, total: size });
  let last = 0;
  return {
    onProgress: (_phase, done) => {
      bar.add(done - last);
      last = done;
    },
    finish: () => bar.finish(),
  };
}

/** Check one packet in rx/ or tx/; null when it is good, else why not. Failures are logged. */
async function checkOne(ctx: Context, node: Neighbour, xx: 'rx' | 'tx', e: QueueEntry): Promise<string | null> {
  const fields = [
    ['XX', xx],
    ['Node', node.idB32],
    ['Pkt', e.id],
    ['FullSize', e.size],
  ] as const;
  const msg = `Checking: ${node.idB32}/${xx}/${e.id}`;
  try {
    const got = await mthName(ctx, e.path, e.size, e.id);
    if (got === e.id) return null;
    ctx.log.error('checking', fields, 'bad', msg);
    return 'checksum mismatch';
  } catch (err) {
    ctx.log.error('checking', fields, errorLine(err), msg);
    return errorLine(err);
  }
}

interface NoCKResult {
  ok: boolean;
  /** Why it is not settled (ok false). */
  reason?: string;
}

/**
 * Settle one rx/<id>.nock file with the spool's Partials.check (verify,
 * rename to rx/<id>, fsync the directory, write hdr/<id>). A bad file is
 * left in place; a failed hdr/ write is logged.
 */
async function checkNoCK(ctx: Context, nodeIdB32: string, e: QueueEntry): Promise<NoCKResult> {
  const bar = checkBar(ctx, e.size, e.id);
  let r: Checked;
  try {
    r = await new Partials(ctx.spool).check(nodeIdB32, e.id, null, { onProgress: bar.onProgress });
  } catch (err) {
    return { ok: false, reason: errorLine(err) };
  } finally {
    bar.finish();
  }
  if (r.hdrError !== undefined) {
    const dst = ctx.spool.packetPath(nodeIdB32, 'rx', e.id);
    ctx.log.error('hdr-write', [['Path', dst]], errorLine(r.hdrError), `Header writing: ${dst}`);
  }
  return { ok: true };
}

export interface CheckOptions {
  /** Only this neighbour. */
  node?: Neighbour;
  /** Settle .nock files instead of checking complete packets. */
  nock?: boolean;
  /** Where "<path> checksum mismatch" lines go (default stderr). */
  report?: (line: string) => void;
  /** Told about each file as it is checked (`check -json` prints these). */
  onItem?: (item: CheckItem) => void | Promise<void>;
}

/** One checked file (`check -json` prints one per line). */
export interface CheckItem {
  node: string;
  /** Base32 id of the neighbour. */
  id: string;
  /** rx, tx, nock (settled with -nock) or quarantine (always bad). */
  queue: 'rx' | 'tx' | 'nock' | 'quarantine';
  pkt: string;
  path: string;
  size: number;
  ok: boolean;
  /** Why it is bad (ok false). */
  error?: string;
}

export interface CheckResult {
  /** Every checked file was good. */
  ok: boolean;
  checked: number;
  /** Paths of bad packets (or .nock files). */
  bad: string[];
  /** Packet ids whose .nock file was settled. */
  settled: string[];
}

/** One pass over the spool. */
export async function check(ctx: Context, opts: CheckOptions = {}): Promise<CheckResult> {
  const report = opts.report ?? ((l: string) => process.stderr.write(l + '\n'));
  const res: CheckResult = { ok: true, checked: 0, bad: [], settled: [] };
  for (const node of ctx.cfg.neighbours.values()) {
    if (opts.node && node.idB32 !== opts.node.idB32) continue;
    if (opts.nock) {
      for (const e of await listQueue(ctx, node.idB32, 'nock')) {
        res.checked++;
        const r = await checkNoCK(ctx, node.idB32, e);
        const p = ctx.spool.nockPath(node.idB32, e.id);
        await opts.onItem?.({ node: node.name, id: node.idB32, queue: 'nock', pkt: e.id, path: p, size: e.size, ok: r.ok, ...(r.ok ? {} : { error: r.reason }) });
        if (r.ok) {
          res.settled.push(e.id);
          continue;
        }
        res.ok = false;
        res.bad.push(p);
        report(`${p} ${r.reason}`);
      }
      continue;
    }
    for (const xx of ['rx', 'tx'] as const) {
      for (const e of await listQueue(ctx, node.idB32, xx)) {
        res.checked++;
        const why = await checkOne(ctx, node, xx, e);
        await opts.onItem?.({ node: node.name, id: node.idB32, queue: xx, pkt: e.id, path: e.path, size: e.size, ok: why === null, ...(why === null ? {} : { error: why }) });
        if (why === null) continue;
        res.ok = false;
        res.bad.push(e.path);
      }
    }
    await checkQuarantine(ctx, node, res, opts);
  }
  return res;
}

/**
 * One pass (seconds 0), or a pass every `seconds` seconds for ever (as
 * -cycle does): the result of the single pass.
 */
export async function checkCycle(ctx: Context, opts: CheckOptions, seconds: number): Promise<CheckResult> {
  for (;;) {
    const res = await check(ctx, opts);
    if (seconds === 0) return res;
    await sleep(seconds * 1000);
  }
}

/** Packets toss quarantined (they failed verification): each is a bad packet, logged as one. */
async function checkQuarantine(ctx: Context, node: Neighbour, res: CheckResult, opts: CheckOptions): Promise<void> {
  for (const q of await listQuarantine(ctx.spool, node.idB32)) {
    const fields = [
      ['XX', 'quarantine'],
      ['Node', node.idB32],
      ['Pkt', q.id],
      ['FullSize', q.size],
    ] as const;
    ctx.log.error('checking', fields, 'quarantined: failed verification when tossed', `Checking: ${node.idB32}/rx/quarantine/${q.id}`);
    res.checked++;
    res.ok = false;
    res.bad.push(q.path);
    await opts.onItem?.({ node: node.name, id: node.idB32, queue: 'quarantine', pkt: q.id, path: q.path, size: q.size, ok: false, error: 'quarantined: failed verification when tossed' });
  }
}
