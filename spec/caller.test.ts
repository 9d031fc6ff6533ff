/**
 * The caller: schedules run under a fake clock with a fake call function
 * that records each call (and lasts as long as the test says, in fake
 * time); when-tx-exists against real queued packets; auto-toss options;
 * node selection; and the command next to nncp-caller (log records for a
 * schedule without future, refusals).
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Neighbour } from '../src/config/types.js';
import { makeContext, type Context } from '../src/context.js';
import { parseCron } from '../src/cron/cronexpr.js';
import { ConfigError } from '../src/errors.js';
import { Logger, type LogRecord } from '../src/log/log.js';
import { NICE_BULK, NICE_NORMAL, NICE_PRIORITY } from '../src/nice.js';
import { autoTossFor, callerNodes, nextFireTime, runCaller, systemClock, type CallNodeOptions, type Clock } from '../src/sp/caller.js';
import { makeNodes, type TestNode } from './helpers/nncp.js';
import { freePort, listening, logRecords, requireNncp, runNncp, runPigeon, startNncp, startPigeon, tmpDir, until } from './helpers/util.js';

process.env.TZ = 'UTC';

// ---------------------------------------------------------------- fake time

/** A clock that moves only when told; sleepers wake in time order. */
class FakeClock implements Clock {
  private waiters: { at: number; wake: () => void }[] = [];
  constructor(private t: number) {}

  now(): Date {
    return new Date(this.t);
  }

  sleepUntil(t: Date, signal?: AbortSignal): Promise<void> {
    if (t.getTime() <= this.t || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve();
      };
      const w = {
        at: t.getTime(),
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.waiters.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Wait (in real time) until `n` sleepers are parked, i.e. every loop is waiting for the clock. */
  async parked(n: number): Promise<void> {
    const until = Date.now() + 5000;
    while (this.waiters.length < n) {
      if (Date.now() > until) throw new Error(`fake clock: ${this.waiters.length} sleepers after 5 s, expected ${n}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setImmediate(r));
  }

  /** Move to `target`, waking sleepers one instant at a time; `loops` sleepers are expected parked between wake-ups. */
  async advanceTo(target: number, loops: number): Promise<void> {
    await this.parked(loops);
    for (;;) {
      const due = this.waiters.filter((w) => w.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      const now = this.waiters.filter((w) => w.at === due.at);
      this.waiters = this.waiters.filter((w) => w.at !== due.at);
      for (const w of now) w.wake();
      await this.parked(loops);
    }
    this.t = target;
  }
}

interface Made {
  node: string;
  at: string;
  opts: CallNodeOptions;
}

/** A call function that records its calls and lasts `duration(node)` seconds of fake time. */
function fakeCall(clock: FakeClock, duration: (node: string) => number = () => 0) {
  const made: Made[] = [];
  const fn = async (_ctx: Context, opts: CallNodeOptions) => {
    made.push({ node: opts.node.name, at: clock.now().toISOString(), opts });
    const d = duration(opts.node.name);
    if (d > 0) await clock.sleepUntil(new Date(clock.now().getTime() + d * 1000));
    return { ok: true };
  };
  return { made, fn };
}

// ---------------------------------------------------------------- nodes and configurations

let root: string;
let nodes: Record<string, TestNode>;

test.before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'pigeon-caller-'));
  nodes = await makeNodes(path.join(root, 'nodes'), ['alice', 'bob', 'carol'], { generator: 'pigeon' });
});

test.after.always(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

interface Setup {
  dir: string;
  cfgPath: string;
  logPath: string;
  ctx: Context;
  /** Debug and human lines the logger printed. */
  printed: string[];
}

/** alice's configuration with these calls (and extra fields) for bob and carol, its own spool and log. */
async function setup(name: string, neigh: { bob?: Record<string, unknown>; carol?: Record<string, unknown> }): Promise<Setup> {
  const dir = path.join(root, name);
  await mkdir(path.join(dir, 'spool'), { recursive: true });
  const raw = structuredClone(nodes.alice.raw);
  raw.spool = path.join(dir, 'spool');
  raw.log = path.join(dir, 'log');
  Object.assign(raw.neigh.bob, neigh.bob);
  Object.assign(raw.neigh.carol, neigh.carol);
  const cfgPath = path.join(dir, 'cfg.hjson');
  await writeFile(cfgPath, JSON.stringify(raw, null, 2));
  const ctx = await makeContext({ cfg: cfgPath, needSelf: true, noprogress: true });
  const printed: string[] = [];
  ctx.log = new Logger({ path: raw.log, debug: true, stderr: { write: (s: string) => printed.push(s) } });
  return { dir, cfgPath, logPath: raw.log, ctx, printed };
}

const T0 = Date.parse('2030-01-01T00:00:03Z');
const at = (secs: number) => new Date(T0 - 3000 + secs * 1000).toISOString();
const count = (lines: string[], s: string) => lines.filter((l) => l.includes(s)).length;

// ---------------------------------------------------------------- scheduling

test('each call fires at its cron times with its own settings', async (t) => {
  const s = await setup('settings', {
    bob: {
      addrs: { lan: '127.0.0.1:5400' },
      calls: [{ cron: '*/10 * * * * * *', nice: 'PRIORITY', xx: 'tx', addr: 'lan', onlinedeadline: 7, maxonlinetime: 30, rxrate: 3, txrate: 4, nock: true }],
    },
    carol: { calls: [{ cron: '*/15 * * * * * *' }] },
  });
  const clock = new FakeClock(T0);
  const call = fakeCall(clock);
  const stop = new AbortController();
  const running = runCaller(s.ctx, { callNode: call.fn, clock, signal: stop.signal });
  await clock.advanceTo(T0 + 32_000, 2);
  t.deepEqual(
    call.made.filter((c) => c.node === 'bob').map((c) => c.at),
    [at(10), at(20), at(30)],
  );
  t.deepEqual(
    call.made.filter((c) => c.node === 'carol').map((c) => c.at),
    [at(15), at(30)],
  );
  const bob = call.made.find((c) => c.node === 'bob')!.opts;
  t.is(bob.node.idB32, nodes.bob.idB32);
  t.like(bob, { addr: '127.0.0.1:5400', nice: NICE_PRIORITY, xx: 'tx', onlineDeadline: 7, maxOnlineTime: 30, rxRate: 3, txRate: 4, noCK: true, autoToss: undefined });
  // A call that says nothing gets the defaults: nice 255, both ways, the node's addresses, no limits.
  const carol = call.made.find((c) => c.node === 'carol')!.opts;
  t.like(carol, { addr: undefined, nice: 255, xx: undefined, onlineDeadline: 10, maxOnlineTime: 0, rxRate: 0, txRate: 0, noCK: false, autoToss: undefined });
  // The reference's debug record for each schedule step.
  t.true(s.printed.some((l) => l.includes('Who: caller-time') && l.includes('Msg: bob node, call 0: 2030-01-01 00:00:40 +0000 UTC')));
  stop.abort();
  await running;
  t.is(call.made.length, 5, 'nothing fires after the stop');
});

test('a call is skipped while another call to the same node is running; other nodes are not held up', async (t) => {
  const s = await setup('busy', {
    bob: { calls: [{ cron: '*/10 * * * * * *', nice: 'NORMAL' }, { cron: '5/10 * * * * * *', nice: 'BULK' }] },
    carol: { calls: [{ cron: '*/10 * * * * * *' }] },
  });
  const clock = new FakeClock(T0);
  const call = fakeCall(clock, () => 22);
  const stop = new AbortController();
  const running = runCaller(s.ctx, { callNode: call.fn, clock, signal: stop.signal });
  await clock.advanceTo(T0 + 80_000, 3);
  // bob: call 1 at :05 (to :27); call 0 busy at :10 and :20, fires at :30 (to :52);
  // call 1 busy at :35 and :45, fires at :55 (to 1:17); call 0 busy at 1:00 and 1:10, fires at 1:20.
  t.deepEqual(
    call.made.filter((c) => c.node === 'bob').map((c) => [c.at, c.opts.nice]),
    [
      [at(5), NICE_BULK],
      [at(30), NICE_NORMAL],
      [at(55), NICE_BULK],
      [at(80), NICE_NORMAL],
    ],
  );
  // carol: its own loop, at :10 while bob is being called, then at the first fire time after each call.
  t.deepEqual(
    call.made.filter((c) => c.node === 'carol').map((c) => c.at),
    [at(10), at(40), at(70)],
  );
  t.is(count(s.printed, 'Msg: bob node, call 0: busy'), 4);
  t.is(count(s.printed, 'Msg: bob node, call 1: busy'), 2);
  t.is(count(s.printed, 'Msg: carol node, call 0: busy'), 0);
  stop.abort();
  await clock.advanceTo(T0 + 200_000, 0);
  await running;
});

test('when-tx-exists calls only when the tx queue holds a packet at or below the call nice; rx-only calls do not check', async (t) => {
  const s = await setup('whentx', {
    bob: { calls: [{ cron: '*/10 * * * * * *', nice: 'NORMAL', 'when-tx-exists': true }] },
    carol: { calls: [{ cron: '*/10 * * * * * *', xx: 'rx', 'when-tx-exists': true }] },
  });
  const clock = new FakeClock(T0);
  const call = fakeCall(clock);
  const stop = new AbortController();
  const running = runCaller(s.ctx, { callNode: call.fn, clock, signal: stop.signal });
  const bobCalls = () => call.made.filter((c) => c.node === 'bob').map((c) => c.at);
  const queue = async (nice: string) => {
    const src = path.join(s.dir, `payload-${nice}`);
    await writeFile(src, `a ${nice} file\n`);
    const res = await runPigeon(['file', '-cfg', s.cfgPath, '-quiet', '-nice', nice, src, 'bob:']);
    t.is(res.code, 0, res.stderr);
  };

  await clock.advanceTo(T0 + 12_000, 2);
  t.deepEqual(bobCalls(), [], 'empty queue: no call');
  t.is(count(s.printed, 'Msg: bob node, call 0: no tx'), 1);
  t.is(count(s.printed, 'Msg: bob node, call 0: checking tx existence'), 1);

  await queue('BULK');
  await clock.advanceTo(T0 + 22_000, 2);
  t.deepEqual(bobCalls(), [], 'only a packet less urgent than the call: no call');

  await queue('NORMAL');
  await clock.advanceTo(T0 + 32_000, 2);
  t.deepEqual(bobCalls(), [at(30)]);
  t.deepEqual(
    call.made.filter((c) => c.node === 'carol').map((c) => c.at),
    [at(10), at(20), at(30)],
  );
  t.is(count(s.printed, 'Msg: carol node, call 0: checking tx existence'), 0);
  stop.abort();
  await running;
});

test('auto-toss options come from the call, OR-ed with the command line flags', async (t) => {
  const s = await setup('autotoss', {
    bob: { calls: [{ cron: '*/10 * * * * * *', nice: 'PRIORITY', autotoss: true, 'autotoss-doseen': true, 'autotoss-nofreq': true }] },
    carol: { calls: [{ cron: '*/10 * * * * * *' }] },
  });
  const clock = new FakeClock(T0);
  const call = fakeCall(clock);
  const stop = new AbortController();
  const running = runCaller(s.ctx, { callNode: call.fn, clock, signal: stop.signal, autoToss: { noExec: true } });
  await clock.advanceTo(T0 + 12_000, 2);
  stop.abort();
  await running;
  const bob = call.made.find((c) => c.node === 'bob')!.opts.autoToss;
  t.is(bob?.node?.idB32, nodes.bob.idB32);
  t.like(bob, { nice: NICE_PRIORITY, doSeen: true, noFile: false, noFreq: true, noExec: true, noTrns: false, noArea: false, noAck: false });
  t.is(call.made.find((c) => c.node === 'carol')!.opts.autoToss, undefined, '-autotoss-noexec alone does not turn tossing on');

  const carol = s.ctx.cfg.byName.get('carol')!;
  const forced = autoTossFor(carol, carol.calls[0], { autoToss: true, noAck: true, doSeen: true });
  t.like(forced, { nice: 255, doSeen: true, noFile: false, noFreq: false, noExec: false, noTrns: false, noArea: false, noAck: true });
});

test('a schedule with no future fire time logs the reference error record and ends', async (t) => {
  const s = await setup('zero', { bob: { calls: [{ cron: '*/10 * * * * * *' }, { cron: '0 0 1 1 * 2020' }] } });
  const clock = new FakeClock(T0);
  const call = fakeCall(clock);
  const stop = new AbortController();
  const running = runCaller(s.ctx, { callNode: call.fn, clock, signal: stop.signal });
  await clock.advanceTo(T0 + 12_000, 1);
  const recs = logRecords(s.logPath);
  const zero = recs.filter((r) => r.who === 'caller');
  t.is(zero.length, 1);
  t.is(zero[0].fields.get('Err'), 'got zero time');
  t.is(zero[0].fields.get('Node'), nodes.bob.idB32);
  t.is(zero[0].fields.get('CallIndex'), '1');
  t.is(zero[0].fields.get('Msg'), 'bob node, call 1');
  t.false(recs.some((r) => r.fields.has('Debug')), 'debug records stay out of the log file');
  t.deepEqual(call.made.map((c) => c.at), [at(10)], 'the other schedule of the node goes on');
  stop.abort();
  await running;

  // Every schedule without a future: runCaller returns by itself.
  const only = await setup('zero-only', { bob: { calls: [{ cron: '0 0 1 1 * 2020' }] }, carol: { calls: [{ cron: '* * 30 2 *' }] } });
  await runCaller(only.ctx, { callNode: fakeCall(clock).fn, clock });
  t.is(logRecords(only.logPath).filter((r) => r.fields.get('Err') === 'got zero time').length, 2);
});

test('stopping waits for the call under way and starts no other', async (t) => {
  const s = await setup('stop', { bob: { calls: [{ cron: '*/10 * * * * * *' }] } });
  const clock = new FakeClock(T0);
  const call = fakeCall(clock, () => 30);
  const stop = new AbortController();
  let done = false;
  const running = runCaller(s.ctx, { callNode: call.fn, clock, signal: stop.signal }).then(() => (done = true));
  await clock.advanceTo(T0 + 15_000, 1);
  stop.abort();
  await new Promise((r) => setTimeout(r, 20));
  t.false(done, 'the call started at :10 is still running');
  await clock.advanceTo(T0 + 100_000, 0);
  await running;
  t.deepEqual(call.made.map((c) => c.at), [at(10)]);
});

test('a bad cron in a call is refused up front, naming the call', async (t) => {
  // The configuration itself is refused when it loads, before any call is scheduled.
  const err = await t.throwsAsync(setup('badcron', { bob: { calls: [{ cron: '*/5 * * * *' }, { cron: '30-10 * * * *' }] } }), { instanceOf: ConfigError });
  t.regex(err?.message ?? '', /neigh\.bob\.calls\[1\]\.cron: .*minute/);
  const res = await runPigeon(['caller', '-cfg', path.join(root, 'badcron', 'cfg.hjson')]);
  t.is(res.code, 1);
  t.regex(res.stderr, /^pigeon caller: [^\n]*neigh\.bob\.calls\[1\]\.cron[^\n]*\n$/);
});

// ---------------------------------------------------------------- pieces

test('callerNodes: all neighbours with calls, or the named ones, which must be callable', async (t) => {
  const s = await setup('select', { bob: { calls: [{ cron: '@daily' }] } });
  t.deepEqual(callerNodes(s.ctx).map((n: Neighbour) => n.name), ['bob']);
  t.is(count(s.printed, 'Msg: carol node has no calls, skipping'), 1);
  t.is(count(s.printed, 'Msg: self node has no calls, skipping'), 1);
  t.deepEqual(callerNodes(s.ctx, ['carol']), []);
  t.deepEqual(callerNodes(s.ctx, [nodes.bob.idB32]).map((n) => n.name), ['bob'], 'by id too');
  t.throws(() => callerNodes(s.ctx, ['nobody']), { instanceOf: ConfigError, message: /unknown node nobody/ });
  const quiet = await setup('select-nonoise', { carol: { noisepub: undefined, calls: [{ cron: '@daily' }] } });
  t.throws(() => callerNodes(quiet.ctx, ['carol']), { instanceOf: ConfigError, message: /carol has no noisepub/ });
});

test('nextFireTime never gives a time that is not in the future (DST gap)', (t) => {
  process.env.TZ = 'America/New_York';
  try {
    // 02:30 on the second Sunday of March does not exist in New York; the
    // reference's cron resolves it to 01:30 EST, and from just after that
    // it gives the same instant again.
    const cron = parseCron('0 30 2 * 3 0#2 *');
    const justAfter = new Date('2027-03-14T06:30:00.500Z');
    t.is(cron.next(justAfter)?.toISOString(), '2027-03-14T06:30:00.000Z');
    t.is(nextFireTime(cron, justAfter)?.toISOString(), '2028-03-12T06:30:00.000Z');
    t.is(nextFireTime(cron, new Date('2027-03-14T06:29:59Z'))?.toISOString(), '2027-03-14T06:30:00.000Z');
  } finally {
    process.env.TZ = 'UTC';
  }
  t.is(nextFireTime(parseCron('0 0 1 1 * 2020'), new Date(T0)), null);
});

test('systemClock.sleepUntil never wakes early and wakes at once when stopped', async (t) => {
  const target = new Date(Date.now() + 80);
  await systemClock.sleepUntil(target);
  t.true(Date.now() >= target.getTime());
  const stop = new AbortController();
  const started = Date.now();
  setTimeout(() => stop.abort(), 20);
  await systemClock.sleepUntil(new Date(Date.now() + 60_000), stop.signal);
  t.true(Date.now() - started < 5000);
});

// ---------------------------------------------------------------- the command, next to nncp-caller

test('pigeon caller logs what nncp-caller logs for schedules without a future, and exits 0', async (t) => {
  if (!requireNncp(t)) return;
  const s = await setup('cli-zero', { bob: { calls: [{ cron: '0 0 1 1 * 2020' }, { cron: '0 0 29 2 * 2021' }] } });
  const refLog = path.join(s.dir, 'ref.log');
  const [mine, ref] = await Promise.all([
    runPigeon(['caller', '-cfg', s.cfgPath, '-quiet'], { timeout: 20_000 }),
    runNncp('nncp-caller', ['-cfg', s.cfgPath, '-log', refLog, '-quiet'], { timeout: 20_000 }),
  ]);
  t.is(ref.code, 0, ref.stderr);
  t.is(mine.code, 0, mine.stderr);
  const shape = (recs: LogRecord[]) =>
    recs
      .map((r) => [...r.fields].filter(([k]) => k !== 'When').map(([k, v]) => `${k}: ${v}`).join('\n'))
      .sort();
  const theirs = shape(logRecords(refLog));
  t.is(theirs.length, 2);
  t.deepEqual(shape(logRecords(s.logPath)), theirs);
});

test('pigeon caller refuses unknown and non-online nodes as nncp-caller does', async (t) => {
  const s = await setup('cli-refuse', { carol: { noisepub: undefined, calls: [{ cron: '@daily' }] } });
  const live = requireNncp(t);
  for (const args of [['nobody'], ['carol']]) {
    const mine = await runPigeon(['caller', '-cfg', s.cfgPath, ...args]);
    t.is(mine.code, 1, args.join(' '));
    t.regex(mine.stderr, /^pigeon caller: [^\n]+\n$/);
    if (live) t.not((await runNncp('nncp-caller', ['-cfg', s.cfgPath, ...args], { timeout: 20_000 })).code, 0);
  }
});

test('pigeon caller calls nncp-daemon at the next fire time, delivers the queued packet, then (when-tx-exists) calls no more', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const port = await freePort();
  const { alice, bob } = await makeNodes(dir, ['alice', 'bob'], {
    neighExtra: (owner) => (owner === 'alice' ? { addrs: { lan: `127.0.0.1:${port}` }, calls: [{ cron: '* * * * * * *', 'when-tx-exists': true, onlinedeadline: 1 }] } : {}),
  });
  const src = path.join(dir, 'f.txt');
  await writeFile(src, 'hello from the caller\n');
  const queued = await runPigeon(['file', '-cfg', alice.cfgPath, '-quiet', src, 'bob:f.txt']);
  t.is(queued.code, 0, queued.stderr);
  const daemon = startNncp(t, 'nncp-daemon', ['-cfg', bob.cfgPath, '-bind', `127.0.0.1:${port}`, '-autotoss', '-quiet']);
  await listening(port, 10_000, 'nncp-daemon to listen');
  const caller = startPigeon(t, ['caller', '-cfg', alice.cfgPath, '-quiet']);
  const delivered = path.join(bob.incoming, 'f.txt');
  await until(() => existsSync(delivered), 20_000, () => `f.txt in bob's incoming (caller: ${caller.stderr()}; daemon: ${daemon.stderr()})`);
  t.is(await readFile(delivered, 'utf8'), 'hello from the caller\n');
  // The queue is empty now: the schedules that follow (every second) make no call.
  await new Promise((r) => setTimeout(r, 3000));
  const started = logRecords(alice.log).filter((r) => r.who === 'call-started');
  t.is(started.length, 1, `calls made: ${started.length}`);
  t.is(caller.child.exitCode, null, `the caller keeps running: ${caller.stderr()}`);
});
