/**
 * pigeon fspl: Filespooler 1.2's command line over src/fspl. fspl takes
 * GNU-style flags (-q DIR, --queuedir=DIR, "--" before PARAMS), so
 * cmd/pigeon.ts hands `pigeon fspl ...` here before any Go-style parsing;
 * the yargs module below only lists the command in `pigeon --help` (and
 * forwards, should yargs ever route to it).
 */
import type { CommandModule } from 'yargs';
import { randomUUID } from 'node:crypto';
import { PigeonError } from '../src/errors.js';
import { helpTable, helpText, parseArgs, parseChoice, parseCount, type OptSpec, type Parsed, type SubSpec } from '../src/fspl/args.js';
import { formatEnv, jobEnv, jobPath, rfc3339Local } from '../src/fspl/env.js';
import { JobFormatError } from '../src/fspl/jobfile.js';
import { openJob, pump, splitHeader, writeChunk } from '../src/fspl/io.js';
import { makeLog, parseLevel, type FsplLog, type Level } from '../src/fspl/log.js';
import { prepare } from '../src/fspl/prepare.js';
import { processQueue, processStdin, type CommandOptions } from '../src/fspl/process.js';
import { bySeq, findJob, genFilename, queueInit, queueWrite, requireQueue, scanQueue, seqPath } from '../src/fspl/queue.js';
import { parseSeq, withSeqfile, writeSeq } from '../src/fspl/seqfile.js';
import { run } from './common.js';

const QUEUE: OptSpec = { long: 'queuedir', short: 'q', value: 'DIR', required: true, help: 'The path to the queue directory' };
const DECODER: OptSpec = { long: 'decoder', short: 'd', value: 'DECODECMD', help: 'Command to decode the job files, run by $SHELL -c' };
const SEQFILE: OptSpec = { long: 'seqfile', short: 's', value: 'FILE', required: true, help: 'The path to the state file; "-" for none (sequence number 1)' };
const JOB: OptSpec = { long: 'job', short: 'j', value: 'ID', required: true, help: 'The ID (sequence number) of the job' };
const RUN_OPTS: OptSpec[] = [
  { long: 'allow-job-params', help: "Append the job's parameters to the command line (not done by default)" },
  { long: 'ignore-payload', help: 'Do not pass the payload to the command' },
  { long: 'timeout', value: 'SECONDS', help: 'Kill the command (SIGKILL) after this many seconds; counts as a failure' },
];
const COMMAND = [{ name: 'COMMAND', required: true, help: 'The command to run (an executable; no shell)' }];
const PARAMS_HELP = 'Parameters for COMMAND, before those of the job';

interface Sub extends SubSpec {
  run(p: Parsed, log: FsplLog, spec: SubSpec): Promise<void>;
}

const out = (s: string | Uint8Array) => writeChunk(process.stdout, typeof s === 'string' ? Buffer.from(s) : s);
const str = (p: Parsed, k: string) => p.opts.get(k) as string | undefined;

function commandOpts(p: Parsed, log: FsplLog, spec: SubSpec): CommandOptions {
  const t = str(p, 'timeout');
  return {
    command: p.positionals[0],
    params: p.params,
    allowJobParams: p.opts.has('allow-job-params'),
    ignorePayload: p.opts.has('ignore-payload'),
    timeout: t === undefined ? undefined : parseCount(spec, '--timeout', t),
    log,
  };
}

/** stdin as a job: its header (with a one-line error for anything else) and the payload after it. */
async function stdinJob(): Promise<Awaited<ReturnType<typeof splitHeader>>> {
  try {
    return await splitHeader(process.stdin);
  } catch (err) {
    if (err instanceof JobFormatError) throw new PigeonError('EPACKET', `stdin is not a readable Filespooler job: ${err.message}`);
    throw err;
  }
}

const prepareKind = (kind: 'NOP' | 'Fail', about: string): Sub => ({
  name: `prepare-${kind.toLowerCase()}`,
  about,
  opts: [SEQFILE],
  run: async (p) => void (await prepare({ seqfile: str(p, 'seqfile')!, kind, out: process.stdout })),
});

const SUBS: Sub[] = [
  {
    name: 'prepare',
    about: 'Prepare a command job for transmission, writing it to stdout',
    opts: [{ long: 'input', short: 'i', value: 'INPUT', help: 'Payload: a file, or "-" for stdin; none if not given' }, SEQFILE],
    params: 'Parameters to send along with the job',
    run: async (p) => void (await prepare({ seqfile: str(p, 'seqfile')!, input: str(p, 'input'), params: p.params, env: process.env, out: process.stdout })),
  },
  prepareKind('NOP', 'Prepare a NOP job (always succeeds, runs nothing), writing it to stdout'),
  prepareKind('Fail', 'Prepare a Fail job (always fails, runs nothing), writing it to stdout'),
  {
    name: 'prepare-get-next',
    about: 'Print the sequence number the next prepare will use',
    opts: [SEQFILE],
    run: async (p) => {
      const s = str(p, 'seqfile')!;
      await out(`${s === '-' ? 1n : await withSeqfile(s, true, `seqfile ${s}`, async (cur) => cur)}\n`);
    },
  },
  {
    name: 'prepare-set-next',
    about: 'Set the sequence number the next prepare will use',
    opts: [SEQFILE],
    positionals: [{ name: 'ID', required: true, help: 'The number' }],
    run: async (p) => {
      const s = str(p, 'seqfile')!;
      const id = parseSeq(p.positionals[0], 'ID');
      await withSeqfile(s, true, `seqfile ${s}`, () => writeSeq(s, id));
    },
  },
  {
    name: 'queue-init',
    about: 'Create a queue directory',
    opts: [QUEUE, { long: 'append-only', help: 'Create the queue write-only: jobs/ but no nextseq (it cannot be processed)' }],
    run: (p) => queueInit(str(p, 'queuedir')!, p.opts.has('append-only')),
  },
  {
    name: 'queue-write',
    about: 'Save a job from stdin into a queue, atomically, under a fresh fspl-*.fspl name',
    opts: [QUEUE],
    run: async (p) => void (await queueWrite(str(p, 'queuedir')!, process.stdin)),
  },
  {
    name: 'queue-ls',
    about: 'List the jobs in a queue',
    opts: [QUEUE, DECODER],
    run: async (p, log) => {
      const jobs = bySeq(await scanQueue(str(p, 'queuedir')!, str(p, 'decoder'), log));
      const line = (a: string, b: string, c: string) => `${a.padEnd(20)} ${b.padEnd(27)} ${c}\n`;
      await out(line('ID', 'creation timestamp', 'filename') + jobs.map((j) => line(String(j.header.seq), rfc3339Local(j.header.ctimeSecs), j.filename)).join(''));
    },
  },
  {
    name: 'queue-info',
    about: 'Show the environment a job will run with',
    opts: [QUEUE, JOB, DECODER],
    run: async (p, log) => {
      const q = str(p, 'queuedir')!;
      const j = await findJob(q, parseSeq(str(p, 'job')!, '--job'), str(p, 'decoder'), log);
      await out(formatEnv(jobEnv(j.header, { queuedir: q, filename: j.filename })));
    },
  },
  {
    name: 'queue-payload',
    about: "Write a job's payload to stdout",
    opts: [QUEUE, JOB, DECODER],
    run: async (p, log) => {
      const q = str(p, 'queuedir')!;
      const dec = str(p, 'decoder');
      const j = await findJob(q, parseSeq(str(p, 'job')!, '--job'), dec, log);
      const opened = await openJob(jobPath(q, j.filename), dec);
      try {
        await pump(opened.chunks(), process.stdout);
      } finally {
        const why = await opened.close();
        if (why) throw new PigeonError('EIO', why);
      }
    },
  },
  {
    name: 'queue-process',
    about: 'Run the jobs of a queue, in sequence order unless told otherwise',
    opts: [
      QUEUE,
      DECODER,
      { long: 'maxjobs', short: 'n', value: 'JOBS', help: 'Process at most this many jobs' },
      { long: 'never-delete', help: 'Never delete a processed job file' },
      { long: 'on-error', value: 'ONERROR', help: 'When a job fails: Retry (stop, keep it, exit 1), Delete or Leave (either way go on) [default: Retry]' },
      { long: 'order-by', value: 'ORDERING', help: 'Sequence (strict order, waits for missing numbers) or Timestamp (creation time; nextseq unused) [default: Sequence]' },
      { long: 'output-to', value: 'DEST', help: "PassBoth (the command's stdout and stderr are ours) or SaveBoth (into jobs/FILE.out) [default: PassBoth]" },
      ...RUN_OPTS,
    ],
    positionals: COMMAND,
    params: PARAMS_HELP,
    run: async (p, log, spec) => {
      const n = str(p, 'maxjobs');
      const onError = str(p, 'on-error');
      const orderBy = str(p, 'order-by');
      const outputTo = str(p, 'output-to');
      await processQueue({
        ...commandOpts(p, log, spec),
        queuedir: str(p, 'queuedir')!,
        decoder: str(p, 'decoder'),
        maxJobs: n === undefined ? undefined : parseCount(spec, '--maxjobs', n),
        neverDelete: p.opts.has('never-delete'),
        onError: onError === undefined ? undefined : parseChoice(spec, 'on-error', onError, ['Retry', 'Delete', 'Leave'] as const),
        orderBy: orderBy === undefined ? undefined : parseChoice(spec, 'order-by', orderBy, ['Sequence', 'Timestamp'] as const),
        saveOutput: outputTo !== undefined && parseChoice(spec, 'output-to', outputTo, ['PassBoth', 'SaveBoth'] as const) === 'SaveBoth',
      });
    },
  },
  {
    name: 'queue-get-next',
    about: 'Print the next sequence number the queue will process',
    opts: [QUEUE],
    run: async (p) => {
      const q = str(p, 'queuedir')!;
      await requireQueue(q);
      await out(`${await withSeqfile(seqPath(q), false, `queue ${q}`, async (cur) => cur)}\n`);
    },
  },
  {
    name: 'queue-set-next',
    about: 'Set the next sequence number the queue will process',
    opts: [QUEUE],
    positionals: [{ name: 'ID', required: true, help: 'The number' }],
    run: async (p) => {
      const q = str(p, 'queuedir')!;
      const id = parseSeq(p.positionals[0], 'ID');
      await requireQueue(q);
      await withSeqfile(seqPath(q), false, `queue ${q}`, () => writeSeq(seqPath(q), id));
    },
  },
  {
    name: 'stdin-info',
    about: 'Show the environment the job on stdin will run with',
    opts: [],
    run: async () => out(formatEnv(jobEnv((await stdinJob()).header))),
  },
  {
    name: 'stdin-payload',
    about: "Write the payload of the job on stdin to stdout",
    opts: [],
    run: async () => pump((await stdinJob()).rest, process.stdout),
  },
  {
    name: 'stdin-process',
    about: 'Run the job on stdin',
    opts: RUN_OPTS,
    positionals: COMMAND,
    params: PARAMS_HELP,
    run: async (p, log, spec) => processStdin(process.stdin, commandOpts(p, log, spec)).catch((err) => {
      if (err instanceof JobFormatError) throw new PigeonError('EPACKET', `stdin is not a readable Filespooler job: ${err.message}`);
      throw err;
    }),
  },
  { name: 'gen-filename', about: 'Print a fresh fspl-*.fspl job file name', opts: [], run: () => out(`${genFilename()}\n`) },
  { name: 'gen-uuid', about: 'Print a random UUID', opts: [], run: () => out(`${randomUUID()}\n`) },
];

function topHelp(): string {
  return [
    'pigeon fspl: ordered job queues, speaking Filespooler 1.2 (its command line, queue directories and job files)',
    '',
    'Usage: pigeon fspl [OPTIONS] <SUBCOMMAND> ...   (pigeon fspl SUBCOMMAND --help for its flags)',
    '',
    'Subcommands:',
    helpTable(SUBS.map((s) => [s.name, s.about])),
    '',
    'Options:',
    helpTable([
      ['-l, --log-level <LEVEL>', 'Diagnostics on stderr: trace, debug, info, warn, error [default: info]'],
      ['-h, --help', 'Print help information'],
      ['-V, --version', 'Print version information'],
    ]),
    '',
    "Flags are GNU-style, as fspl's (-q DIR, --queuedir=DIR, \"--\" before PARAMS). pigeon's Go-style",
    '-cfg, -spool and -log do not apply: queues need no NNCP configuration.',
    '',
  ].join('\n');
}

/** Run `pigeon fspl ARGS...`; returns the exit status. */
export async function fsplMain(argv: readonly string[]): Promise<number> {
  let level: Level = 'info';
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return out(topHelp()).then(() => 0);
    if (a === '-V' || a === '--version') {
      const { pigeonVersion } = await import('../src/version.js');
      return out(`${pigeonVersion()} fspl (speaks Filespooler 1.2)\n`).then(() => 0);
    }
    const m = /^(?:-l|--log-level)(?:=?(.+))?$/.exec(a);
    const v = m ? m[1] ?? argv[++i] : undefined;
    const l = v === undefined ? null : parseLevel(v);
    if (l === null) {
      process.stderr.write(`pigeon fspl: ${m ? `invalid --log-level ${JSON.stringify(v ?? '')}: use trace, debug, info, warn or error` : `unknown flag ${a}`} (pigeon fspl --help shows the usage)\n`);
      return 2;
    }
    level = l;
  }
  let name = argv[i];
  let rest = argv.slice(i + 1);
  if (name === 'help') {
    name = rest[0];
    rest = ['--help'];
    if (name === undefined) return out(topHelp()).then(() => 0);
  }
  const sub = SUBS.find((s) => s.name === name);
  if (!sub) {
    process.stderr.write(`pigeon fspl: ${name === undefined ? 'name a subcommand' : `unknown subcommand ${JSON.stringify(name)}`} (pigeon fspl --help lists them)\n`);
    return 2;
  }
  await run(`fspl ${sub.name}`, async () => {
    const p = parseArgs(sub, rest);
    if (p.help) return void (await out(helpText(sub)));
    await sub.run(p, makeLog(level), sub);
  });
  return Number(process.exitCode ?? 0);
}

/** cmd/pigeon.ts's way in: run, let stdout and stderr drain, exit with the status. */
export async function fsplExit(argv: readonly string[]): Promise<never> {
  const code = await fsplMain(argv);
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise((r) => s.write('', r))));
  process.exit(code);
}

export const fsplCommand: CommandModule = {
  command: 'fspl',
  describe: 'Filespooler-compatible ordered job queues: fspl SUBCOMMAND [GNU-style flags] (pigeon fspl --help)',
  builder: (y) => y.parserConfiguration({ 'unknown-options-as-args': true }).strict(false),
  handler: async () => {
    const raw = process.argv.slice(2);
    await fsplExit(raw.slice(raw.indexOf('fspl') + 1));
  },
};

