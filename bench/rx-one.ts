/**
 * Bench driver: decrypt and verify one file packet from a node's rx queue
 * into the incoming directory, atomically, then remove the packet (what
 * tossing a file packet costs, through the library as toss does it).
 * Usage: node dist/bench/rx-one.js CFG PKTPATH INCOMING
 */
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { loadConfig } from '../src/config/load.js';
import { decryptPacket, openPlain } from '../src/packet/encrypted.js';
import { TmpFile } from '../src/spool/atomic.js';
import { enableBufferPool } from '../src/stream/pool.js';
import { enableReclaim } from '../src/stream/reclaim.js';

// The executable's memory profile, so that peak RSS compares with `pigeon` (cmd/pigeon.ts).
enableReclaim();
enableBufferPool();
const [cfgPath, pktPath, incoming] = process.argv.slice(2);
const cfg = await loadConfig({ cfg: cfgPath, needSelf: true });
const fh = await open(pktPath, 'r');
const dec = await decryptPacket({
  self: cfg.self!,
  lookup: (id) => cfg.neighbours.get(base32Encode(id)),
  input: { file: fh },
  what: pktPath,
  borrow: true,
});
const { plain, body } = await openPlain(dec.plaintext, pktPath);
const tmp = await TmpFile.create(incoming);
for await (const chunk of body) await tmp.writeBorrowed(chunk);
await tmp.commit(path.join(incoming, new TextDecoder().decode(plain.path)));
await fh.close();
await unlink(pktPath);
