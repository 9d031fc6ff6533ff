/**
 * Names a remote node chose, printed safely (issue 9, item 9): printable()
 * escapes what a terminal would act on; a file named "a\nFAKE LINE\x1b[2J"
 * tossed through the CLI gives one stderr line with escapes, while the log
 * record keeps the name (in recfile "+" lines, which nncp-log reads),
 * `pigeon pkt` and progress bars show it escaped too, and `pigeon log`
 * escapes all but the newline (it prints what nncp-log prints, line for line).
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { printable } from '../src/format.js';
import { Logger } from '../src/log/log.js';
import { PktType } from '../src/packet/header.js';
import { Progress } from '../src/progress.js';
import { lab } from './helpers/nncp.js';
import { plainOf, sendPacket } from './helpers/packets.js';
import { haveNncp, logRecords, runNncp, runPigeon } from './helpers/util.js';

const EVIL = 'a\nFAKE LINE\x1b[2J';
const SHOWN = 'a\\nFAKE LINE\\x1b[2J';
const enc = new TextEncoder();

test('printable: controls, DEL, C1, separators and bidi controls escaped; the rest (backslashes too) as it is', (t) => {
  t.is(printable(EVIL), SHOWN);
  t.is(printable('tab\there\r\0\x7f'), 'tab\\there\\r\\x00\\x7f');
  t.is(printable('c1 \u0085 \u009b[31m'), 'c1 \\u0085 \\u009b[31m');
  t.is(printable('ls\u2028ps\u2029 rtl\u202egnp.exe \u2066x\u2069 \u200f'), 'ls\\u2028ps\\u2029 rtl\\u202egnp.exe \\u2066x\\u2069 \\u200f');
  const plain = 'Got file café ☃ 𝄞 C:\\dir\\n.txt (5 B) from alice';
  t.is(printable(plain), plain, 'printable text, backslash sequences included, unchanged');
  t.is(printable(''), '');
  t.is(printable('multi\nline\x1b', { keepNewlines: true }), 'multi\nline\\x1b');
});

test('printable: lone surrogates and invalid UTF-8 bytes made visible', (t) => {
  t.is(printable('x\ud800y\udc00z'), 'x\\ud800y\\udc00z');
  t.is(printable('pair 𝄞'), 'pair 𝄞');
  t.is(printable(enc.encode('ok é')), 'ok é');
  t.is(printable(Uint8Array.from([0x61, 0xff, 0x62, 0xc3, 0x28, 0xe2, 0x82, 0xac, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0x0a])), 'a\\xffb\\xc3(€\\xc0\\xaf\\xed\\xa0\\x80\\n');
});

test('Logger: the human line and the -debug record are escaped; the log file keeps the name in "+" lines', async (t) => {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'printable-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const logPath = path.join(dir, 'log');
  let out = '';
  const log = new Logger({ path: logPath, debug: true, stderr: { write: (s: string) => (out += s) } });
  log.error('rx', [['Dst', EVIL]], `bad \x1b]0;title\x07`, `Tossing ${EVIL}`);
  t.false(out.includes('\x1b'), 'no ESC reaches the terminal');
  const lines = out.split('\n');
  t.true(lines.includes('Dst: a') && lines.includes('+ FAKE LINE\\x1b[2J'), `the record's own "+" lines, each made safe: ${out}`);
  t.truthy(lines.find((l) => l.endsWith(`ERROR Tossing ${SHOWN}: bad \\x1b]0;title\\x07`)), out);
  const text = fs.readFileSync(logPath, 'utf8');
  t.true(text.includes('Dst: a\n+ FAKE LINE\x1b[2J\n'), 'the record keeps the bytes, as before');
});

test('progress bar labels are escaped', (t) => {
  let out = '';
  const bar = new Progress({ enabled: true, label: `Rx ${EVIL}`, total: 10, out: { write: (s: string) => (out += s) } });
  bar.add(10);
  bar.finish();
  t.true(out.includes(`Rx ${SHOWN} `));
  t.false(out.includes('FAKE LINE\x1b'));
});

test('a file packet named "a\\nFAKE LINE\\x1b[2J" through toss: one stderr line with escapes; pigeon log and nncp-log read the record', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const { id } = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, EVIL), enc.encode('hello'));
  const r = await runPigeon(['toss', '-noprogress', '-cfg', l.nodes.bob.cfgPath]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, r.stderr.replace(/\x1b/g, ''), 'no ESC on stderr');
  const lines = r.stderr.trimEnd().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0], /^\S+ Got file a\\nFAKE LINE\\x1b\[2J \(5 B\) from alice$/);
  t.is(fs.readFileSync(path.join(l.nodes.bob.incoming, EVIL), 'utf8'), 'hello', 'delivered under the name it was sent with, as the reference does');

  const rec = logRecords(l.nodes.bob.log).find((x) => x.fields.get('Pkt') === id)!;
  t.is(rec.fields.get('Msg'), `Got file ${EVIL} (5 B) from alice`, 'the log keeps the name');
  const shown = await runPigeon(['log', '-log', l.nodes.bob.log]);
  t.is(shown.code, 0, shown.stderr);
  // pigeon log prints what nncp-log prints, line for line (log.test.ts): the value's newline stays, the ESC does not.
  t.false(shown.stdout.includes(0x1b), 'no ESC on stdout');
  t.regex(shown.stdout.toString(), /Got file a\nFAKE LINE\\x1b\[2J \(5 B\) from alice\n$/);
  if (haveNncp()) {
    const ref = await runNncp('nncp-log', ['-cfg', l.nodes.bob.cfgPath, '-log', l.nodes.bob.log]);
    t.is(ref.code, 0, `nncp-log reads pigeon's record: ${ref.stderr}`);
    t.true(ref.stdout.toString().includes(`Got file ${EVIL} (5 B) from alice`), 'and shows it (raw, as it does)');
  }
});

test('pigeon pkt shows a plain packet\'s path escaped, invalid UTF-8 included', async (t) => {
  const l = await lab(t, ['alice', 'bob']);
  const name = Buffer.concat([Buffer.from(EVIL), Buffer.from([0xff])]);
  const { rxPath } = await sendPacket(l, 'alice', 'bob', plainOf(PktType.File, name), enc.encode('x'));
  const plainPkt = path.join(l.dir, 'plain');
  const dumped = await runPigeon(['pkt', '-dump', '-cfg', l.nodes.bob.cfgPath], { stdinFile: rxPath });
  t.is(dumped.code, 0, dumped.stderr);
  fs.writeFileSync(plainPkt, dumped.stdout);
  const r = await runPigeon(['pkt', '-cfg', l.nodes.bob.cfgPath], { stdinFile: plainPkt });
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.toString().includes(`Path: ${SHOWN}\\xff\n`), r.stdout.toString());
});
