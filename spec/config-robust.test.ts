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
import { requireNncp, runNncp, runPigeon, tmpDir } from './helpers/nncp.js';

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
