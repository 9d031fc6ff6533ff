/**
 * Importing the library changes nothing in the process: no V8 flags, no
 * forced collections (src/stream/reclaim.ts) unless enableReclaim() is
 * called, as the executable does; the bytes are the same either way. And
 * the shared formats (src/format.ts) print as before.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { iBytes, shortId } from '../src/format.js';
import { generateNodeKeys } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const INDEX_URL = pathToFileURL(path.resolve(here, '../src/index.js')).href;
const PIGEON_JS = path.resolve(here, '../cmd/pigeon.js');

/**
 * The child: imports the library, optionally calls enableReclaim(), then
 * encrypts 24 MiB with the node:crypto engine (whose per-block buffers are
 * what reclaim() counts) with a fixed ephemeral key, opens it again, and
 * reports the packet's hash and whether V8's --expose_gc got set.
 */
const CHILD = `
import vm from 'node:vm';
import { createHash } from 'node:crypto';
const lib = await import(process.env.INDEX_URL);
const job = JSON.parse(process.argv[1]);
const keys = Object.fromEntries(Object.entries(job.keys).map(([who, k]) => [who, Object.fromEntries(Object.entries(k).map(([n, v]) => [n, Buffer.from(v, 'hex')]))]));
if (job.enable) lib.enableReclaim();
const data = Buffer.alloc(24 << 20, 7);
async function* pieces(b) { for (let o = 0; o < b.length; o += 65536) yield b.subarray(o, o + 65536); }
const plain = { type: lib.PktType.File, nice: 1, path: new TextEncoder().encode('x') };
const enc = lib.encryptPacket({ sender: keys.alice, recipient: keys.bob, nice: 3, plain, payload: pieces(data), ephemeralPrv: Buffer.from(job.eph, 'hex') });
const sha = createHash('sha256');
const parts = [];
for await (const c of enc.stream) { const copy = Uint8Array.from(c); sha.update(copy); parts.push(copy); }
const dec = await lib.decryptPacket({ self: keys.bob, lookup: () => ({ ...keys.alice, name: 'alice' }), input: pieces(Buffer.concat(parts)) });
const { body } = await lib.openPlain(dec.plaintext);
let same = 0;
for await (const c of body) same += c.length;
process.stdout.write('RESULT ' + JSON.stringify({ sha: sha.digest('hex'), got: same, gcGlobal: typeof globalThis.gc, gcFlag: vm.runInNewContext('typeof gc') }) + '\\n');
`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run to the end; stdin is the file `stdinFile` (a regular file, as `< FILE` gives) or empty. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdinFile?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const fd = stdinFile ? openSync(stdinFile, 'r') : 'ignore';
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: [fd, 'pipe', 'pipe'] });
    if (typeof fd === 'number') closeSync(fd);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Collections V8 reports as requested by gc() (--trace-gc names them "testing"). */
const forced = (traceGc: string): number => traceGc.split('\n').filter((l) => /\bScavenge\b.*\btesting\b|\bMark-Compact\b.*\btesting\b/.test(l)).length;

function hexKeys(k: ReturnType<typeof generateNodeKeys>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, v] of Object.entries(k)) if (v instanceof Uint8Array) out[n] = Buffer.from(v).toString('hex');
  return out;
}

test('importing the library sets no V8 flag and forces no collection; enableReclaim() does, with the same bytes', async (t) => {
  const job = { keys: { alice: hexKeys(generateNodeKeys()), bob: hexKeys(generateNodeKeys()) }, eph: randomBytes(32).toString('hex') };
  const child = (enable: boolean) =>
    run(process.execPath, ['--trace-gc', '--input-type=module', '-e', CHILD, JSON.stringify({ ...job, enable })], { INDEX_URL, PIGEON_NATIVE: '0' });
  const [plain, enabled] = [await child(false), await child(true)];
  t.is(plain.code, 0, plain.stderr);
  t.is(enabled.code, 0, enabled.stderr);
  const result = (r: Run) => JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('RESULT '))!.slice('RESULT '.length));
  const a = result(plain);
  const b = result(enabled);
  t.is(a.got, 24 << 20);
  t.is(b.got, 24 << 20);
  t.is(a.sha, b.sha, 'the same packet with and without enableReclaim()');
  t.is(a.gcGlobal, 'undefined');
  t.is(a.gcFlag, 'undefined', 'V8 --expose_gc untouched by importing and using the library');
  t.is(forced(plain.stdout), 0, 'no forced collection without enableReclaim()');
  t.is(b.gcGlobal, 'undefined', 'gc is not put on globalThis even then');
  t.is(b.gcFlag, 'function');
  t.true(forced(enabled.stdout) >= 2, `forced collections with enableReclaim(): ${forced(enabled.stdout)}`);
});

test('the executable switches reclaim on: a redirected stdin hashed by pigeon hash is collected every few MiB', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pigeon-side-effects-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'in');
  writeFileSync(f, randomBytes(30 << 20));
  const r = await run(process.execPath, ['--trace-gc', PIGEON_JS, 'hash'], {}, f);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^[0-9a-f]{64}$/m);
  t.true(forced(r.stdout) >= 2, `forced collections: ${forced(r.stdout)}`);
});

test('iBytes and shortId print as before', (t) => {
  const cases: [number | bigint, string][] = [
    [0, '0 B'],
    [9, '9 B'],
    [10, '10 B'],
    [282, '282 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [5222, '5.1 KiB'],
    [10 * 1024 - 1, '10 KiB'],
    [13 * 1024 * 1024 + 5, '13 MiB'],
    [1536 * 1024, '1.5 MiB'],
    [2n ** 40n, '1.0 TiB'],
  ];
  for (const [n, want] of cases) t.is(iBytes(n), want, String(n));
  const id = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRST';
  t.is(id.length, 52);
  t.is(shortId(id), 'ABCDEFGHIJKLMNOP..EFGHIJKLMNOPQRST');
  t.is(shortId(`area/${id}/${id}`), 'area/ABCDEFGHIJK..EFGHIJKLMNOPQRST');
  t.is(shortId('short-name'), 'short-name');
  t.is(shortId('x'.repeat(51)), 'x'.repeat(51));
});
