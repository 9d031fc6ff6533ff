/**
 * Bench driver: queue one file packet with the library, as `nncp-file SRC
 * NODE:DST` would. Usage: node dist/bench/tx-one.js CFG SRC NODE DST
 */
import { readReused } from '../src/stream/fileread.js';
import { loadConfig } from '../src/config/load.js';
import { PktType } from '../src/packet/header.js';
import { Spool } from '../src/spool/spool.js';
import { enableBufferPool } from '../src/stream/pool.js';
import { enableReclaim } from '../src/stream/reclaim.js';
import { txPacket } from '../src/tx/send.js';

// The executable's memory profile, so that peak RSS compares with `pigeon` (cmd/pigeon.ts).
enableReclaim();
enableBufferPool();
const [cfgPath, src, node, dst] = process.argv.slice(2);
const cfg = await loadConfig({ cfg: cfgPath });
const spool = new Spool({ root: cfg.spool, noHdr: cfg.noHdr });
const r = await txPacket(
  { cfg, spool },
  {
    to: cfg.byName.get(node)!,
    plain: { type: PktType.File, nice: 224, path: new TextEncoder().encode(dst) },
    nice: 224,
    payload: readReused(src),
  },
);
process.stdout.write(`${r.pktId}\n`);
