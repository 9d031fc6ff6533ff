/**
 * Units for eblobs (nncp-cfgenc): the one-block BLAKE2b-256 against
 * @noble/hashes, Balloon against a plain rendering of its definition, the
 * reference-made vectors in test-fixtures/eblob/ (make-eblobs.sh), sealing and
 * opening, one-line errors, the -cfg hook, and the terminal line reader.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { blake2b } from '@noble/hashes/blake2.js';
import { balloonH, balloonJobs, costFault, jobRange, MAX_SPACE_COST } from '../src/crypto/balloon.js';
import { balloonHParallel } from '../src/crypto/balloon-parallel.js';
import { blake2bBlock } from '../src/crypto/blake2b-block.js';
import { describeEblob, looksLikeEblob, openConfigBytes, openEblob, parseEblob, sealEblob } from '../src/config/eblob.js';
import { TerminalPassphrase } from '../src/config/passphrase.js';
import { ConfigError, PigeonError } from '../src/errors.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-fixtures/eblob');
interface Vector { file: string; passphrase: string; s: number; t: number; p: number; plain: string; dump: string }
const vectors: Vector[] = JSON.parse(readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8'));
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));
const utf8 = (s: string) => new TextEncoder().encode(s);

// ------------------------------------------------------------ BLAKE2b block

test('compress() is BLAKE2b-256 for every message length 0…128', (t) => {
  const b = blake2bBlock();
  const mem = new Uint8Array(b.memory.buffer);
  for (let len = 0; len <= 128; len++) {
    const msg = randomBytes(len);
    mem.fill(0, 0, 128);
    mem.set(msg, 0);
    b.compress(0, len, 1000);
    t.deepEqual(Buffer.from(mem.subarray(1000, 1032)), Buffer.from(blake2b(msg, { dkLen: 32 })), `length ${len}`);
  }
});

test('pair() hashes counter ‖ block ‖ block in place, output over an input', (t) => {
  const b = blake2bBlock();
  const mem = new Uint8Array(b.memory.buffer);
  const a = randomBytes(32), c = randomBytes(32);
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(0x123456789abcdef0n);
  const swap = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]).readUInt32LE(0);
  mem.set(a, 512);
  mem.set(c, 544);
  b.pair(swap(0x12345678), swap(0x9abcdef0), 512, 544, 72, 544);
  t.deepEqual(Buffer.from(mem.subarray(544, 576)), Buffer.from(blake2b(Buffer.concat([counter, a, c]), { dkLen: 32 })));
  mem.fill(0, 600, 632);
  b.pair(swap(0x12345678), swap(0x9abcdef0), 512, 600, 40, 700);
  t.deepEqual(Buffer.from(mem.subarray(700, 732)), Buffer.from(blake2b(Buffer.concat([counter, a]), { dkLen: 32 })));
});

// ------------------------------------------------------------ Balloon

/** Balloon as the EBlob documentation defines it, with @noble/hashes and BigInt: slow and plain. */
function balloonOracle(passwd: Uint8Array, salt: Uint8Array, s: number, t: number, p: number): Uint8Array {
  const H = (...parts: Uint8Array[]) => blake2b(Buffer.concat(parts), { dkLen: 32 });
  const u64 = (n: number | bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  const B = (jobSalt: Uint8Array) => {
    let cnt = 0;
    const buf: Uint8Array[] = [H(u64(cnt++), passwd, jobSalt)];
    for (let m = 1; m < s; m++) buf.push(H(u64(cnt++), buf[m - 1]));
    for (let r = 0; r < t; r++) {
      for (let m = 0; m < s; m++) {
        buf[m] = H(u64(cnt++), buf[(m + s - 1) % s], buf[m]);
        for (let i = 0; i < 3; i++) {
          const other = Number(BigInt('0x' + Buffer.from(H(u64(cnt++), jobSalt, u64(r), u64(m), u64(i))).toString('hex')) % BigInt(s));
          buf[m] = H(u64(cnt++), buf[m], buf[other]);
        }
      }
    }
    return buf[s - 1];
  };
  const x = new Uint8Array(32);
  for (let j = 0; j < p; j++) {
    const r = B(Buffer.concat([salt, u64(j)]));
    for (let i = 0; i < 32; i++) x[i] ^= r[i];
  }
  return H(passwd, salt, x);
}

test('balloonH agrees with the plain definition (odd sizes, several jobs, no jobs, no rounds)', (t) => {
  const salt = randomBytes(32);
  for (const [s, tc, p] of [[7, 3, 3], [16, 2, 2], [1, 1, 0], [1, 0, 1], [5, 1, 1]]) {
    const pw = randomBytes(1 + s);
    t.deepEqual(Buffer.from(balloonH(pw, salt, { s, t: tc, p })), Buffer.from(balloonOracle(pw, salt, s, tc, p)), `s=${s} t=${tc} p=${p}`);
  }
});

test('jobs on worker threads give the same key as jobs in turn', async (t) => {
  const pw = utf8('correct horse'), salt = randomBytes(32);
  const cost = { s: 64, t: 2, p: 3 };
  const want = Buffer.from(balloonH(pw, salt, cost));
  t.deepEqual(Buffer.from(await balloonHParallel(pw, salt, cost, 2)), want);
  t.deepEqual(Buffer.from(await balloonHParallel(pw, salt, cost, 1)), want);
  t.deepEqual(Buffer.from(await balloonHParallel(pw, salt, cost, 8)), want);
});

test('balloonJobs splits: XOR of the shares is the XOR of all jobs', (t) => {
  const pw = utf8('pw'), salt = randomBytes(32), cost = { s: 8, t: 1, p: 5 };
  const all = balloonJobs(pw, salt, cost, jobRange(0, 5, 1));
  const a = balloonJobs(pw, salt, cost, jobRange(0, 5, 2));
  const b = balloonJobs(pw, salt, cost, jobRange(1, 5, 2));
  t.deepEqual(Buffer.from(all), Buffer.from(a.map((x, i) => x ^ b[i])));
});

test('costs that cannot work are refused in words', (t) => {
  t.regex(costFault({ s: 0, t: 1, p: 1 }) ?? '', /space cost 0 .*at least 1/);
  t.regex(costFault({ s: MAX_SPACE_COST + 1, t: 1, p: 1 }) ?? '', /more memory than/);
  t.regex(costFault({ s: 1, t: -1, p: 1 }) ?? '', /time cost -1/);
  t.regex(costFault({ s: 1, t: 1, p: 1.5 }) ?? '', /parallelism 1.5/);
  t.is(costFault({ s: 32768, t: 16, p: 2 }), undefined);
});

// ------------------------------------------------------------ eblobs

for (const v of vectors) {
  test(`reference vector ${v.file} (s=${v.s} t=${v.t} p=${v.p}) opens to its plaintext; -dump text matches`, async (t) => {
    const data = fixture(v.file);
    t.true(looksLikeEblob(data));
    const e = parseEblob(data, v.file);
    t.like(e, { s: v.s, t: v.t, p: v.p });
    t.is(describeEblob(e), fixture(v.dump).toString('utf8'));
    t.deepEqual(Buffer.from(await openEblob(data, utf8(v.passphrase), v.file)), fixture(v.plain));
  });
}

test('the layout: magic, S, T, P, salt, length-prefixed blob padded to 4', async (t) => {
  const salt = Buffer.alloc(32, 7);
  const plain = utf8('{ spool: /x }\n'); // 14 bytes: blob 30, padded to 32
  const e = Buffer.from(await sealEblob(plain, utf8('pw'), { s: 3, t: 1, p: 1 }, salt));
  t.is(e.subarray(0, 8).toString('latin1'), 'NNCPB\0\0\x03');
  t.deepEqual([e.readUInt32BE(8), e.readUInt32BE(12), e.readUInt32BE(16)], [3, 1, 1]);
  t.deepEqual(e.subarray(20, 52), salt);
  t.is(e.readUInt32BE(52), plain.length + 16);
  t.is(e.length, 56 + 32);
  t.deepEqual(Buffer.from(await openEblob(e, utf8('pw'), 'x')), Buffer.from(plain));
  // Sealing is deterministic for a given salt; a fresh salt each time otherwise.
  t.deepEqual(Buffer.from(await sealEblob(plain, utf8('pw'), { s: 3, t: 1, p: 1 }, salt)), e);
  t.notDeepEqual(Buffer.from(await sealEblob(plain, utf8('pw'), { s: 3, t: 1, p: 1 })), Buffer.from(await sealEblob(plain, utf8('pw'), { s: 3, t: 1, p: 1 })));
});

async function oneLineError(t: import('ava').ExecutionContext, p: Promise<unknown> | (() => unknown), re: RegExp): Promise<void> {
  const err = await t.throwsAsync(async () => (typeof p === 'function' ? p() : p));
  t.true(err instanceof PigeonError, String(err));
  t.false(err!.message.includes('\n'), err!.message);
  t.regex(err!.message, re);
}

test('wrong passphrase, tampering, truncation, foreign and old files: one line naming the file', async (t) => {
  const v = vectors[0];
  const data = fixture(v.file);
  await oneLineError(t, openEblob(data, utf8('not it'), 'my.eblob'), /^my\.eblob: wrong passphrase/);
  const tampered = Buffer.from(data);
  tampered[tampered.length - 5] ^= 1;
  await oneLineError(t, openEblob(tampered, utf8(v.passphrase), 'my.eblob'), /^my\.eblob: wrong passphrase, or the eblob is damaged/);
  const params = Buffer.from(data);
  params[19] ^= 1; // P is authenticated too
  await oneLineError(t, openEblob(params, utf8(v.passphrase), 'my.eblob'), /^my\.eblob: wrong passphrase/);
  for (const cut of [0, 5, 8, 30, 55, 56, 60, data.length - 1]) {
    await oneLineError(t, () => parseEblob(data.subarray(0, cut), 'cut.eblob'), cut < 8 ? /^cut\.eblob: not an eblob/ : /^cut\.eblob: truncated eblob: \d+ bytes/);
  }
  await oneLineError(t, () => parseEblob(utf8('{ spool: /x }\n'), 'cfg.hjson'), /^cfg\.hjson: not an eblob/);
  const old = Buffer.from(data);
  old[7] = 2;
  await oneLineError(t, () => parseEblob(old, 'old.eblob'), /^old\.eblob: EBlob v2 is an old format/);
  const huge = Buffer.from(data);
  huge.writeUInt32BE(0xffffffff, 8);
  await oneLineError(t, openEblob(huge, utf8('x'), 'huge.eblob'), /^huge\.eblob: unusable eblob: space cost 4294967295/);
});

// ------------------------------------------------------------ the -cfg hook

test('openConfigBytes: plain bytes pass through untouched, nobody is asked', async (t) => {
  const plain = utf8('{ spool: /x }');
  let asked = 0;
  t.is(await openConfigBytes(plain, 'c.hjson', async () => { asked++; return utf8(''); }), plain);
  t.is(asked, 0);
});

test('openConfigBytes: an eblob asks "Passphrase:" once and yields the plaintext', async (t) => {
  const v = vectors[0];
  const prompts: string[] = [];
  const out = await openConfigBytes(fixture(v.file), v.file, async (prompt) => { prompts.push(prompt); return utf8(v.passphrase); });
  t.deepEqual(prompts, ['Passphrase:']);
  t.deepEqual(Buffer.from(out), fixture(v.plain));
});

test('openConfigBytes: no terminal, wrong passphrase, truncated file: one line naming the file', async (t) => {
  const v = vectors[0];
  const data = fixture(v.file);
  const noTty = new TerminalPassphrase(Object.assign(new PassThrough(), { isTTY: false }), new PassThrough());
  await oneLineError(t, openConfigBytes(data, 'x.eblob', (p) => noTty.ask(p)), /^x\.eblob: is an eblob; cannot ask for the passphrase: standard input is not a terminal/);
  await oneLineError(t, openConfigBytes(data, 'x.eblob', async () => utf8('nope')), /^x\.eblob: wrong passphrase/);
  let asked = false;
  await oneLineError(t, openConfigBytes(data.subarray(0, 70), 'x.eblob', async () => { asked = true; return utf8(v.passphrase); }), /^x\.eblob: truncated eblob/);
  t.false(asked, 'a truncated eblob fails before the question');
  t.true((await t.throwsAsync(openConfigBytes(data, 'x.eblob', async () => utf8('nope')))) instanceof ConfigError);
});

// ------------------------------------------------------------ terminal lines

function fakeTty(): { input: PassThrough & { isTTY: boolean; setRawMode(m: boolean): void; modes: boolean[] }; output: PassThrough; shown: () => string } {
  const modes: boolean[] = [];
  const input = Object.assign(new PassThrough(), { isTTY: true, modes, setRawMode(m: boolean) { modes.push(m); } });
  const output = new PassThrough();
  const seen: Buffer[] = [];
  output.on('data', (b: Buffer) => seen.push(b));
  return { input, output, shown: () => Buffer.concat(seen).toString('utf8') };
}

test('terminal: two lines typed ahead in one chunk serve two questions; raw mode only while reading', async (t) => {
  const { input, output, shown } = fakeTty();
  const tty = new TerminalPassphrase(input, output);
  input.write('first pw\nsecond pw\rleft');
  t.deepEqual(Buffer.from(await tty.ask('Passphrase:')), Buffer.from('first pw'));
  t.deepEqual(Buffer.from(await tty.ask('Repeat passphrase:')), Buffer.from('second pw'));
  t.is(shown(), 'Passphrase:\nRepeat passphrase:\n');
  t.deepEqual(input.modes, [true, false, true, false]);
  tty.close();
  t.is(String(input.read()), 'left', 'bytes typed past the last line go back to stdin');
});

test('terminal: backspace (UTF-8 aware), Ctrl-U, CR LF; Ctrl-C and Ctrl-D end it with an error', async (t) => {
  const { input, output } = fakeTty();
  const tty = new TerminalPassphrase(input, output);
  setImmediate(() => input.write(Buffer.concat([Buffer.from('abü'), Buffer.from([0x7f, 0x7f]), Buffer.from('c\r\n')])));
  t.deepEqual(Buffer.from(await tty.ask('P:')), Buffer.from('ac'));
  setImmediate(() => input.write(Buffer.from([0x78, 0x15, 0x79, 0x0a])));
  t.deepEqual(Buffer.from(await tty.ask('P:')), Buffer.from('y'));
  setImmediate(() => input.write(Buffer.from([0x61, 0x03])));
  const intr = await t.throwsAsync(tty.ask('P:'));
  t.is((intr as PigeonError).exitCode, 130);
  setImmediate(() => input.write(Buffer.from([0x04])));
  await t.throwsAsync(tty.ask('P:'), { message: /no passphrase given/ });
  t.deepEqual(input.modes.slice(-2), [true, false], 'the terminal is restored after an error');
});

test('terminal: stdin that is not a terminal is refused before any prompt', async (t) => {
  const output = new PassThrough();
  const tty = new TerminalPassphrase(Object.assign(new PassThrough(), { isTTY: undefined }), output);
  await t.throwsAsync(tty.ask('Passphrase:'), { message: /standard input is not a terminal/ });
  t.is(output.read(), null);
});
