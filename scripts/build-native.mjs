// Builds native/aead.c into build/pigeon_native.node with the C compiler and
// the headers of the running Node (node_api.h and its bundled OpenSSL
// headers). The addon is an accelerator: when it cannot be built, this says
// so in one line and Pigeon runs on node:crypto instead (about three times
// slower on bulk decryption). Skips the compile when the output is newer
// than the source. PIGEON_NATIVE=0 skips the build altogether.
//
// Next to the addon it writes build/pigeon_native.json (size, SHA-256,
// platform, arch): src/native.ts loads the addon only when the file still
// matches it, so a truncated or foreign file is refused with a reason
// instead of crashing the process when it is mapped. It runs at `npm
// install` of the package (the "install" script), so the addon is built
// on the user's machine; the package never ships one.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'native', 'aead.c');
const out = path.join(root, 'build', 'pigeon_native.node');
const manifest = path.join(root, 'build', 'pigeon_native.json');

/** Describe the addon just built, for src/native.ts to check before loading it. */
function writeManifest() {
  const data = readFileSync(out);
  const m = { file: 'pigeon_native.node', size: data.length, sha256: createHash('sha256').update(data).digest('hex'), platform: process.platform, arch: process.arch };
  const tmpM = `${manifest}.tmp${process.pid}`;
  writeFileSync(tmpM, JSON.stringify(m) + '\n');
  renameSync(tmpM, manifest);
}

function warn(msg) {
  process.stderr.write(`pigeon: native AEAD not built (${msg}); falling back to node:crypto, which is slower\n`);
}

function includeDir() {
  const candidates = [
    process.env.npm_config_nodedir && path.join(process.env.npm_config_nodedir, 'include', 'node'),
    path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ].filter(Boolean);
  return candidates.find((d) => existsSync(path.join(d, 'node_api.h')) && existsSync(path.join(d, 'openssl', 'evp.h')));
}

if (process.env.PIGEON_NATIVE === '0') process.exit(0);
const fresh = (p) => existsSync(p) && statSync(p).mtimeMs >= statSync(src).mtimeMs && statSync(p).mtimeMs >= statSync(fileURLToPath(import.meta.url)).mtimeMs;
if (fresh(out) && fresh(manifest)) process.exit(0);
rmSync(manifest, { force: true }); // no manifest, no loading: a failed build leaves no addon in use
const inc = includeDir();
if (!inc) {
  warn('no Node headers with node_api.h and openssl/evp.h found; set npm_config_nodedir');
  process.exit(0);
}
const cc = process.env.CC || 'cc';
const tmp = `${out}.tmp${process.pid}`;
const args = ['-O2', '-fPIC', '-shared', '-Wall', '-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=pigeon_native', `-I${inc}`, '-o', tmp, src];
if (process.platform === 'darwin') args.unshift('-undefined', 'dynamic_lookup');
try {
  mkdirSync(path.dirname(out), { recursive: true });
  execFileSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(tmp, out);
  writeManifest();
} catch (err) {
  rmSync(tmp, { force: true });
  warn(`${cc} failed: ${err.message.split('\n')[0]}`);
}
