/**
 * Configurations NNCP users really have, or an attacker could hand us
 * (issue 9): Base32 keys with non-zero trailing bits, which the reference
 * accepts; nesting thousands deep; NUL bytes and invalid UTF-8. Each case is
 * run through the reference (nncp-stat, nncp-cfgmin) to record what it does,
 * and through pigeon, in-process and on the command line (one line on
 * stderr, never a stack trace).
 */
import test, { type ExecutionContext } from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Hjson from 'hjson';
import { base32Decode, base32Encode } from '../src/codec/base32.js';
import { loadConfig } from '../src/config/load.js';
import type { SelfNode } from '../src/config/types.js';
import { generateNodeKeys } from '../src/crypto/keys.js';
import { ConfigError } from '../src/errors.js';
import { requireNncp, runNncp, runPigeon, tmpDir } from './helpers/util.js';

type Raw = Record<string, any>;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** The same key with the lowest unused bit of its last Base32 character set. */
const flipTrailing = (s: string) => s.slice(0, -1) + ALPHABET[ALPHABET.indexOf(s.at(-1)!) ^ 1];

const b32 = base32Encode;
const pubOf = (k: SelfNode) => ({ id: k.idB32, exchpub: b32(k.exchPub), signpub: b32(k.signPub), noisepub: b32(k.noisePub) });

/** A valid configuration of fresh in-process keys, spool and log under `dir`. */
function inProcessRaw(dir: string): Raw {
  const me = generateNodeKeys();
  return {
    spool: path.join(dir, 'spool'),
    log: path.join(dir, 'log'),
    self: { ...pubOf(me), exchprv: b32(me.exchPrv), signprv: b32(me.signPrv), noiseprv: b32(me.noisePrv) },
    neigh: { self: pubOf(me), bob: pubOf(generateNodeKeys()) },
  };
}

async function write(dir: string, name: string, content: Raw | string | Uint8Array): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, content instanceof Uint8Array || typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
}

async function loadError(file: string): Promise<string> {
  try {
    await loadConfig({ cfg: file, env: {} });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message;
  }
  throw new Error(`${file} loaded, but it should not have`);
}

/** `pigeon stat -cfg FILE` refuses with exactly `pigeon stat: MESSAGE` on one line. */
async function cliRefuses(t: ExecutionContext, file: string, message: string): Promise<void> {
  const r = await runPigeon(['stat', '-cfg', file]);
  t.not(r.code, 0);
  t.is(r.stderr, `pigeon stat: ${message}\n`);
}

// ------------------------------------------------- Base32 trailing bits (item 7)

test('base32Decode refuses non-zero trailing bits unless asked to drop them', (t) => {
  const key = generateNodeKeys().signPrv; // 64 bytes: 3 unused bits
  const flipped = flipTrailing(b32(key));
  t.is(base32Decode(flipped), null);
  t.deepEqual(base32Decode(flipped, { ignoreTrailingBits: true }), key);
  t.deepEqual(base32Decode(b32(key), { ignoreTrailingBits: true }), key);
  t.is(base32Decode(flipped.toLowerCase(), { ignoreTrailingBits: true }), null, 'the alphabet is still checked');
});

test('keys with non-zero trailing bits: the reference accepts them, pigeon too, with a warning, decoding to the canonical keys', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  await mkdir(path.join(dir, 'spool'));
  const mine = Hjson.parse((await runNncp('nncp-cfgnew', ['-nocomments'])).stdout.toString('utf8'));
  const bob = Hjson.parse((await runNncp('nncp-cfgnew', ['-nocomments'])).stdout.toString('utf8')).self;
  const canonical: Raw = {
    ...mine,
    spool: path.join(dir, 'spool'),
    log: path.join(dir, 'log'),
    neigh: { ...mine.neigh, bob: { id: bob.id, exchpub: bob.exchpub, signpub: bob.signpub, noisepub: bob.noisepub } },
  };
  const flipped: Raw = structuredClone(canonical);
  flipped.self.exchprv = flipTrailing(flipped.self.exchprv);
  flipped.self.signprv = flipTrailing(flipped.self.signprv);
  flipped.neigh.bob.id = flipTrailing(flipped.neigh.bob.id);
  flipped.neigh.bob.exchpub = flipTrailing(flipped.neigh.bob.exchpub);
  t.not(flipped.neigh.bob.exchpub, bob.exchpub);
  const good = await write(dir, 'canonical.hjson', canonical);
  const file = await write(dir, 'flipped.hjson', flipped);

  // The reference accepts it, and reads the canonical keys out of it.
  const stat = await runNncp('nncp-stat', ['-cfg', file]);
  t.is(stat.code, 0, stat.stderr);
  const refMin = await runNncp('nncp-cfgmin', ['-cfg', file]);
  t.is(refMin.code, 0, refMin.stderr);
  t.is(refMin.stdout.toString(), (await runNncp('nncp-cfgmin', ['-cfg', good])).stdout.toString());

  // So does pigeon, with one warning a key, and the same keys.
  const cfg = await loadConfig({ cfg: file, env: {}, needSelf: true });
  const warning = 'has non-canonical trailing bits (the unused low bits of its last Base32 character are not zero); accepted, as NNCP accepts it';
  const warnings = ['self.exchprv', 'self.signprv', 'neigh.bob.id', 'neigh.bob.exchpub'].map((k) => `${file}: ${k}: ${warning}`);
  t.deepEqual(cfg.warnings, warnings);
  const ref = await loadConfig({ cfg: good, env: {}, needSelf: true });
  t.deepEqual(ref.warnings, []);
  t.deepEqual({ ...cfg, path: '', warnings: [] }, { ...ref, path: '', warnings: [] });
  t.deepEqual(cfg.byName.get('bob')!.exchPub, base32Decode(bob.exchpub));
  t.is(cfg.byName.get('bob')!.idB32, bob.id);

  // On the command line: cfgmin prints what the reference prints, and the warnings, one line each.
  const min = await runPigeon(['cfgmin', '-cfg', file]);
  t.is(min.code, 0, min.stderr);
  t.is(min.stdout.toString(), refMin.stdout.toString());
  t.is(min.stderr, warnings.map((w) => `pigeon cfgmin: warning: ${w}\n`).join(''));
  const pstat = await runPigeon(['stat', '-cfg', file]);
  t.is(pstat.code, 0, pstat.stderr);
  // Every command that loads the configuration says so too (not with -quiet).
  t.is(pstat.stderr, warnings.map((w) => `pigeon: warning: ${w}\n`).join(''));
  const quiet = await runPigeon(['stat', '-quiet', '-cfg', file]);
  t.is(quiet.code, 0, quiet.stderr);
  t.is(quiet.stderr, '');
});

test('the node id check runs on the decoded bytes: trailing bits do not make another node\'s id pass', async (t) => {
  const dir = await tmpDir(t);
  const raw = inProcessRaw(dir);
  const carol = generateNodeKeys();
  const bobId = raw.neigh.bob.id;
  raw.neigh.bob.id = flipTrailing(carol.idB32);
  const file = await write(dir, 'cfg.hjson', raw);
  t.is(await loadError(file), `${file}: neigh.bob.id: does not match its signpub: the id is BLAKE2b-256 of signpub, ${bobId}`);
  raw.neigh.bob.id = flipTrailing(bobId);
  raw.neigh.bob.exchpub = raw.neigh.bob.exchpub.slice(0, -1) + '1';
  await write(dir, 'cfg.hjson', raw);
  t.is(await loadError(file), `${file}: neigh.bob.exchpub: expected 52 Base32 characters (A-Z, 2-7), found "1" at position 52`);
});

// ------------------------------------- nesting, NUL bytes, invalid UTF-8 (item 10)

/** A valid configuration as Hjson text: a comment, a quoteless spool, a quoted log. */
function hjsonText(raw: Raw): string {
  return `# pigeon's test configuration\n{\n  spool: ${raw.spool}\n  log: "${raw.log}"\n  self: ${JSON.stringify(raw.self)}\n  neigh: ${JSON.stringify(raw.neigh)}\n}\n`;
}

/** `base` (text as UTF-8) with `insert` placed right after the first (or last) `anchor`; and the byte offset of the insertion. */
function splice(base: string | Uint8Array, anchor: string, insert: Uint8Array, last = false): { data: Buffer; offset: number } {
  const buf = Buffer.from(base);
  const at = last ? buf.lastIndexOf(anchor) : buf.indexOf(anchor);
  if (at < 0) throw new Error(`no ${anchor} in the text`);
  const cut = at + Buffer.byteLength(anchor);
  return { data: Buffer.concat([buf.subarray(0, cut), insert, buf.subarray(cut)]), offset: cut };
}

/** `line L, column C` of byte `offset` in ASCII text. */
function where(data: Uint8Array, offset: number): string {
  const before = Buffer.from(data.subarray(0, offset)).toString('latin1');
  return `line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')}`;
}

async function nncpStat(dir: string, file: string): Promise<number> {
  await mkdir(path.join(dir, 'spool'), { recursive: true });
  return (await runNncp('nncp-stat', ['-cfg', file])).code;
}

const deepMessage = `nested more than 64 levels deep ([ and { inside each other)`;

test('a configuration nested 100,000 deep is refused on one line, here and in the reference', async (t) => {
  if (!requireNncp(t)) return;
  const dir = await tmpDir(t);
  const cases = [
    { name: 'lists.hjson', text: `{ x: ${'['.repeat(100_000)}\n}`, column: 5 + 64 },
    { name: 'objects.hjson', text: `{ x: ${'{a:'.repeat(100_000)}\n}`, column: 5 + 3 * 63 + 1 },
    { name: 'balanced.hjson', text: `{\n  x: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n}`, line: 2, column: 5 + 64 },
  ];
  for (const c of cases) {
    const file = await write(dir, c.name, c.text);
    const message = `${file}: line ${c.line ?? 1}, column ${c.column}: ${deepMessage}`;
    t.is(await loadError(file), message);
    await cliRefuses(t, file, message);
    t.not(await nncpStat(dir, file), 0, `the reference refuses ${c.name} too`);
  }
});

test('nesting up to 64 levels loads; brackets in strings and comments do not count', async (t) => {
  const dir = await tmpDir(t);
  const raw = inProcessRaw(dir);
  const text = hjsonText(raw);
  const nested = (n: number) => `\n  x: ${'['.repeat(n)}${']'.repeat(n)}`;
  const ok = await write(dir, 'ok.hjson', text.replace('\n  self:', `${nested(63)}\n  self:`));
  t.deepEqual((await loadConfig({ cfg: ok, env: {} })).warnings, [`${ok}: x: unknown key, ignored`]);
  const deep = await write(dir, 'deep.hjson', text.replace('\n  self:', `${nested(64)}\n  self:`));
  t.is(await loadError(deep), `${deep}: line 5, column 69: ${deepMessage}`);
  const quoted = `\n  # ${'{'.repeat(100)}\n  /* ${'['.repeat(100)} */\n  y: "${'['.repeat(100)}"\n  z: '''\n    ${'{'.repeat(100)}\n    '''`;
  const strings = await write(dir, 'strings.hjson', text.replace('\n  self:', `${quoted}\n  self:`));
  const cfg = await loadConfig({ cfg: strings, env: {} });
  t.deepEqual(cfg.warnings, [`${strings}: y: unknown key, ignored`, `${strings}: z: unknown key, ignored`]);
});

/** Where a NUL byte goes, and whether nncp-stat refuses it (NNCP's Hjson reads NUL as the end of the input). */
const nulCases = [
  { title: 'in a quoteless value', anchor: 'spool: /', nncpRefuses: true },
  { title: 'in a comment', anchor: '# pigeon', nncpRefuses: true },
  { title: 'between keys', anchor: '"\n', nncpRefuses: true },
  { title: 'in a quoted string', anchor: 'log: "/', nncpRefuses: false },
  { title: 'after the last brace', anchor: '}\n', last: true, nncpRefuses: false },
];

for (const c of nulCases) {
  test(`a NUL byte ${c.title} is refused, naming the line and byte offset`, async (t) => {
    const dir = await tmpDir(t);
    const text = hjsonText(inProcessRaw(dir));
    const { data, offset } = splice(text, c.anchor, Uint8Array.of(0), c.last);
    const file = await write(dir, 'cfg.hjson', data);
    const message = `${file}: ${where(data, offset)}: NUL byte (byte offset ${offset}): a configuration is text, and NNCP reads NUL as the end of the file`;
    t.is(await loadError(file), message);
    await cliRefuses(t, file, message);
    if (requireNncp(t)) t.is((await nncpStat(dir, file)) !== 0, c.nncpRefuses, 'what the reference does');
  });
}

test('invalid UTF-8: accepted in comments, as the reference accepts it; refused in keys and values, naming the key, line and byte offset', async (t) => {
  const dir = await tmpDir(t);
  const raw = inProcessRaw(dir);
  const text = hjsonText(raw);
  const bad = Uint8Array.of(0xc3, 0x28); // a lead byte without its continuation
  const nncp = requireNncp(t);

  const comment = splice(text, '# pigeon', bad);
  const inComment = await write(dir, 'comment.hjson', comment.data);
  t.deepEqual((await loadConfig({ cfg: inComment, env: {} })).warnings, []);
  if (nncp) t.is(await nncpStat(dir, inComment), 0);

  const cases = [
    { name: 'quoteless.hjson', anchor: 'spool: /', key: 'spool', before: '', after: '' },
    { name: 'quoted.hjson', anchor: 'log: "/', key: 'log', before: '', after: '' },
    { name: 'key.hjson', anchor: '"bob":{', key: 'neigh.bob."x\ufffd("', before: '"x', after: '":"unknown, so ignored by NNCP",' },
  ];
  for (const c of cases) {
    // The comment's invalid bytes come first and are not the ones named.
    const insert = Buffer.concat([Buffer.from(c.before), bad, Buffer.from(c.after)]);
    const { data, offset: at } = splice(comment.data, c.anchor, insert);
    const offset = at + c.before.length;
    const file = await write(dir, c.name, data);
    const message = `${file}: ${c.key}: invalid UTF-8 at ${where(data, offset)} (byte offset ${offset}): pigeon needs keys and values in UTF-8`;
    t.is(await loadError(file), message);
    await cliRefuses(t, file, message);
    if (nncp) t.is(await nncpStat(dir, file), 0, `the reference keeps the raw bytes of ${c.name}`);
  }

  // Characters pigeon uses to mark invalid bytes, present in the text itself: the first invalid byte is named.
  const file = await write(dir, 'marks.hjson', splice(comment.data, 'log: "/', Buffer.from('\u{F0000}')).data);
  t.is(await loadError(file), `${file}: invalid UTF-8 at ${where(comment.data, comment.offset)} (byte offset ${comment.offset}): pigeon needs keys and values in UTF-8`);
});

test('a config directory value with a NUL byte or invalid UTF-8 is refused, naming the file and byte offset', async (t) => {
  const dir = await tmpDir(t);
  const cfgDir = path.join(dir, 'cfgdir');
  await mkdir(cfgDir);
  await writeFile(path.join(cfgDir, 'spool'), Buffer.from('/var/spool/\xff\n', 'latin1'));
  t.is(await loadError(cfgDir), `${cfgDir}: spool: ${cfgDir}/spool: invalid UTF-8 at byte offset 11: pigeon needs values in UTF-8`);
  await writeFile(path.join(cfgDir, 'spool'), '/var/spool\n');
  await writeFile(path.join(cfgDir, 'log'), '/var\0/log\n');
  t.is(await loadError(cfgDir), `${cfgDir}: log: ${cfgDir}/log: NUL byte at byte offset 4: pigeon needs values in UTF-8`);
});
