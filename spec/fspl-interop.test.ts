/**
 * pigeon fspl against the reference fspl 1.2 (Debian's filespooler), both
 * ways: jobs prepared by one are queued and processed by the other, in
 * sequence order whatever order they arrive in; the header bytes are
 * fspl's; listings, job environments and the --on-error, --order-by and
 * --decoder behaviours agree.
 */
import test from 'ava';
import { gzipSync } from 'node:zlib';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeMsgpack } from '../src/fspl/msgpack.js';
import { encodeJobHeader, FIXED_LEN, parseBody, parseFixed } from '../src/fspl/jobfile.js';
import { tmpDir } from './helpers/nncp.js';
import { requireFspl, runFspl, type FsplImpl, type FsplRun } from './helpers/fspl.js';

const IMPLS: [FsplImpl, FsplImpl][] = [
  ['fspl', 'pigeon'],
  ['pigeon', 'fspl'],
];

/** A command for queue-process/stdin-process: logs "SEQ:payload" to LOG, fails when the payload says "fail". */
function recorder(log: string): string[] {
  return ['/bin/sh', '--', '-c', `p=$(cat); echo "$FSPL_SEQ:$p" >> ${log}; [ "$p" != fail ]`];
}

function ok(t: { is: (a: unknown, b: unknown, m?: string) => void }, r: FsplRun, what: string): FsplRun {
  t.is(r.code, 0, `${what}: ${r.stderr}`);
  return r;
}

function split(job: Buffer): { header: ReturnType<typeof parseBody>; headerLen: number } {
  const len = parseFixed(job.subarray(0, FIXED_LEN));
  return { header: parseBody(job.subarray(0, FIXED_LEN), job.subarray(FIXED_LEN, FIXED_LEN + len)), headerLen: FIXED_LEN + len };
}

async function jobNames(q: string): Promise<string[]> {
  return (await readdir(path.join(q, 'jobs'))).filter((n) => /^fspl-.*\.fspl$/.test(n)).sort();
}

/** Prepare jobs 1..n with `impl` (payload "jobN", or "fail" for the numbers in `failing`). */
async function prepareJobs(impl: FsplImpl, dir: string, n: number, failing: number[] = []): Promise<Buffer[]> {
  const jobs: Buffer[] = [];
  for (let i = 1; i <= n; i++) {
    const r = await runFspl(impl, ['prepare', '-s', path.join(dir, `seq-${impl}`), '-i', '-'], { input: failing.includes(i) ? 'fail' : `job${i}` });
    if (r.code !== 0) throw new Error(`${impl} prepare: ${r.stderr}`);
    jobs.push(r.stdout);
  }
  return jobs;
}

test('prepare: fspl\'s bytes, given its time stamp; pigeon prepare makes the same header but for the time', async (t) => {
  if (!requireFspl(t)) return;
  const dir = await tmpDir(t);
  const env = { FSPL_SET_B: '1', FSPL_SET_A: 'two words', FSPL_SET_UNI: 'é\nü', FSPL_SET_: 'empty name' };
  const params = ['p1', 'p 2', '-h', '', 'ü'];
  const payload = Buffer.from('payload bytes\n');
  const made: Record<FsplImpl, Buffer> = {} as Record<FsplImpl, Buffer>;
  for (const impl of ['fspl', 'pigeon'] as const) {
    await writeFile(path.join(dir, `seq-${impl}`), '41\n');
    made[impl] = ok(t, await runFspl(impl, ['prepare', '-s', path.join(dir, `seq-${impl}`), '-i', '-', '--', ...params], { input: payload, env }), impl).stdout;
    t.is(await readFile(path.join(dir, `seq-${impl}`), 'utf8'), '42\n', `${impl} advanced its seqfile`);
  }
  const f = split(made.fspl);
  const p = split(made.pigeon);
  t.is(f.header.seq, 41n);
  t.deepEqual({ ...p.header, ctimeSecs: 0n, ctimeNanos: 0 }, { ...f.header, ctimeSecs: 0n, ctimeNanos: 0 });
  // Our encoder, fed fspl's header (its time stamp included), gives fspl's bytes exactly.
  t.deepEqual(Buffer.from(encodeJobHeader(f.header)), made.fspl.subarray(0, f.headerLen));
  // pigeon's own output, with fspl's time stamp put in, too.
  t.deepEqual(Buffer.from(encodeJobHeader({ ...p.header, ctimeSecs: f.header.ctimeSecs, ctimeNanos: f.header.ctimeNanos })), made.fspl.subarray(0, f.headerLen));
  t.deepEqual(made.pigeon.subarray(p.headerLen), payload);
  t.deepEqual(made.fspl.subarray(f.headerLen), payload);
  t.true(decodeMsgpack(made.pigeon.subarray(FIXED_LEN, p.headerLen)) instanceof Map);
  // NOP and Fail jobs, and "-s -", too.
  for (const kind of ['prepare-nop', 'prepare-fail']) {
    const a = split(ok(t, await runFspl('fspl', [kind, '-s', '-']), kind).stdout);
    const b = split(ok(t, await runFspl('pigeon', [kind, '-s', '-']), kind).stdout);
    t.deepEqual({ ...b.header, ctimeSecs: 0n, ctimeNanos: 0 }, { ...a.header, ctimeSecs: 0n, ctimeNanos: 0 }, kind);
  }
});

for (const [maker, runner] of IMPLS) {
  test(`${maker} prepares, ${runner} queues and processes, strictly in order though jobs arrive 3, 1, 4, 2`, async (t) => {
    if (!requireFspl(t)) return;
    const dir = await tmpDir(t);
    const q = path.join(dir, 'q');
    const log = path.join(dir, 'log');
    const jobs = await prepareJobs(maker, dir, 4);
    ok(t, await runFspl(runner, ['queue-init', '-q', q]), 'queue-init');
    const arrive = async (n: number) => ok(t, await runFspl(runner, ['queue-write', '-q', q], { input: jobs[n - 1] }), `queue-write ${n}`);
    const processQ = async () => ok(t, await runFspl(runner, ['queue-process', '-q', q, ...recorder(log)]), 'queue-process');
    const logged = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);

    await arrive(3);
    await processQ();
    t.deepEqual(await logged(), [], 'job 3 waits for 1 and 2');
    await arrive(1);
    await processQ();
    t.deepEqual(await logged(), ['1:job1'], 'job 1 runs, 3 still waits for 2');
    await arrive(4);
    await arrive(2);
    // The listing is the same from either program.
    const ls = ok(t, await runFspl(runner, ['queue-ls', '-q', q]), 'queue-ls').stdout.toString();
    t.is(ok(t, await runFspl(maker, ['queue-ls', '-q', q]), 'queue-ls').stdout.toString(), ls);
    t.deepEqual(ls.split('\n').slice(1, -1).map((l) => l.split(/\s+/)[0]), ['2', '3', '4']);
    await processQ();
    t.deepEqual(await logged(), ['1:job1', '2:job2', '3:job3', '4:job4']);
    t.deepEqual(await jobNames(q), [], 'processed jobs are deleted');
    t.is(await readFile(path.join(q, 'nextseq'), 'utf8'), '5\n');
  });

  test(`${maker} prepares with params and FSPL_SET_, ${runner} runs it: queue-info and the job's environment agree with fspl's`, async (t) => {
    if (!requireFspl(t)) return;
    const dir = await tmpDir(t);
    const q = path.join(dir, 'q');
    const job = ok(t, await runFspl(maker, ['prepare', '-s', '-', '-i', '-', '--', 'jp1', 'jp 2'], { input: 'data', env: { FSPL_SET_COLOUR: 'blue' } }), 'prepare').stdout;
    ok(t, await runFspl('fspl', ['queue-init', '-q', q]), 'queue-init');
    ok(t, await runFspl(runner, ['queue-write', '-q', q], { input: job }), 'queue-write');
    const [name] = await jobNames(q);
    // queue-info prints the same variables from both programs (relative -q, as given).
    const info = ok(t, await runFspl('fspl', ['queue-info', '-q', 'q', '-j', '1'], { cwd: dir }), 'fspl queue-info').stdout.toString();
    t.is(ok(t, await runFspl('pigeon', ['queue-info', '-q', 'q', '-j', '1'], { cwd: dir }), 'pigeon queue-info').stdout.toString(), info);
    t.regex(info, new RegExp(`^FSPL_SEQ=1\nFSPL_CTIME_SECS=\\d+\nFSPL_CTIME_NANOS=\\d+\nFSPL_CTIME_RFC3339_UTC=\\S+Z\nFSPL_CTIME_RFC3339_LOCAL=\\S+\nFSPL_JOB_FILENAME=${name}\nFSPL_JOB_QUEUEDIR=q\nFSPL_JOB_FULLPATH=q/jobs/${name}\nFSPL_PARAM_1=jp1\nFSPL_PARAM_2=jp 2\nFSPL_SET_COLOUR=blue\n$`));
    t.is(ok(t, await runFspl(runner, ['stdin-info'], { input: job }), 'stdin-info').stdout.toString(), ok(t, await runFspl(maker, ['stdin-info'], { input: job }), 'stdin-info').stdout.toString());
    // The command sees those variables, our params, and the job's params only with --allow-job-params.
    const envOut = path.join(dir, 'env');
    const show = ['/bin/sh', '--', '-c', `{ echo "args:$*"; env | grep ^FSPL_ | sort; cat; } > ${envOut}`, 'sh', 'mine'];
    const r = ok(t, await runFspl(runner, ['queue-process', '-q', 'q', '--allow-job-params', '--never-delete', ...show], { cwd: dir }), 'queue-process');
    t.is(r.stderr, '');
    const seen = await readFile(envOut, 'utf8');
    t.true(seen.startsWith('args:mine jp1 jp 2\n'), seen);
    const infoSorted = info.split('\n').filter(Boolean).sort().join('\n');
    t.is(seen.slice(seen.indexOf('\n') + 1), `${infoSorted}\ndata`);
    t.deepEqual(await jobNames(q), [name], '--never-delete keeps the job');
    // Without --allow-job-params: a warning, and only our params.
    const r2 = ok(t, await runFspl(runner, ['stdin-process', ...show], { input: job }), 'stdin-process');
    t.regex(r2.stderr, /WARN.*--allow-job-params/);
    const seen2 = await readFile(envOut, 'utf8');
    t.true(seen2.startsWith('args:mine\n'), seen2);
    t.false(seen2.includes('FSPL_JOB_'), 'stdin-process sets no FSPL_JOB_ variables');
  });

  test(`--on-error Retry, Leave and Delete: ${runner} treats ${maker}'s jobs (and Fail jobs) as fspl does`, async (t) => {
    if (!requireFspl(t)) return;
    const dir = await tmpDir(t);
    const jobs = await prepareJobs(maker, dir, 4, [2]);
    const fail = ok(t, await runFspl(maker, ['prepare-fail', '-s', path.join(dir, `seq-${maker}`)]), 'prepare-fail').stdout; // job 5
    const last = (await prepareJobs(maker, path.join(dir), 6)).slice(5); // job 6 (seqfile continues)
    const q0 = path.join(dir, 'q0');
    ok(t, await runFspl('fspl', ['queue-init', '-q', q0]), 'queue-init');
    for (const j of [...jobs, fail, ...last]) ok(t, await runFspl('fspl', ['queue-write', '-q', q0], { input: j }), 'queue-write');
    let copies = 0;
    const outcome = async (impl: FsplImpl, flags: string[]) => {
      const q = path.join(dir, `q${++copies}`);
      await cp(q0, q, { recursive: true });
      const log = path.join(q, 'log');
      const r = await runFspl(impl, ['queue-process', '-q', q, ...flags, ...recorder(log)]);
      return {
        code: r.code,
        next: await readFile(path.join(q, 'nextseq'), 'utf8'),
        left: (await jobNames(q)).length,
        ran: await readFile(log, 'utf8').catch(() => ''),
      };
    };
    for (const flags of [[], ['--on-error', 'Leave'], ['--on-error', 'delete'], ['--on-error', 'Delete', '--never-delete'], ['-n', '1'], ['--order-by', 'Timestamp', '--on-error', 'Leave']]) {
      const want = await outcome('fspl', flags);
      const got = await outcome(runner, flags);
      t.deepEqual(got, want, flags.join(' ') || '(defaults)');
    }
  });

  test(`--decoder: ${maker}'s gzip-compressed jobs are listed and processed by ${runner} with -d 'gzip -dc'`, async (t) => {
    if (!requireFspl(t)) return;
    const dir = await tmpDir(t);
    const q = path.join(dir, 'q');
    const log = path.join(dir, 'log');
    const jobs = await prepareJobs(maker, dir, 3);
    ok(t, await runFspl(runner, ['queue-init', '-q', q]), 'queue-init');
    for (const n of [2, 3, 1]) ok(t, await runFspl(maker, ['queue-write', '-q', q], { input: gzipSync(jobs[n - 1]) }), 'queue-write');
    const plain = ok(t, await runFspl(runner, ['queue-ls', '-q', q]), 'queue-ls').stdout.toString();
    t.is(plain.split('\n').length, 2, 'without the decoder no job is readable (and that is no error)');
    const ls = ok(t, await runFspl(runner, ['queue-ls', '-q', q, '-d', 'gzip -dc']), 'queue-ls -d').stdout.toString();
    t.is(ls, ok(t, await runFspl(maker, ['queue-ls', '-q', q, '--decoder=gzip -dc']), 'queue-ls -d').stdout.toString());
    t.is(ls.split('\n').length, 5);
    t.is(ok(t, await runFspl(runner, ['queue-payload', '-q', q, '-j', '2', '-d', 'gzip -dc']), 'queue-payload').stdout.toString(), 'job2');
    ok(t, await runFspl(runner, ['queue-process', '-q', q, '-d', 'gzip -dc', ...recorder(log)]), 'queue-process');
    t.is(await readFile(log, 'utf8'), '1:job1\n2:job2\n3:job3\n');
  });

  test(`--order-by Timestamp: ${runner} runs ${maker}'s jobs by creation time, ignoring and keeping nextseq`, async (t) => {
    if (!requireFspl(t)) return;
    const dir = await tmpDir(t);
    const q = path.join(dir, 'q');
    const log = path.join(dir, 'log');
    const a = await prepareJobs(maker, path.join(dir), 2);
    // A second sender (its own seqfile) whose job 1 was made after the first sender's jobs.
    const b = ok(t, await runFspl(maker, ['prepare', '-s', '-', '-i', '-'], { input: 'other' }), 'prepare').stdout;
    ok(t, await runFspl(runner, ['queue-init', '-q', q]), 'queue-init');
    for (const j of [b, a[1], a[0]]) ok(t, await runFspl(runner, ['queue-write', '-q', q], { input: j }), 'queue-write');
    ok(t, await runFspl(runner, ['queue-process', '-q', q, '--order-by', 'timestamp', ...recorder(log)]), 'queue-process');
    t.is(await readFile(log, 'utf8'), '1:job1\n2:job2\n1:other\n');
    t.is(await readFile(path.join(q, 'nextseq'), 'utf8'), '1\n');
    t.deepEqual(await jobNames(q), []);
  });
}

test('queue-info and queue-process refuse two files holding one sequence number, as fspl does; queue-ls lists both', async (t) => {
  if (!requireFspl(t)) return;
  const dir = await tmpDir(t);
  const q = path.join(dir, 'q');
  const [job] = await prepareJobs('fspl', dir, 1);
  ok(t, await runFspl('fspl', ['queue-init', '-q', q]), 'queue-init');
  for (let i = 0; i < 2; i++) ok(t, await runFspl('fspl', ['queue-write', '-q', q], { input: job }), 'queue-write');
  for (const impl of ['fspl', 'pigeon'] as const) {
    t.is(ok(t, await runFspl(impl, ['queue-ls', '-q', q]), 'queue-ls').stdout.toString().split('\n').length, 4, impl);
    t.is((await runFspl(impl, ['queue-info', '-q', q, '-j', '1'])).code, 1, `${impl} queue-info`);
    const r = await runFspl(impl, ['queue-process', '-q', q, '/bin/true']);
    t.is(r.code, 1, `${impl} queue-process`);
  }
  const r = await runFspl('pigeon', ['queue-process', '-q', q, '/bin/true']);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /both hold job 1; remove the one that should not run/);
});
