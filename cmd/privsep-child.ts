/**
 * Entry point of the daemon's network child (src/privsep/child.ts), started
 * by the parent (src/privsep/parent.ts) with node's permission model; not a
 * user command. Like the `pigeon` executable it turns on the memory profile
 * (forced young collections, pooled batch buffers) the library leaves off.
 */
import { runChild } from '../src/privsep/child.js';
import { enableBufferPool } from '../src/stream/pool.js';
import { enableReclaim } from '../src/stream/reclaim.js';

enableReclaim();
enableBufferPool();
runChild();
