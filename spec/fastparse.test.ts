/**
 * The quick argument path (cmd/fastparse.ts) hands every command the argv
 * yargs would, and leaves to yargs whatever it does not handle the same.
 */
import test from 'ava';
import yargs from 'yargs';
import { commands } from '../cmd/commands.js';
import { BASE_PARSER_CONFIG, fastArgv } from '../cmd/fastparse.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** What yargs gives the handler for args (or 'error' when yargs refuses them). */
async function viaYargs(mod: Any, args: string[]): Promise<Any> {
  let got: Any = 'not called';
  const wrapped = { ...mod, handler: (argv: Any) => void (got = { ...argv }) };
  try {
    await yargs(args)
      .parserConfiguration({ ...BASE_PARSER_CONFIG })
      .command(wrapped)
      .strict()
      .help(false)
      .version(false)
      .exitProcess(false)
      .fail((msg, err) => {
        throw err ?? new Error(msg);
      })
      .parseAsync();
  } catch {
    return 'error';
  }
  return got;
}

const corpus: Record<string, string[][]> = {
  file: [
    ['file', '-cfg', '/c', 'src.bin', 'bob:dst'],
    ['file', '-nice', 'B', '-minsize', '100', '-via', '-', '-', 'bob:x'],
    ['file', '-chunked', '64', '-quiet', 'a', 'bob:'],
    ['file', 'a', 'bob:', '-cfg=/x', '-noprogress'],
    ['file', '-quiet=false', 'a', 'bob:'],
    ['file', '--cfg', '/c', '123', 'bob:456'],
  ],
  exec: [
    ['exec', '-cfg', '/c', 'bob', 'sendmail', '-f', 'x', '--', 'y'],
    ['exec', '-nocompress', '-nice', '10', 'bob', 'h'],
  ],
  freq: [
    ['freq', 'bob:src', 'dst'],
    ['freq', '-replynice', 'P', 'bob:src'],
  ],
  trns: [['trns', '-via', 'a,b', 'bob:PKT']],
  ack: [['ack', '-node', 'bob', '-node', 'carol', '-nice', '5', '-minsize', '3']],
  toss: [
    ['toss', '-cfg', '/c', '-seen', '-cycle', '5', '-nofile'],
    ['toss', '-node', 'bob', '-dryrun', '-noexec', '-notrns', '-noarea', '-noack', '-nofreq'],
    ['toss', '-seen', '-gen-ack'],
  ],
  carry: [
    ['carry', '/mnt/stick'],
    ['carry', '-node', 'bob,carol', '-nice', 'P', '-notoss', '-dryrun', 'd1'],
    ['carry', '-rx', '-quiet', '-cfg', 'c.hjson'],
  ],
  xfer: [
    ['xfer', '-rx', '-keep', '/mnt/stick'],
    ['xfer', '-tx', '-mkdir', '-node', 'bob', 'd1'],
    ['xfer', '-rx'],
  ],
  bundle: [
    ['bundle', '-tx', '-delete', 'bob', 'carol'],
    ['bundle', '-rx', '-check', '-dryrun', '-nice', 'B'],
    ['bundle', '-rx', '-delete', '-cfg', '/c', 'bob'],
  ],
  reass: [['reass', '-dryrun', '-stdout', 'f.nncp.meta'], ['reass', '-dump', 'x'], ['reass']],
  rm: [['rm', '-node', 'bob', '-tx', '-older', '10d', '-dryrun'], ['rm', '-all', '-part', '-nock', '-seen', '-hdr', '-area', 'a']],
  stat: [['stat', '-pkt', '-node', 'bob'], ['stat', '-json', '-pkt'], ['stat', '-html']],
  web: [['web', '-bind', '127.0.0.1:0', '-quiet'], ['web']],
  check: [['check', '-nock', '-node', 'bob', '-cycle', '3'], ['check', '-json']],
  log: [['log', '-cfg', '/c'], ['log', '-json']],
  pkt: [['pkt', '-dump', '-decompress'], ['pkt', '-overheads'], ['pkt', '-json']],
  hash: [['hash', '-file', 'f', '-seek', '100', '-progress'], ['hash', '-debug']],
  cfgnew: [['cfgnew', '-nocomments', '-area', 'a'], ['cfgnew', '-o', '/c', '-spool', '/s', '-log', '/l']],
  cfgmin: [['cfgmin', '-cfg', '/c']],
  cfgneigh: [['cfgneigh', '-cfg', '/c', '-name', 'bob', '-incoming', '/in', 'bob.min'], ['cfgneigh', '-name=bob']],
  cfgenc: [['cfgenc', '-s', '1024', '-t', '2', '-p', '1', 'c.hjson'], ['cfgenc', '-d', 'c.eblob'], ['cfgenc', '-dump', 'c.eblob']],
  cfgdir: [['cfgdir', '-cfg', 'c.hjson', '-dump', 'dir'], ['cfgdir', '-load', 'dir'], ['cfgdir']],
  cronexpr: [['cronexpr', '-num', '5', '*/5', '*', '*', '*', '*'], ['cronexpr', '@hourly']],
  caller: [['caller', '-autotoss', 'bob', 'carol'], ['caller']],
  call: [
    ['call', '-rx', '-nice', 'B', 'bob', '127.0.0.1:5400'],
    ['call', '-onlinedeadline', '2', '-onlinedeadline', '5', '-list', 'bob:lan'],
    ['call', '-pkts', 'A,B', '-autotoss-seen', 'bob'],
  ],
  daemon: [['daemon', '-ucspi', '-bind', '[::1]:5400', '-maxconn', '3', '-autotoss']],
  // pigeon.ts hands `pigeon fspl` to cmd/fspl.ts before either parser; the module must still agree with yargs.
  fspl: [['fspl', 'queue-process', '-q', 'q', '--order-by', 'Timestamp', './cmd', '--', 'a']],
};

// Malformed lines must not take the quick way (yargs reports them).
const refused: string[][] = [
  ['file', 'onlyone'],
  ['file', 'a', 'b', 'c'],
  ['toss', '-nosuchflag'],
  ['toss', 'extra'],
  ['trns'],
  ['toss', '-h'],
  ['stat', '--help'],
];

test('every command is in the corpus', (t) => {
  for (const c of commands) t.true(c.name in corpus, c.name);
});

for (const [name, lines] of Object.entries(corpus)) {
  test(`${name}: the quick path gives the handler what yargs gives it`, async (t) => {
    const mod = await commands.find((c) => c.name === name)!.load();
    for (const args of lines) {
      const fast = fastArgv(mod, args);
      const slow = await viaYargs(mod, args);
      if (fast === null) {
        t.log(`not quick: ${args.join(' ')}`);
        continue;
      }
      t.not(slow, 'error', args.join(' '));
      t.deepEqual({ ...fast, $0: 'x' }, { ...slow, $0: 'x' }, args.join(' '));
    }
  });
}

test('malformed command lines are left to yargs', async (t) => {
  for (const args of refused) {
    const mod = await commands.find((c) => c.name === args[0])!.load();
    t.is(fastArgv(mod, args), null, args.join(' '));
  }
});

test('the quick path is taken for the common commands', async (t) => {
  for (const args of [corpus.toss[0], corpus.file[0], corpus.xfer[0], corpus.exec[0], corpus.call[0]]) {
    const mod = await commands.find((c) => c.name === args[0])!.load();
    t.not(fastArgv(mod, args), null, args.join(' '));
  }
});
