#!/usr/bin/env node
/**
 * The `pigeon` executable: the CLI (cmd/main.ts) from the bundle under its
 * V8 code cache when that is built and fresh (src/codecache.ts), else as ES
 * modules.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBundled } from '../src/codecache.js';

const args = process.argv.slice(2);
const fast = runBundled(path.dirname(fileURLToPath(import.meta.url)), args);
if (fast) await fast;
else await (await import('./main.js')).main(args);
