// Builds native/aead.c into build/pigeon_native.node with the C compiler and
// the headers of the running Node (node_api.h and its bundled OpenSSL
// headers). The addon is an accelerator: when it cannot be built, this says
// so in one line and Pigeon runs on node:crypto instead (about three times
// slower on bulk decryption). Skips the compile when the output is newer
// than the source. PIGEON_NATIVE=0 skips the build altogether.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'native', 'aead.c');
const out = path.join(root, 'build', 'pigeon_native.node');

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
if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs && statSync(out).mtimeMs >= statSync(fileURLToPath(import.meta.url)).mtimeMs) process.exit(0);
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
} catch (err) {
  warn(`${cc} failed: ${err.message.split('\n')[0]}`);
}
