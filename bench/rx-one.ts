/**
 * Bench driver: decrypt and verify one file packet from a node's rx queue
 * into the incoming directory, atomically, then remove the packet (what
 * tossing a file packet costs). Usage: node dist/bench/rx-one.js CFG PKTPATH INCOMING
 */
import { readReused } from '../src/stream/fileread.js';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { base32Encode } from '../src/codec/base32.js';
import { loadConfig } from '../src/config/load.js';
import { decryptPacket, openPlain } from '../src/packet/encrypted.js';
import { writeAtomic } from '../src/spool/atomic.js';

const [cfgPath, pktPath, incoming] = process.argv.slice(2);
const cfg = await loadConfig({ cfg: cfgPath, needSelf: true });
const dec = await decryptPacket({
  self: cfg.self!,
  lookup: (id) => cfg.neighbours.get(base32Encode(id)),
  input: readReused(pktPath),
  what: pktPath,
});
const { plain, body } = await openPlain(dec.plaintext, pktPath);
await writeAtomic(path.join(incoming, new TextDecoder().decode(plain.path)), body, { tmpDir: incoming });
await unlink(pktPath);
