/**
 * pigeon fspl on its own (no reference needed): the MessagePack and job
 * header codecs, streaming, atomic queue-write, resuming after kill -9,
 * the queue-process policies, and one-line errors.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { encodeJobHeader, JobFormatError, parseBody, parseFixed, FIXED_LEN, type JobHeader } from '../src/fspl/jobfile.js';
import { decodeMsgpack, MsgWriter } from '../src/fspl/msgpack.js';
import { queueInit, queueWrite } from '../src/fspl/queue.js';
import { PIGEON_JS, tmpDir } from './helpers/nncp.js';
import { runFspl } from './helpers/fspl.js';

const pigeon = (args: string[], opts: { input?: string | Uint8Array; cwd?: string } = {}) => runFspl('pigeon', args, opts);
const utf8 = (s: string) => new TextEncoder().encode(s);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function header(over: Partial<JobHeader> = {}): JobHeader {
  return { seq: 7n, ctimeSecs: 1651970311n, ctimeNanos: 425412511, kind: 'Command', params: [utf8('a')], env: [[utf8('K'), utf8('v')]], ...over };
}

function parse(b: Uint8Array): JobHeader {
  const len = parseFixed(b.subarray(0, FIXED_LEN));
  return parseBody(b.subarray(0, FIXED_LEN), b.subarray(FIXED_LEN, FIXED_LEN + len));
}

async function jobFiles(q: string): Promise<string[]> {
  return (await readdir(path.join(q, 'jobs'))).filter((n) => /^fspl-.*\.fspl$/.test(n));
}

test('msgpack: integers in their shortest form, as rmp writes them; any width decodes', (t) => {
  const cases: [bigint, string][] = [
    [0n, '00'], [127n, '7f'], [128n, 'cc80'], [255n, 'ccff'], [256n, 'cd0100'], [65535n, 'cdffff'],
    [65536n, 'ce00010000'], [0xffffffffn, 'ceffffffff'], [0x100000000n, 'cf0000000100000000'], [0xffffffffffffffffn, 'cfffffffffffffffff'],
  ];
  for (const [n, want] of cases) {
    t.is(hex(new MsgWriter().uint(n).bytes()), want, String(n));
    const back = decodeMsgpack(Buffer.from(want, 'hex'));
    t.is(BigInt(back as number | bigint), n);
  }
  t.is(decodeMsgpack(Buffer.from('cd0001', 'hex')), 1);
  t.is(hex(new MsgWriter().array(16).bytes()), 'dc0010');
  t.is(hex(new MsgWriter().str('seq').bytes()), 'a3736571');
  t.throws(() => decodeMsgpack(Buffer.from('92 01', 'hex')));
  t.throws(() => decodeMsgpack(Buffer.from('0101', 'hex')));
  t.throws(() => decodeMsgpack(Buffer.from('ca00000000', 'hex')), { message: /unsupported type/ });
});

test('job header: round trip for Command, NOP and Fail; corruption is refused', (t) => {
  for (const h of [header(), header({ kind: 'NOP', params: [], env: [] }), header({ kind: 'Fail', params: [], env: [], seq: 0xffffffffffffffffn })]) {
    t.deepEqual(parse(encodeJobHeader(h)), h);
  }
  const good = encodeJobHeader(header());
  const flip = (at: number) => {
    const b = Uint8Array.from(good);
    b[at] ^= 1;
    return b;
  };
  t.throws(() => parse(flip(0)), { instanceOf: JobFormatError, message: /magic/ });
  t.throws(() => parse(flip(13)), { instanceOf: JobFormatError });
  t.throws(() => parse(flip(40)), { instanceOf: JobFormatError, message: /body CRC/ });
  t.throws(() => parse(good.subarray(0, 20)), { instanceOf: JobFormatError, message: /truncated/ });
});

test('prepare streams: a 512 MiB payload passes through in bounded memory', async (t) => {
  if (!existsSync('/usr/bin/time')) {
    t.log('SKIP memory bound: /usr/bin/time is not installed');
    t.pass();
    return;
  }
  const r = spawnSync('bash', ['-c', `head -c 512M /dev/zero | /usr/bin/time -f 'maxrss=%M' ${process.execPath} ${PIGEON_JS} fspl prepare -s - -i - | wc -c`], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const size = Number(r.stdout.trim()) - 512 * 1024 * 1024;
  t.true(size > FIXED_LEN && size < 100, `header of ${size} bytes + payload`);
  const kb = Number(/maxrss=(\d+)/.exec(r.stderr)?.[1]);
  t.true(kb < 256 * 1024, `max RSS ${kb} KiB`);
});

test('queue-write is atomic: a failing source leaves no job and no temporary file; a good one appears whole', async (t) => {
  const dir = await tmpDir(t);
  const q = path.join(dir, 'q');
  await queueInit(q);
  async function* failing() {
    yield Buffer.alloc(1 << 20, 1);
    throw new Error('sender went away');
  }
  await t.throwsAsync(queueWrite(q, failing()), { message: /cannot write a job into .*: sender went away/ });
  t.deepEqual(await readdir(path.join(q, 'jobs')), []);
  const job = Buffer.concat([encodeJobHeader(header()), Buffer.alloc(3 << 20, 2)]);
  const name = await queueWrite(q, [job.subarray(0, 100), job.subarray(100)].values() as unknown as AsyncIterable<Uint8Array>);
  t.regex(name, /^fspl-[0-9a-f-]{36}\.fspl$/);
  t.deepEqual(await readdir(path.join(q, 'jobs')), [name]);
  t.true((await readFile(path.join(q, 'jobs', name))).equals(job));
  await t.throwsAsync(queueWrite(path.join(dir, 'nope'), [job].values() as unknown as AsyncIterable<Uint8Array>), { message: /is not a queue .*queue-init -q/ });
});

test('queue-write killed mid-stream (kill -9): no job appears; queue-ls and queue-process ignore the leftover', async (t) => {
  const dir = await tmpDir(t);
  const q = path.join(dir, 'q');
  await queueInit(q);
  const child = spawn(process.execPath, [PIGEON_JS, 'fspl', 'queue-write', '-q', q], { stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin.on('error', () => {});
  child.stdin.write(Buffer.concat([encodeJobHeader(header({ seq: 1n })), Buffer.alloc(1 << 20)]));
  for (let i = 0; i < 100 && (await readdir(path.join(q, 'jobs'))).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('close', r));
  t.deepEqual(await jobFiles(q), []);
  const ls = await pigeon(['queue-ls', '-q', q]);
  t.is(ls.stdout.toString().split('\n').length, 2, 'only the title line');
  t.is((await pigeon(['queue-process', '-q', q, '/bin/true'])).code, 0);
});

/** A queue holding jobs 1..n made by pigeon prepare (payload "jobN", or "fail"). */
async function queueWith(dir: string, n: number, failing: number[] = []): Promise<string> {
  const q = path.join(dir, 'q');
  await queueInit(q);
  for (let i = 1; i <= n; i++) {
    const job = await pigeon(['prepare', '-s', path.join(dir, 'seq'), '-i', '-'], { input: failing.includes(i) ? 'fail' : `job${i}` });
    await pigeon(['queue-write', '-q', q], { input: job.stdout });
  }
  return q;
}

const rec = (log: string, extra = '') => ['/bin/sh', '--', '-c', `p=$(cat); echo "$FSPL_SEQ:$p" >> ${log}; ${extra} [ "$p" != fail ]`];
const lines = async (f: string) => (await readFile(f, 'utf8').catch(() => '')).split('\n').filter(Boolean);

test('queue-process killed -9 while a job runs: the lock goes with it, and the job runs again (at least once) before the rest', async (t) => {
  const dir = await tmpDir(t);
  const q = await queueWith(dir, 2);
  const log = path.join(dir, 'log');
  const pidFile = path.join(dir, 'pid');
  const child = spawn(process.execPath, [PIGEON_JS, 'fspl', 'queue-process', '-q', q, ...rec(log, `echo $$ > ${pidFile}; sleep 30;`)], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGKILL');
  await new Promise((r) => child.on('close', r));
  process.kill(Number((await readFile(pidFile, 'utf8')).trim()), 'SIGKILL');
  t.deepEqual(await lines(log), ['1:job1']);
  t.is(await readFile(path.join(q, 'nextseq'), 'utf8'), '1\n', 'nextseq not advanced: job 1 did not finish');
  const r = await pigeon(['queue-process', '-q', q, ...rec(log)]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await lines(log), ['1:job1', '1:job1', '2:job2']);
  t.deepEqual(await jobFiles(q), []);
});

test('killed between advancing nextseq and deleting the job: the job is not run again', async (t) => {
  const dir = await tmpDir(t);
  const q = await queueWith(dir, 2);
  const log = path.join(dir, 'log');
  // The state that kill leaves: nextseq already 2, job 1's file still there.
  await writeFile(path.join(q, 'nextseq'), '2\n');
  const r = await pigeon(['queue-process', '-q', q, ...rec(log)]);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(await lines(log), ['2:job2']);
  t.is((await jobFiles(q)).length, 1, 'the stale job 1 stays (listed by queue-ls), as with fspl');
});

test('queue-process: --timeout kills and counts as failure; -n limits; SaveBoth keeps the output; Fail jobs fail', async (t) => {
  const dir = await tmpDir(t);
  const q = await queueWith(dir, 3);
  const log = path.join(dir, 'log');
  const slow = await pigeon(['queue-process', '-q', q, '--timeout', '1', '/bin/sh', '--', '-c', 'exec sleep 20']);
  t.is(slow.code, 1);
  t.regex(slow.stderr, /job 1 .* failed: \/bin\/sh ran past --timeout 1 s and was killed; it stays queued/);
  t.is((await jobFiles(q)).length, 3);
  t.is((await pigeon(['queue-process', '-q', q, '-n', '1', '--output-to', 'saveboth', '/bin/sh', '--', '-c', 'echo out; echo err >&2'])).code, 0);
  const [out] = (await readdir(path.join(q, 'jobs'))).filter((n) => n.endsWith('.out'));
  t.is(await readFile(path.join(q, 'jobs', out), 'utf8'), 'out\nerr\n');
  t.is(await readFile(path.join(q, 'nextseq'), 'utf8'), '2\n');
  t.is((await pigeon(['queue-process', '-q', q, ...rec(log)])).code, 0);
  t.deepEqual(await lines(log), ['2:job2', '3:job3']);
  const fail = await pigeon(['prepare-fail', '-s', path.join(dir, 'seq')]);
  await pigeon(['queue-write', '-q', q], { input: fail.stdout });
  const r = await pigeon(['queue-process', '-q', q, '/bin/true']);
  t.is(r.code, 1);
  t.regex(r.stderr, /job 4 .* failed: it is a Fail job/);
});

test('errors are one line naming the queue, file or flag, never a stack; usage errors exit 2', async (t) => {
  const dir = await tmpDir(t);
  const q = await queueWith(dir, 1);
  const cases: [string[], number, RegExp][] = [
    [['queue-process', '-q', path.join(dir, 'none'), '/bin/true'], 1, /none is not a queue .* create it with queue-init/],
    [['queue-ls', '-q', path.join(dir, 'none')], 1, /none is not a queue/],
    [['queue-info', '-q', q, '-j', '9'], 1, /job 9 not found in queue .*q/],
    [['queue-init', '-q', q], 1, /queue .*q already exists/],
    [['prepare', '-s', '-', '-i', path.join(dir, 'missing')], 1, /cannot open input file .*missing/],
    [['queue-process', '-q', q, '--on-error', 'bogus', '/bin/true'], 2, /invalid value "bogus" for --on-error: use Retry, Delete, Leave/],
    [['queue-process', '-q', q, '--frobnicate', '/bin/true'], 2, /unknown flag --frobnicate/],
    [['queue-process', '-q', q], 2, /<COMMAND> is required/],
    [['queue-process', '/bin/true'], 2, /--queuedir <DIR> is required/],
    [['queue-process', '-q', q, '/nonexistent/cmd'], 1, /cannot run \/nonexistent\/cmd: .*ENOENT/],
    [['stdin-info'], 1, /stdin is not a readable Filespooler job/],
    [['nosuch'], 2, /unknown subcommand "nosuch"/],
  ];
  for (const [args, code, re] of cases) {
    const r = await pigeon(args);
    t.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    t.regex(r.stderr, re);
    t.false(r.stderr.includes('    at '), 'no stack trace');
  }
  t.false(existsSync(path.join(dir, 'seq-missing')), 'a failed prepare burns no sequence number');
  // A queue being processed is locked.
  const pidFile = path.join(dir, 'busy');
  const child = spawn(process.execPath, [PIGEON_JS, 'fspl', 'queue-process', '-q', q, '/bin/sh', '--', '-c', `echo $$ > ${pidFile}; sleep 30`], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  const locked = await pigeon(['queue-process', '-q', q, '/bin/true']);
  process.kill(Number((await readFile(pidFile, 'utf8')).trim()), 'SIGKILL');
  await new Promise((r) => child.on('close', r));
  t.is(locked.code, 1);
  t.regex(locked.stderr, /queue .*q is locked \(.*nextseq\.lock\) by another fspl or pigeon fspl; try again when it finishes/);
});

test('pigeon fspl takes fspl\'s GNU-style flags: -qDIR, --queuedir=DIR, flags after the command, "--" params, help', async (t) => {
  const dir = await tmpDir(t);
  const q = await queueWith(dir, 2);
  const log = path.join(dir, 'log');
  t.is((await pigeon([`-q${q}`, 'queue-ls'])).code, 2, 'subcommand flags go after the subcommand');
  t.is((await pigeon(['queue-ls', `-q${q}`])).code, 0);
  t.is((await pigeon(['-l', 'error', 'queue-process', '-n1', ...rec(log).slice(0, 1), `--queuedir=${q}`, ...rec(log).slice(1)])).code, 0);
  t.deepEqual(await lines(log), ['1:job1']);
  const help = await pigeon(['queue-process', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout.toString(), /Usage: pigeon fspl queue-process \[OPTIONS\] --queuedir <DIR> <COMMAND> \[-- <PARAMS>\.\.\.\]/);
  const top = await pigeon(['--help']);
  t.regex(top.stdout.toString(), /queue-process/);
  t.regex((await pigeon(['--version'])).stdout.toString(), /fspl \(speaks Filespooler 1\.2\)/);
  // "--help" after "--" is a job parameter, not a request for help.
  const job = await pigeon(['prepare', '-s', '-', '--', '--help', '-version']);
  t.is(job.code, 0);
  t.deepEqual(parse(job.stdout).params.map((p) => Buffer.from(p).toString()), ['--help', '-version']);
  // The compat shim runs the same command.
  const shim = path.resolve(path.dirname(PIGEON_JS), '../../compat/fspl');
  const r = spawnSync(shim, ['queue-ls', '-q', q], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^ID\s+creation timestamp\s+filename\n2\s/);
});
