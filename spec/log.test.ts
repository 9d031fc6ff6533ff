/**
 * The log: pigeon's records are what nncp-log reads, the reference's records
 * are what `pigeon log` reads, and both print them the same way.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeNodes } from './helpers/nncp.js';
import { asText, requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';
import { iBytes } from '../src/format.js';
import { formatWhen, humanize, Logger, parseLog, parseLogRecord, readLog } from '../src/log/log.js';

const here = path.dirname(fileURLToPath(import.meta.url));

interface NodeDir {
  id: string;
  cfg: string;
  log: string;
}

/** alice and bob, reference-made keys; the "fail" handle prints two lines and exits 3. */
async function makePair(root: string): Promise<{ a: NodeDir; b: NodeDir }> {
  const { alice, bob } = await makeNodes(root, ['alice', 'bob'], {
    exec: { fail: ['/bin/sh', '-c', 'echo line one; echo line two; exit 3'] },
  });
  const n = (x: typeof alice): NodeDir => ({ id: x.idB32, cfg: x.cfgPath, log: x.log });
  return { a: n(alice), b: n(bob) };
}

const nncp = async (bin: string, args: string[], input?: string) => asText(await runNncp(bin, args, { input }));
const pigeon = async (args: string[]) => asText(await runPigeon(args));

function collector(): { write(s: string): void; text: () => string } {
  let buf = '';
  return { write: (s: string) => void (buf += s), text: () => buf };
}

const WHEN_LINE = /^When: \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?Z$/;

// ---- format, without the reference ----

test('record layout: leading empty line, When, Err, Who, fields in order, Msg last; multi-line values use "+" lines', async (t) => {
  const root = await tmpDir(t);
  const log = path.join(root, 'log');
  const l = new Logger({ path: log, quiet: true });
  l.info('tx', [['Node', 'NODE'], ['Nice', 96], ['Size', 12345678901234n], ['Seen', true], ['Empty', []], ['Output', ['a', '', 'b']]], 'sent it');
  l.error('rx-handle', [['Dst', 'two\nlines']], new Error('exit status 3'), 'Tossing failed');
  const text = fs.readFileSync(log, 'utf8');
  const recs = text.split('\n\n');
  t.true(text.startsWith('\nWhen: '));
  const first = text.slice(1).split('\n');
  t.regex(first[0], WHEN_LINE);
  t.deepEqual(first.slice(1, 10), ['Who: tx', 'Node: NODE', 'Nice: 96', 'Size: 12345678901234', 'Seen: true', 'Output: a', '+', '+ b', 'Msg: sent it']);
  t.is(recs.length, 2);
  const second = recs[1].split('\n');
  t.regex(second[0], WHEN_LINE);
  t.deepEqual(second.slice(1), ['Err: exit status 3', 'Who: rx-handle', 'Dst: two', '+ lines', 'Msg: Tossing failed', '']);
  t.true(fs.existsSync(log + '.lock'), 'writers serialise on <log>.lock as the reference does');

  const parsed = parseLog(text);
  t.is(parsed.length, 2);
  t.is(parsed[0].who, 'tx');
  t.is(parsed[0].fields.get('Output'), 'a\n\nb');
  t.false(parsed[0].fields.has('Empty'));
  t.is(parsed[1].fields.get('Dst'), 'two\nlines');
  t.is(parsed[1].fields.get('Err'), 'exit status 3');
  t.truthy(parsed[0].when);
  t.true(Math.abs(parsed[0].when!.getTime() - Date.now()) < 60_000);
});

test('When is RFC 3339 in UTC with nanoseconds, trailing zeros dropped (Go RFC3339Nano)', (t) => {
  t.is(formatWhen(1795457138557206853n), '2026-11-23T18:05:38.557206853Z');
  t.is(formatWhen(1795457164437348480n), '2026-11-23T18:06:04.43734848Z');
  t.is(formatWhen(1795457164000000000n), '2026-11-23T18:06:04Z');
  t.is(formatWhen(1795457164100000000n), '2026-11-23T18:06:04.1Z');
});

test('humanize: "<When to the second> [ERROR ]<Msg>[: <Err>]", zones as Go prints them, unparsable When reported', (t) => {
  // expectations are what nncp-log 8.8.2 printed for these records
  const h = (s: string) => humanize(parseLogRecord(s));
  t.is(h('When: 2026-11-23T18:06:04.1Z\nWho: x\nMsg: hello'), '2026-11-23T18:06:04Z hello');
  t.is(h('When: 2026-11-23T18:06:04+03:00\nErr: boom\nWho: y\nMsg: m2'), '2026-11-23T18:06:04+03:00 ERROR m2: boom');
  t.is(h('When: 2026-11-23T18:06:04+00:00\nMsg: m3'), '2026-11-23T18:06:04Z m3');
  t.is(h('When: 2026-11-23T18:06:04.000000001-01:30\nMsg: m6'), '2026-11-23T18:06:04-01:30 m6');
  t.is(h('When: bad\nMsg: m4'), 'Can not humanize: parsing time "bad" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "bad" as "2006"\nmap[Msg:m4 When:bad]');
  t.is(h('Who: nowhen\nMsg: m5\n# comment'), 'Can not humanize: parsing time "" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "" as "2006"\nmap[Msg:m5 Who:nowhen]');
});

test('parser keeps going over what nncp-log chokes on: raw newlines in values, comments, several blank lines', (t) => {
  // a record the reference wrote for a file named "we\nird.txt"
  const text = '\nWhen: 2026-11-23T18:06:04.30240427Z\nWho: tx\nSrc: we\nird.txt\nMsg: File we\nird.txt (278 B) is sent\n\n\n# note\nWhen: 2026-11-23T18:06:05Z\nWho: rx\nMsg: next\n';
  const recs = parseLog(text);
  t.is(recs.length, 2);
  t.is(recs[0].fields.get('Src'), 'we\nird.txt');
  t.is(humanize(recs[0]), '2026-11-23T18:06:04Z File we\nird.txt (278 B) is sent');
  t.is(humanize(recs[1]), '2026-11-23T18:06:05Z next');
});

test('iBytes prints sizes as the reference does', (t) => {
  // pairs seen in reference logs and the NNCP manual
  t.is(iBytes(282), '282 B');
  t.is(iBytes(16), '16 B');
  t.is(iBytes(2), '2 B');
  t.is(iBytes(5229), '5.1 KiB');
  t.is(iBytes(10752), '10 KiB'); // 10.5 KiB: half to even
  t.is(iBytes(11776), '12 KiB');
  t.is(iBytes(1048852), '1.0 MiB');
});

test('Logger on stderr: human line by default, nothing with quiet (errors included), raw record too with debug', async (t) => {
  const root = await tmpDir(t);
  const log = path.join(root, 'log');
  const plain = collector();
  new Logger({ path: log, stderr: plain }).info('tx', [['Node', 'N']], 'File sent');
  new Logger({ path: log, stderr: plain }).error('rx', [], 'no such handle', 'Tossing');
  t.regex(plain.text(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ File sent\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ERROR Tossing: no such handle\n$/);

  const quiet = collector();
  const q = new Logger({ path: log, quiet: true, stderr: quiet });
  q.info('tx', [], 'a');
  q.error('tx', [], 'e', 'b');
  q.debug('tx', [], 'c');
  t.is(quiet.text(), '');

  const dbg = collector();
  const d = new Logger({ path: log, debug: true, stderr: dbg });
  d.debug('tx-tmp', [['Src', '/x']], 'temporary');
  d.info('tx', [['Node', 'N']], 'File sent');
  const out = dbg.text();
  t.regex(out, /^\nWhen: [^\n]+\nDebug: true\nWho: tx-tmp\nSrc: \/x\nMsg: temporary\n\nWhen: [^\n]+\nWho: tx\nNode: N\nMsg: File sent\n\S+Z File sent\n$/);

  const recs = parseLog(fs.readFileSync(log, 'utf8'));
  t.deepEqual(recs.map((r) => r.fields.get('Msg')), ['File sent', 'Tossing', 'a', 'b', 'File sent'], 'debug records never reach the log file');
});

test('Logger writes to FD:<n>', async (t) => {
  const root = await tmpDir(t);
  const p = path.join(root, 'fdlog');
  const fd = fs.openSync(p, 'w');
  try {
    new Logger({ path: `FD:${fd}`, quiet: true }).info('call', [['Node', 'X']], 'Connected');
  } finally {
    fs.closeSync(fd);
  }
  const [rec] = parseLog(fs.readFileSync(p, 'utf8'));
  t.is(rec.who, 'call');
  t.is(rec.fields.get('Msg'), 'Connected');
  t.false(fs.existsSync(p + '.lock'));
});

test('concurrent writers in separate processes never interleave records', async (t) => {
  const root = await tmpDir(t);
  const log = path.join(root, 'log');
  const script = `
    const { Logger } = await import(process.argv[1]);
    const l = new Logger({ path: process.argv[2], quiet: true });
    for (let i = 0; i < 300; i++) l.info('w', [['Writer', process.argv[3]], ['I', i], ['Pad', 'x'.repeat(3000)]], 'record ' + i);
  `;
  const mod = path.join(here, '../src/log/log.js');
  const runs = ['1', '2'].map((w) => new Promise<number | null>((res) => {
    spawn(process.execPath, ['--input-type=module', '-e', script, mod, log, w], { stdio: 'inherit' }).on('exit', res);
  }));
  t.deepEqual(await Promise.all(runs), [0, 0]);
  const recs: { w: string; i: string }[] = [];
  for await (const r of readLog(log)) {
    t.is(r.fields.get('Pad'), 'x'.repeat(3000));
    recs.push({ w: r.fields.get('Writer')!, i: r.fields.get('I')! });
  }
  t.is(recs.length, 600);
  for (const w of ['1', '2']) t.deepEqual(recs.filter((r) => r.w === w).map((r) => Number(r.i)), [...Array(300).keys()]);
});

test('pigeon log: missing log file is one error line and a failure exit', async (t) => {
  const root = await tmpDir(t);
  const r = await pigeon(['log', '-log', path.join(root, 'nope')]);
  t.not(r.code, 0);
  t.is(r.stdout, '');
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, /nope/);
});

// ---- against the reference ----

test('nncp-log reads what pigeon wrote, and prints it as pigeon log does', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const { a } = await makePair(root);
  const log = path.join(root, 'pigeon.log');
  const l = new Logger({ path: log, quiet: true });
  const node = a.id;
  l.info('tx', [['Type', 'file'], ['Node', node], ['Nice', 224], ['Src', 'f.txt'], ['Dst', 'f.txt'], ['Size', 282n], ['Pkt', 'PKTID']], 'File f.txt (282 B) is sent to bob:f.txt');
  l.error('rx-handle', [['Node', node], ['Output', ['line one', 'line two']], ['Dst', 'a\nb']], new Error('exit status 3'), 'Tossing exec: handling');
  l.info('call', [['Node', node], ['Empty', '']], 'Ünïcödé message ✓');

  const ref = await nncp('log', ['-cfg', a.cfg, '-log', log]);
  t.is(ref.code, 0, ref.stderr);
  const ours = await pigeon(['log', '-log', log]);
  t.is(ours.code, 0, ours.stderr);
  t.is(ours.stdout, ref.stdout);
  const lines = ref.stdout.trimEnd().split('\n');
  t.is(lines.length, 3);
  t.regex(lines[0], /^\S+Z File f\.txt \(282 B\) is sent to bob:f\.txt$/);
  t.regex(lines[1], /^\S+Z ERROR Tossing exec: handling: exit status 3$/);
  t.regex(lines[2], /^\S+Z Ünïcödé message ✓$/);

  const refDebug = await nncp('log', ['-cfg', a.cfg, '-log', log, '-debug']);
  t.is(refDebug.code, 0, refDebug.stderr);
  t.true(refDebug.stdout.includes(`Node:${node}`));
  t.true(refDebug.stdout.includes('Output:line one\nline two'));
  t.true(refDebug.stdout.includes('Size:282 '));
  t.is((await pigeon(['log', '-log', log, '-debug'])).stdout, refDebug.stdout);
});

test('pigeon log shows the reference\'s own log exactly as nncp-log does', async (t) => {
  if (!requireNncp(t)) return;
  const root = await tmpDir(t);
  const { a, b } = await makePair(root);
  const xdir = path.join(root, 'xfer');
  fs.mkdirSync(xdir);
  // 10476 and 11500 make payloads of 10752 and 11776 bytes: 10.5 and 11.5 KiB, where Go rounds half to even
  const sizes = [0, 5, 9, 10, 1023, 1024, 1500, 10239, 10240, 10291, 10476, 11500, 1048576, 1572864, 2621440];
  for (const n of sizes) {
    const f = path.join(root, `f${n}`);
    fs.writeFileSync(f, randomBytes(n));
    t.is((await nncp('file', ['-cfg', a.cfg, '-quiet', f, 'bob:'])).code, 0);
  }
  t.is((await nncp('exec', ['-cfg', a.cfg, '-quiet', 'bob', 'fail', 'arg'], 'hi\n')).code, 0);
  t.is((await nncp('xfer', ['-cfg', a.cfg, '-quiet', '-tx', '-mkdir', xdir])).code, 0);
  t.is((await nncp('xfer', ['-cfg', b.cfg, '-quiet', '-rx', xdir])).code, 0);
  t.is((await nncp('toss', ['-cfg', b.cfg, '-quiet'])).code, 1, 'the failing handle makes toss fail');

  for (const n of [a, b]) {
    const ref = await nncp('log', ['-cfg', n.cfg]);
    t.is(ref.code, 0, ref.stderr);
    const ours = await pigeon(['log', '-cfg', n.cfg]);
    t.is(ours.code, 0, ours.stderr);
    t.is(ours.stdout, ref.stdout);
    const refDebug = await nncp('log', ['-cfg', n.cfg, '-debug']);
    t.is((await pigeon(['log', '-cfg', n.cfg, '-debug'])).stdout, refDebug.stdout);
  }

  const aRecs = parseLog(fs.readFileSync(a.log, 'utf8'));
  const txs = aRecs.filter((r) => r.who === 'tx' && r.fields.get('Type') === 'file');
  t.is(txs.length, sizes.length);
  for (const r of txs) t.true(r.fields.get('Msg')!.includes(`(${iBytes(Number(r.fields.get('Size')))})`), r.fields.get('Msg'));
  const bRecs = parseLog(fs.readFileSync(b.log, 'utf8'));
  const failed = bRecs.find((r) => r.who === 'rx-handle');
  t.truthy(failed);
  t.is(failed!.fields.get('Output'), 'line one\nline two');
  t.is(failed!.fields.get('Err'), 'exit status 3');
  t.is(failed!.fields.get('Node'), a.id);
  t.is(failed!.fields.get('Dst'), 'fail arg');
  t.true(bRecs.some((r) => r.who === 'rx' && r.fields.get('Dst') === 'f1500'));
});
