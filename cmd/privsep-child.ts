/**
 * Entry point of the daemon's network child (src/privsep/child.ts), started
 * by the parent (src/privsep/parent.ts) with node's permission model; not a
 * user command. Like the `pigeon` executable it turns on the memory profile
 * (forced young collections, pooled batch buffers, a young generation that
 * keeps its first size: src/stream/reclaim.ts manyPackets) the library
 * leaves off.
 */
import { runChild } from '../src/privsep/child.js';
import { enableBufferPool } from '../src/stream/pool.js';
import { enableReclaim, manyPackets } from '../src/stream/reclaim.js';

// Set at run time: given on the command line, V8 20's heap still grows its semi-spaces to 16 MiB.
enableReclaim({ youngGenerationLimit: true });
manyPackets();
enableBufferPool();
runChild();
