#!/usr/bin/env node
/**
 * The CLI as an ES-module entry (dist/cmd/pigeon.js), for scripts that run
 * it so: the same as the executable, cmd/pigeon.cts (dist/cmd/pigeon.cjs),
 * which starts a little faster.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBundled } from '../src/codecache.cjs';

const args = process.argv.slice(2);
await runBundled(path.dirname(fileURLToPath(import.meta.url)), args, async () => (await import('./main.js')).main(args));
