/**
 * The `notify` section: pigeon toss mails what nncp-toss mails, through
 * neigh.self.exec.sendmail, for file, freq and exec packets. Alice (the
 * reference) sends the same packets to two receivers, one tossed by
 * nncp-toss and one by pigeon toss; each receiver's sendmail is a script
 * recording its arguments and its input, and both records must be equal.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { parseLog } from '../src/log/log.js';
import { encodeHeaderWords, mailMessage } from '../src/toss/notify.js';
import { makeNodes, saveNode, type TestNode } from './helpers/nncp.js';
import { requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

const LONG_NAME = 'привет файл с очень длинным именем которое точно больше чем семьдесят шесть символов.txt';

async function must(t: ExecutionContext, what: string, p: ReturnType<typeof runNncp>): Promise<string> {
  const r = await p;
  t.is(r.code, 0, `${what}: ${r.stderr}`);
  return r.stdout.toString('utf8');
}

/** A sendmail that records "ARGV: args" and its stdin in DIR/N (and fails with `fail`). */
function mailer(dir: string, fail = false): string {
  fs.mkdirSync(dir, { recursive: true });
  const script = path.join(dir, 'sendmail.sh');
  fs.writeFileSync(script, `#!/bin/sh\nf=$(mktemp "${dir}/mail.XXXXXX")\n{ echo "ARGV: $*"; cat; } > "$f"\n${fail ? 'echo "mailer broke" >&2\nexit 4\n' : ''}`, { mode: 0o755 });
  return script;
}

/** The recorded mails, sorted (the two programs toss packets in their own order). */
function mails(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.startsWith('mail.')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).sort();
}

const NOTIFY = {
  file: { from: 'nncp@bob', to: 'user+file@example.com' },
  freq: { from: 'nncp@bob', to: 'user+freq@example.com' },
  exec: {
    'alice.cat': { from: 'nncp+alice@bob', to: 'user+cat@example.com' },
    '*.cat': { from: 'nncp@bob', to: 'never@example.com' },
    '*.sh': { from: 'nncp@bob', to: 'user+sh@example.com' },
  },
};

/** alice and two receivers, bobn (tossed by nncp) and bobp (by pigeon), each with notify and its own recording sendmail. */
async function setup(t: ExecutionContext, opts: { fail?: boolean } = {}): Promise<{ dir: string; nodes: Record<string, TestNode> }> {
  const dir = await tmpDir(t);
  const nodes = await makeNodes(dir, ['alice', 'bobn', 'bobp'], { exec: { sh: ['/bin/sh', '-c'], cat: ['/bin/cat'] } });
  for (const name of ['bobn', 'bobp']) {
    const n = nodes[name];
    n.raw.neigh.self.exec.sendmail = [mailer(path.join(dir, `mail-${name}`), opts.fail), '-t', 'two words'];
    n.raw.notify = NOTIFY;
    await saveNode(n);
    fs.writeFileSync(path.join(n.freqDir, 'pubfile'), 'published\n');
  }
  return { dir, nodes };
}

/** Alice sends the same packets to `to`, then they are carried to its rx queue by nncp-xfer. */
async function sendAll(t: ExecutionContext, dir: string, alice: TestNode, to: TestNode): Promise<void> {
  const a = ['-quiet', '-cfg', alice.cfgPath];
  const src = path.join(dir, 'src.txt');
  fs.writeFileSync(src, 'file content\n');
  fs.writeFileSync(path.join(dir, LONG_NAME), 'long name\n');
  await must(t, 'nncp-file', runNncp('nncp-file', [...a, src, `${to.name}:dst.txt`]));
  await must(t, 'nncp-file long', runNncp('nncp-file', [...a, path.join(dir, LONG_NAME), `${to.name}:`]));
  await must(t, 'nncp-freq', runNncp('nncp-freq', [...a, `${to.name}:pubfile`, `got-${to.name}.txt`]));
  await must(t, 'nncp-exec cat', runNncp('nncp-exec', [...a, to.name, 'cat'], { input: 'x'.repeat(200) }));
  await must(t, 'nncp-exec cat, no output', runNncp('nncp-exec', [...a, to.name, 'cat'], { input: '' }));
  await must(t, 'nncp-exec sh', runNncp('nncp-exec', [...a, to.name, 'sh', 'echo shout; echo "ünïcode"'], { input: 'in' }));
  await must(t, 'nncp-exec sh failing', runNncp('nncp-exec', [...a, to.name, 'sh', 'echo no; exit 3'], { input: 'in' }));
  const xfer = path.join(dir, `xfer-${to.name}`);
  fs.mkdirSync(xfer);
  await must(t, 'nncp-xfer -mkdir', runNncp('nncp-xfer', [...a, '-mkdir', xfer]));
  await must(t, 'nncp-xfer -rx', runNncp('nncp-xfer', ['-quiet', '-cfg', to.cfgPath, '-rx', xfer]));
}

test('pigeon toss sends the mails nncp-toss sends, byte for byte, to the same addresses', async (t) => {
  if (!requireNncp(t)) return;
  const { dir, nodes } = await setup(t);
  await sendAll(t, dir, nodes.alice, nodes.bobn);
  await sendAll(t, dir, nodes.alice, nodes.bobp);
  const rn = await runNncp('nncp-toss', ['-quiet', '-cfg', nodes.bobn.cfgPath]);
  const rp = await runPigeon(['toss', '-quiet', '-cfg', nodes.bobp.cfgPath]);
  t.is(rp.code, rn.code, `exit codes (the failing exec makes both 1): ${rp.stderr}`);
  t.is(rn.code, 1);
  const theirs = mails(path.join(dir, 'mail-bobn'));
  t.is(theirs.length, 6); // 2 files, 1 freq, 3 successful execs
  t.deepEqual(mails(path.join(dir, 'mail-bobp')), theirs);
  // What the reference sent, spelled out for the reader.
  t.true(theirs.includes('ARGV: -t two words user+file@example.com\nFrom: nncp@bob\nTo: user+file@example.com\nSubject: File from alice: dst.txt (13 B)'));
  t.true(theirs.includes('ARGV: -t two words user+freq@example.com\nFrom: nncp@bob\nTo: user+freq@example.com\nSubject: Freq from alice: pubfile'));
  t.true(theirs.includes('ARGV: -t two words user+cat@example.com\nFrom: nncp+alice@bob\nTo: user+cat@example.com\nSubject: Exec from alice: cat'));
  t.true(theirs.some((m) => m.startsWith('ARGV: -t two words user+file@example.com\nFrom: nncp@bob\nTo: user+file@example.com\nSubject: =?UTF-8?b?')));
  t.true(theirs.some((m) => m.includes('Content-Transfer-Encoding: base64\n\n' + Buffer.from('x'.repeat(200)).toString('base64'))));
});

test('a failing sendmail is logged as rx-notify, as nncp-toss logs it, and the packets are delivered all the same', async (t) => {
  if (!requireNncp(t)) return;
  const { dir, nodes } = await setup(t, { fail: true });
  const a = ['-quiet', '-cfg', nodes.alice.cfgPath];
  const src = path.join(dir, 'src.txt');
  fs.writeFileSync(src, 'file content\n');
  for (const to of [nodes.bobn, nodes.bobp]) {
    await must(t, 'nncp-file', runNncp('nncp-file', [...a, src, `${to.name}:dst.txt`]));
    await must(t, 'nncp-exec', runNncp('nncp-exec', [...a, to.name, 'sh', 'echo hi'], { input: '' }));
    const xfer = path.join(dir, `xfer-${to.name}`);
    fs.mkdirSync(xfer);
    await must(t, 'nncp-xfer -mkdir', runNncp('nncp-xfer', [...a, '-mkdir', xfer]));
    await must(t, 'nncp-xfer -rx', runNncp('nncp-xfer', ['-quiet', '-cfg', to.cfgPath, '-rx', xfer]));
  }
  const rn = await runNncp('nncp-toss', ['-quiet', '-cfg', nodes.bobn.cfgPath]);
  const rp = await runPigeon(['toss', '-quiet', '-cfg', nodes.bobp.cfgPath]);
  t.is(rn.code, 0);
  t.is(rp.code, 0, rp.stderr.toString());
  const notes = (n: TestNode) =>
    parseLog(fs.readFileSync(n.log, 'utf8'))
      .filter((r) => r.who === 'rx-notify')
      .map((r) => {
        const f = new Map(r.fields);
        return [f.get('Type'), f.get('Dst'), f.get('Err'), String(f.get('Msg')).replace(/\/[A-Z0-9]{52} /, '/PKT ')].join(' | ');
      })
      .sort();
  t.deepEqual(notes(nodes.bobp), notes(nodes.bobn));
  t.is(notes(nodes.bobn).length, 2);
  for (const n of [nodes.bobn, nodes.bobp]) {
    t.is(fs.readFileSync(path.join(n.incoming, 'dst.txt'), 'utf8'), 'file content\n');
    t.deepEqual(fs.readdirSync(path.join(n.spool, nodes.alice.idB32, 'rx')).filter((f) => /^[A-Z0-9]{52}$/.test(f)), []);
  }
});

test('notify without neigh.self.exec.sendmail: the file is delivered and the log says what to add', async (t) => {
  if (!requireNncp(t)) return;
  const { dir, nodes } = await setup(t);
  const bob = nodes.bobp;
  delete bob.raw.neigh.self.exec.sendmail;
  await saveNode(bob);
  const src = path.join(dir, 'src.txt');
  fs.writeFileSync(src, 'file content\n');
  await must(t, 'nncp-file', runNncp('nncp-file', ['-quiet', '-cfg', nodes.alice.cfgPath, src, `${bob.name}:dst.txt`]));
  const xfer = path.join(dir, 'xfer');
  fs.mkdirSync(xfer);
  await must(t, 'nncp-xfer -mkdir', runNncp('nncp-xfer', ['-quiet', '-cfg', nodes.alice.cfgPath, '-mkdir', xfer]));
  await must(t, 'nncp-xfer -rx', runNncp('nncp-xfer', ['-quiet', '-cfg', bob.cfgPath, '-rx', xfer]));
  const r = await runPigeon(['toss', '-cfg', bob.cfgPath]);
  t.is(r.code, 0);
  t.regex(r.stderr.toString(), /warning: .*cfg\.hjson: notify: no notification can be sent: neigh\.self\.exec has no sendmail/);
  t.regex(r.stderr.toString(), /ERROR Tossing file alice\/[A-Z0-9]{52} \(13 B\): dst\.txt: notifying: notify\.file is set but neigh\.self\.exec\.sendmail is not/);
  t.is(fs.readFileSync(path.join(bob.incoming, 'dst.txt'), 'utf8'), 'file content\n');
});

test('subjects are encoded as Go\'s mime package encodes them', (t) => {
  t.is(encodeHeaderWords('File from alice: a\tb=?x?.txt (1 B)'), 'File from alice: a\tb=?x?.txt (1 B)');
  t.is(encodeHeaderWords('é'), '=?UTF-8?b?w6k=?=');
  // Words of at most 45 bytes, never splitting a character.
  const words = encodeHeaderWords(`File from alice: ${LONG_NAME} (10 B)`).split(' ');
  t.is(words.length, 5);
  for (const w of words) {
    t.true(w.length <= 75);
    t.notThrows(() => new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(w.slice(10, -2), 'base64')));
  }
  t.is(words.map((w) => Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).join(''), `File from alice: ${LONG_NAME} (10 B)`);
  t.is(encodeHeaderWords('line\nbreak'), '=?UTF-8?b?bGluZQpicmVhaw==?=');
  t.is(mailMessage({ from: 'a', to: 'b' }, 's').toString(), 'From: a\nTo: b\nSubject: s');
  t.is(mailMessage({ from: 'a', to: 'b' }, 's', Buffer.from('hi\n')).toString(), 'From: a\nTo: b\nSubject: s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\naGkK');
});
