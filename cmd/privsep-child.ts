/**
 * Entry point of the daemon's network child (src/privsep/child.ts), started
 * by the parent (src/privsep/parent.ts) with node's permission model; not a
 * user command. Like the `pigeon` executable it turns on the memory profile
 * (forced young collections, pooled batch buffers, a young generation that
 * keeps its first size: src/codecache.cts keepYoungGenerationSmall) the
 * library leaves off.
 */
import v8 from 'node:v8';
import { runChild } from '../src/privsep/child.js';
import { enableBufferPool } from '../src/stream/pool.js';
import { enableReclaim } from '../src/stream/reclaim.js';

// At run time: given on the command line, V8 20's heap still grows its semi-spaces to 16 MiB.
v8.setFlagsFromString('--semi-space-growth-factor=1');
enableReclaim();
enableBufferPool();
runChild();
